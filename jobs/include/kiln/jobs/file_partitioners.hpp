#pragma once
// Ready-made partitioners for partition_step (kiln/partition.hpp) over files.
//
// file_partitioner: one partition per regular file of a directory whose name matches a glob
// (fnmatch(3): `*.csv`, `sales-2026-??.csv`), in name order. Each partition gets the parameters
//   partition.file  the file's path (directory/name)
//   partition.name  the file name ("jan.csv")
//   partition.stem  the name without its last extension ("jan")
// A worker step reads "{partition.file}" and writes, say, "{output_dir}/{partition.stem}.jsonl".
// The grid size bounds how many files are processed at once. No matching file is an error
// naming the directory and the pattern.
//
// line_range_partitioner: exactly grid-size partitions of one text file, split by byte offsets
// aligned to line starts (so some partitions may be empty for a small file): boundary i is the
// first line start at or after i * size / grid-size (with a weight function, at or after the
// share of the partitions before it: weights 0.9 and 1 give partition 0 0.9/1.9 of the bytes).
// Planning reads only from each such offset to the next line break, not the whole file. Each
// partition gets
//   partition.begin  byte offset of its first line
//   partition.end    byte offset after its last line
// A flat_file_reader with csv_options::partition_range reads only its range (the header from
// the top) and numbers lines as in the whole file, counting the lines before its range only when
// it first needs a line number (plans stored by earlier versions also carry partition.line, the
// number of the range's first line, which the reader then uses). Lines must be records: no line
// breaks inside quoted fields.
//
// Paths may contain `{param}` placeholders, resolved from the job parameters.

#include <kiln/partition.hpp>
#include <functional>
#include <string>

namespace kiln {

partitioner file_partitioner(std::string directory, std::string glob);
// The relative share of the file that partition `index` of `count` gets; must be positive.
using partition_weight = std::function<double(std::size_t index, std::size_t count)>;

partitioner line_range_partitioner(std::string path, partition_weight weight = {});

}  // namespace kiln
