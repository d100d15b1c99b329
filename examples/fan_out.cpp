// fan-out: one child job execution per input line. The parent's step handles one line per
// committed call and keeps the byte offset of the next line in its context; the child for a line
// is the instance (write-item, item, output_dir), so a rerun after a failure resumes at the line
// that failed, restarts that child, and never relaunches a child that completed (its instance is
// COMPLETED, which the parent counts as done).

#include "example_jobs.hpp"
#include "log_tasklet.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/job_run.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace kiln::examples {

namespace {

std::optional<std::string> check_item(const job_parameter& p) {
  const auto* text = std::get_if<std::string>(&p.value);
  if (!text || text->empty() || *text == "." || *text == ".." ||
      text->find_first_of("/\\") != std::string::npos) {
    return "must be a plain file name (no '/', not '.' or '..')";
  }
  return std::nullopt;
}

// The next line at or after `offset`: its text (CR and surrounding blanks trimmed) and the offset
// after it; nullopt at the end of the file.
std::optional<std::pair<std::string, std::int64_t>> line_at(const std::string& path, std::int64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("fan-out: cannot open " + path);
  in.seekg(offset);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const std::int64_t next = offset + static_cast<std::int64_t>(line.size()) + (in.eof() ? 0 : 1);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  line = first == std::string::npos ? std::string() : line.substr(first, last - first + 1);
  return std::pair{std::move(line), next};
}

}  // namespace

job write_item() {
  return job_builder("write-item")
      .describe("writes ITEM into OUTPUT_DIR/ITEM.txt (the child job of fan-out)")
      .parameter(param("item").required().check(check_item).describe("the item, a plain file name"))
      .parameter(param("output_dir").required().describe("folder to write into (created if missing)"))
      .step(tasklet_step("write", [](step_context& ctx) {
        const std::filesystem::path dir = ctx.parameters().get_string("output_dir");
        const auto& item = ctx.parameters().get_string("item");
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        const auto path = dir / (item + ".txt");
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        if (!out) throw io_error("cannot write " + path.string());
        out << item << '\n';
        out.close();
        if (!out) throw io_error("cannot write " + path.string());
        ctx.context()["file"] = path.string();
        return repeat_status::finished;
      }))
      .build();
}

job fan_out() {
  auto child = std::make_shared<const job>(write_item());
  return job_builder("fan-out")
      .describe("runs one write-item child execution per line of input")
      .parameter(param("input").required().existing_file().describe("one item per line"))
      .parameter(param("output_dir").required().describe("where the children write ITEM.txt"))
      .step(log_tasklet_step("launch", [child](step_context& ctx, command_log& log,
                                               const std::atomic<bool>& stop, step_counts& counts) {
        auto& c = ctx.context();
        const std::int64_t offset = c.contains("offset") ? c.at("offset").as_int64() : 0;
        auto next = line_at(ctx.parameters().get_string("input"), offset);
        if (!next) return repeat_status::finished;
        auto& [item, after] = *next;
        if (item.empty()) {
          c["offset"] = after;
          return repeat_status::continuable;
        }
        auto params = child->parameters_from(
            {"item=" + item, "output_dir=" + ctx.parameters().get_string("output_dir")});
        if (!params) {
          throw std::invalid_argument(fmt::format("item '{}': {}", item, params.error().message()));
        }
        auto r = run_job(*child, *params, log, &stop);
        if (!r && r.error().code() == errc::instance_complete) {
          spdlog::info("fan-out: item '{}' was done by an earlier attempt", item);
          ++counts.filter;
        } else if (!r) {
          throw std::runtime_error(
              fmt::format("item '{}': child job cannot run: {}", item, r.error().message()));
        } else if (r->status == batch_status::stopped) {
          return repeat_status::continuable;  // the step stops here; a restart resumes this item
        } else if (r->status != batch_status::completed) {
          throw std::runtime_error(fmt::format("item '{}': child execution {} ended {}: {}", item,
                                               r->execution_id, to_string(r->status), r->exit.description));
        } else {
          ++counts.write;
        }
        ++counts.read;
        c["offset"] = after;
        c["last_item"] = item;
        return repeat_status::continuable;
      }))
      .build();
}

}  // namespace kiln::examples
