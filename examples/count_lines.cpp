#include "example_jobs.hpp"

#include <kiln/exceptions.hpp>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kiln::examples {

job count_lines() {
  return job_builder("count-lines")
      .describe("a tasklet: counts the lines of a file into its step context")
      .parameter(param("file").required().existing_file().describe("the file to count"))
      .step(tasklet_step("count", [](step_context& ctx) {
        const auto path = ctx.parameters().get_string("file");
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) throw io_error("cannot open " + path + ": " + std::strerror(errno));
        std::int64_t lines = 0;
        char buf[1 << 16];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
          for (std::size_t i = 0; i < n; ++i) lines += buf[i] == '\n';
        }
        std::fclose(f);
        ctx.context()["lines"] = lines;
        spdlog::info("{} has {} lines", path, lines);
        return repeat_status::finished;
      }))
      .build();
}

void register_all(registry& jobs) {
  jobs.add(csv_to_jsonl());
  jobs.add(csv_dir());
  jobs.add(generate_csv());
  jobs.add(count_lines());
  jobs.add(checked_import());
  jobs.add(noop());
  jobs.add(sleep_job());
  jobs.add(exclusive_sleep());
  jobs.add(command_and_http());
  jobs.add(purge_history());
  jobs.add(fan_out());
  jobs.add(write_item());
}

}  // namespace kiln::examples
