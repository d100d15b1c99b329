#include "example_jobs.hpp"
#include "part_merge.hpp"
#include "sales.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <optional>
#include <string>

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
                       .process_in_place([](sale_row& r) { trim_in_place(r.name); })
                       .writer(jsonl_writer<sale_row>("{output}", write_sale_json))
                       .commit_interval_from([](const job_parameters& p) { return p.get_int64("commit_interval"); })
                       .skip<parse_error>()
                       .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); }));
}

// A check for parameters that start threads: at most 64.
std::optional<std::string> at_most_64(const job_parameter& p) {
  if (std::get<std::int64_t>(p.value) > 64) return "must be at most 64";
  return std::nullopt;
}

// The number of threads that process each chunk, from the `threads` parameter.
std::int64_t threads_parameter(const job_parameters& p) { return p.get_int64("threads"); }

// Whether chunks are written behind, from the `write_behind` parameter.
bool write_behind_parameter(const job_parameters& p) { return p.get_string("write_behind") == "true"; }

// Whether partitions that end early take over input of the others, from the `rebalance` parameter.
bool rebalance_parameter(const job_parameters& p) { return p.get_string("rebalance") == "true"; }

// [docs:partitioning]
// partitions=N: the input is split into N line ranges converted in parallel. The first writes
// the start of the output, the others part files, which a last step appends in order; once the
// first is done, it appends what the others have committed so far (part_merge.hpp). A thread
// that runs out of partitions takes over the second half of the largest rest (rebalance).
partition_step convert_partitioned_step() {
  csv_options ranges;
  ranges.partition_range = true;  // read only this partition's lines
  auto worker = convert_sales_step();
  worker.reader(flat_file_reader<sale_row>("{input}", map_sale, ranges))
      .writer(part_writer<sale_row>(write_sale_json))
      .listener(part_merge_listener())
      .threads_from(threads_parameter)
      .write_behind_from(write_behind_parameter);
  return std::move(partition_step(partitioned_step)
                       .partitioner(with_output_suffix(line_range_partitioner("{input}", partition0_weight)))
                       .worker(std::move(worker))
                       .grid_size_from([](const job_parameters& p) { return p.get_int64("partitions"); })
                       .rebalance_from(rebalance_parameter, part_rebalancing()));
}
// [docs:partitioning]

job csv_to_jsonl() {
  job_builder b("csv-to-jsonl");
  b.describe("CSV (id,name,amount) to JSON Lines; rows with a non-numeric amount are skipped");
  sales_parameters(b)
      .parameter(param("threads", param_type::int64)
                     .default_value(std::int64_t{1})
                     .positive()
                     .check(at_most_64)
                     .non_identifying()
                     .describe("threads that process each chunk (the output does not change)"))
      .parameter(param("partitions", param_type::int64)
                     .default_value(std::int64_t{1})
                     .positive()
                     .check(at_most_64)
                     .describe("line ranges of the input converted in parallel, then merged (the output does "
                               "not change)"))
      .parameter(param("rebalance")
                     .default_value(std::string("true"))
                     .one_of({"true", "false"})
                     .non_identifying()
                     .describe("with partitions=N: a partition that ends early takes over the second half of "
                               "what another has left, as a new partition (the output does not change)"))
      .parameter(param("write_behind")
                     .default_value(std::string("false"))
                     .one_of({"true", "false"})
                     .non_identifying()
                     .describe("write each chunk on a second thread while the next is read (the output does "
                               "not change)"));
  // [docs:threads]
  auto plain = convert_sales_step();
  plain.threads_from(threads_parameter).write_behind_from(write_behind_parameter);
  // [docs:threads]
  return b
      .decider("mode",
               [](const flow_state& s) {
                 return s.parameters.get_int64("partitions") > 1 ? "PARTITIONED" : "PLAIN";
               })
      .on("PARTITIONED").to("convert-partitioned")
      .on("*").to("convert")
      .step(std::move(plain))
      .on("COMPLETED").end()
      .on("*").fail()
      .step(convert_partitioned_step())
      .next(tasklet_step("merge", merge_parts))
      .build();
}

}  // namespace kiln::examples
