#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace kiln::examples {


std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

void trim_in_place(std::string& s) {
  const auto last = s.find_last_not_of(" \t");
  s.erase(last == std::string::npos ? 0 : last + 1);
  s.erase(0, s.find_first_not_of(" \t"));
}

sale_row map_sale(const csv_record& r) { return {std::string(r.get("id")), std::string(r.get("name")), r.get_double("amount")}; }

void write_sale_json(const sale_row& s, std::string& out) {
  out += "{\"id\":";
  out += boost::json::serialize(boost::json::string_view(s.id));
  out += ",\"name\":";
  out += boost::json::serialize(boost::json::string_view(s.name));
  fmt::format_to(std::back_inserter(out), ",\"amount\":{}}}", s.amount);
}

job_builder& sales_parameters(job_builder& b) {
  return b.parameter(param("input").required().existing_file().describe("CSV file with header id,name,amount"))
      .parameter(param("output").required().non_empty().describe("JSON Lines file to write"))
      .parameter(param("skip_limit", param_type::int64).default_value(std::int64_t{100}).at_least(0)
                     .non_identifying().describe("bad rows tolerated before the step fails"))
      .parameter(param("commit_interval", param_type::int64).default_value(std::int64_t{1000}).positive()
                     .non_identifying().describe("rows per checkpoint"));
}

chunk_step<sale_row> convert_sales_step() {
  return std::move(chunk_step<sale_row>("convert")
                       .reader(flat_file_reader<sale_row>("{input}", map_sale))
                       .processor([](sale_row&& r) -> std::optional<sale_row> {
                         trim_in_place(r.name);
                         return std::move(r);
                       })
                       .writer(jsonl_writer<sale_row>("{output}", write_sale_json))
                       .commit_interval_from([](const job_parameters& p) { return p.get_int64("commit_interval"); })
                       .skip<parse_error>()
                       .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); }));
}

job csv_to_jsonl() {
  job_builder b("csv-to-jsonl");
  b.describe("CSV (id,name,amount) to JSON Lines; rows with a non-numeric amount are skipped");
  return sales_parameters(b).step(convert_sales_step()).build();
}

}  // namespace kiln::examples
