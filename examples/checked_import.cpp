// checked-import: a flow with a failure path and a decider. The CSV is converted as by
// csv-to-jsonl; if the conversion FAILS (say, too many bad rows) the input is moved aside to
// <input>.rejected and the job ends FAILED; if it completes, a decider on `report` chooses
// whether a report step counts the output lines.

#include "example_jobs.hpp"
#include "sales.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

namespace kiln::examples {

job checked_import() {
  job_builder b("checked-import");
  b.describe("csv-to-jsonl with a failure path (quarantine the input) and a decider (optional report)")
      .parameter(param("report").default_value(std::string("no")).non_identifying()
                     .describe("yes: count the output lines in a report step"));
  return sales_parameters(b)
      .step(convert_sales_step())
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
