// checked-import: a flow with a failure path and a decider. The CSV is converted as by
// csv-to-jsonl; if the conversion FAILS (say, too many bad rows) the input is moved aside to
// <input>.rejected and the job ends FAILED; if it completes, a decider on `report` chooses
// whether a report step counts the output lines.

#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

namespace kiln::examples {

job checked_import() {
  return job_builder("checked-import")
      .describe("csv-to-jsonl with a failure path (quarantine the input) and a decider (optional report)")
      .parameter(param("input").required().existing_file().describe("CSV file with header id,name,amount"))
      .parameter(param("output").required().non_empty().describe("JSON Lines file to write"))
      .parameter(param("skip_limit", param_type::int64).default_value(std::int64_t{100}).at_least(0)
                     .non_identifying().describe("bad rows tolerated before the conversion fails"))
      .parameter(param("report").default_value(std::string("no")).non_identifying()
                     .describe("yes: count the output lines in a report step"))
      .step(chunk_step<sale_row>("convert")
                .reader(flat_file_reader<sale_row>("{input}", map_sale))
                .processor([](sale_row r) -> std::optional<sale_row> {
                  trim_in_place(r.name);
                  return r;
                })
                .writer(jsonl_writer<sale_row>("{output}", write_sale_json))
                .commit_interval(1000)
                .skip<parse_error>()
                .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); }))
      .on("FAILED").to("quarantine")
      .on("*").to("report?")
      .step(tasklet_step("quarantine", [](step_context& ctx) {
        const std::filesystem::path input = ctx.parameters().get_string("input");
        auto target = input;
        target += ".rejected";
        std::filesystem::rename(input, target);
        ctx.context()["moved_to"] = target.string();
        spdlog::warn("moved {} to {}", input.string(), target.string());
        return repeat_status::finished;
      }))
      .on("*").fail()
      .decider("report?", [](const flow_state& s) {
        return s.parameters.get_string("report") == "yes" ? std::string("REPORT") : std::string("DONE");
      })
      .on("REPORT").to("report")
      .on("DONE").end()
      .step(tasklet_step("report", [](step_context& ctx) {
        std::ifstream in(ctx.parameters().get_string("output"));
        std::int64_t lines = 0;
        for (std::string line; std::getline(in, line);) ++lines;
        ctx.context()["lines"] = lines;
        spdlog::info("report: {} lines written", lines);
        return repeat_status::finished;
      }))
      .build();
}

}  // namespace kiln::examples
