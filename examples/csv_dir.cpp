#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>
#include <kiln/partition.hpp>

namespace kiln::examples {

// [docs:csv-dir]
// One partition per CSV file of input_dir, up to `grid_size` files converted at once, each
// into output_dir/<name>.jsonl. A restart converts only the files that did not complete.
job csv_dir() {
  auto convert_one = chunk_step<sale_row>("convert-file")
                         .reader(flat_file_reader<sale_row>("{partition.file}", map_sale))
                         .processor([](sale_row r) -> std::optional<sale_row> {
                           trim_in_place(r.name);
                           return r;
                         })
                         .writer(jsonl_writer<sale_row>("{output_dir}/{partition.stem}.jsonl", write_sale_json))
                         .commit_interval(1000)
                         .skip<parse_error>()
                         .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); });
  return job_builder("csv-dir")
      .describe("every CSV file (id,name,amount) of a directory to JSON Lines, one partition per file")
      .parameter(param("input_dir").required().non_empty().describe("directory of CSV files"))
      .parameter(param("output_dir").required().non_empty().describe("existing directory for the .jsonl files"))
      .parameter(param("pattern").default_value(std::string("*.csv")).describe("file names to convert (a glob)"))
      .parameter(param("grid_size", param_type::int64).default_value(std::int64_t{2}).positive().non_identifying()
                     .describe("files converted at once"))
      .parameter(param("skip_limit", param_type::int64).default_value(std::int64_t{100}).at_least(0)
                     .non_identifying().describe("bad rows tolerated per file"))
      .step(partition_step("convert-files")
                .partitioner(file_partitioner("{input_dir}", "{pattern}"))
                .worker(std::move(convert_one))
                .grid_size_from([](const job_parameters& p) { return p.get_int64("grid_size"); }))
      .build();
}
// [docs:csv-dir]

}  // namespace kiln::examples
