#pragma once
// A tasklet that runs a program (Spring Batch's SystemCommandTasklet), without a shell:
//
//   tasklet_step("export", command_tasklet("pg_dump", {"-f", "{output}", "{database}"})
//                              .timeout(std::chrono::minutes(10)))
//
// Program, arguments, environment values and working directory may hold `{name}` job-parameter
// placeholders; a brace that does not enclose a parameter-like name is kept as it is. A program
// without '/' is looked up in Kiln's PATH. The program starts with its stdin on /dev/null, the
// extra environment on top of Kiln's, default signal handling, and in a process group of its own.
//
// Output: stdout and stderr go to the log line by line (info and warn) as they come; only the
// last `tail_bytes` of each are kept, in the step context as "stdout_tail" and "stderr_tail",
// next to "command" (the resolved argv), "exit_code" or "signal", and "duration_ms".
//
// Outcome: exit code 0 completes the step; exit code n fails it with exit status EXIT_CODE_n,
// unless map_exit_code() says otherwise. A program that cannot be started, is killed by a signal
// or runs past its timeout fails the step (exit status FAILED). On a timeout, and when a stop of
// the execution is requested, the program's process group gets SIGTERM, then SIGKILL after the
// grace period; after a stop the step ends STOPPED. A failing command's context is committed
// before the step fails (the tasklet records the failure, then raises it on its next call), so
// `kiln show` has the output of failed runs too.
//
// Restart: a command has no checkpoint. A restarted step runs the program again from the start,
// so a command step should be safe to repeat.
//
// Thread-safety: a command_tasklet is an immutable configuration once the job is built; every
// call runs its own child process, so concurrent executions may share it.

#include <kiln/batch_status.hpp>
#include <kiln/job_parameters.hpp>
#include <kiln/step.hpp>
#include <kiln/step_context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

class command_tasklet {
 public:
  using args_function = std::function<std::vector<std::string>(const job_parameters&)>;

  explicit command_tasklet(std::string program, std::vector<std::string> args = {});

  // Appends one argument.
  command_tasklet& arg(std::string a);
  // Arguments computed from the job parameters when the step runs, after the fixed ones, e.g. a
  // parameter split on spaces. Placeholders in them are not resolved again.
  command_tasklet& args_from(args_function fn);
  // Sets an environment variable for the program, replacing Kiln's value if it has one.
  command_tasklet& env(std::string name, std::string value);
  // The program's working directory. Default: Kiln's current directory.
  command_tasklet& working_directory(std::string dir);
  // Longest run before SIGTERM. Default: 0 = no limit.
  command_tasklet& timeout(std::chrono::milliseconds t);
  // Time from SIGTERM to SIGKILL, on a timeout or a stop. Default: 5 s.
  command_tasklet& kill_grace(std::chrono::milliseconds t);
  // Exit code `code` ends the step with `status` (completed or failed) and exit status
  // `exit_status`, e.g. map_exit_code(1, batch_status::completed, "NOOP"). Throws
  // std::invalid_argument for another status.
  command_tasklet& map_exit_code(int code, batch_status status, std::string exit_status);
  // The same, completing the step when `exit_status` is "COMPLETED" and failing it otherwise.
  command_tasklet& map_exit_code(int code, std::string exit_status);
  // Bytes of stdout and of stderr kept in the context. Default: 4096.
  command_tasklet& tail_bytes(std::size_t n);

  // Runs the program once; see the header comment for the outcome.
  repeat_status operator()(step_context& ctx) const;

 private:
  std::string program_;
  std::vector<std::string> args_;
  args_function args_from_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::string working_directory_;
  std::chrono::milliseconds timeout_{0};
  std::chrono::milliseconds kill_grace_{5000};
  std::map<int, std::pair<batch_status, std::string>> exit_codes_;
  std::size_t tail_bytes_ = 4096;
};

}  // namespace kiln
