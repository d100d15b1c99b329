#pragma once
// The csv-to-jsonl transform, shared by the example job and the benchmark's hand-written loop so
// both do exactly the same parse, transform and serialization.

#include <kiln/job.hpp>
#include <kiln/jobs/flat_file.hpp>

#include <boost/json/value_from.hpp>

#include <string>
#include <string_view>

namespace kiln::examples {

struct sale_row {
  std::string id;
  std::string name;
  double amount = 0;
};

// {"id", "name", "amount"}: how the skip log shows a skipped row.
inline void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const sale_row& s) {
  v = {{"id", s.id}, {"name", s.name}, {"amount", s.amount}};
}

// id and name as they are, amount parsed (parse_error naming file, line and field if it is not a number).
sale_row map_sale(const csv_record& r);
// Whitespace trimmed from both ends.
std::string trim(std::string_view s);
void trim_in_place(std::string& s);
// {"id":"..","name":"..","amount":12.5} without a newline.
void write_sale_json(const sale_row& s, std::string& out);

// The parameters input, output, skip_limit and commit_interval, and the chunk step "convert"
// (CSV -> JSON Lines, bad amounts skipped up to skip_limit): shared by csv-to-jsonl and
// checked-import.
job_builder& sales_parameters(job_builder& b);
chunk_step<sale_row> convert_sales_step();

}  // namespace kiln::examples
