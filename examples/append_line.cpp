#include "example_jobs.hpp"

#include <kiln/exceptions.hpp>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>

namespace kiln::examples {

job append_line() {
  return job_builder("append-line")
      .describe("a tasklet: appends one line to a file (once: a rerun after a crash does not add it again)")
      .parameter(param("file").required().non_empty().describe("the file to append to (created if missing)"))
      .parameter(param("line").required().describe("the line; a schedule can pass line={schedule}@{scheduled_time}"))
      .allow_unknown_parameters()
      .step(tasklet_step("append", [](step_context& ctx) {
        const auto path = ctx.parameters().get_string("file");
        const auto line = ctx.parameters().get_string("line");
        // A node killed after the write but before the step's end was recorded restarts this
        // execution: the line is already there, so it is not written twice.
        {
          std::ifstream in(path);
          for (std::string l; std::getline(in, l);) {
            if (l == line) {
              spdlog::info("{} already holds '{}'", path, line);
              return repeat_status::finished;
            }
          }
        }
        const std::string text = line + "\n";
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) throw io_error("cannot open " + path + ": " + std::strerror(errno));
        // One write with O_APPEND: lines of concurrent executions do not interleave.
        const auto n = ::write(fd, text.data(), text.size());
        const int err = errno;
        ::close(fd);
        if (n != static_cast<ssize_t>(text.size())) throw io_error("cannot append to " + path + ": " + std::strerror(err));
        ctx.context()["appended"] = line;
        return repeat_status::finished;
      }))
      .build();
}

}  // namespace kiln::examples
