#pragma once
// Runs one program to its end, for command_tasklet: posix_spawn without a shell; stdout and
// stderr streamed to the log line by line with only their tails kept; a timeout or a stop request
// answered with SIGTERM, then SIGKILL after a grace period, to the program's process group.

#include <kiln/step_context.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::detail {

struct spawn_spec {
  std::vector<std::string> argv;  // argv[0] is the program: a path, or a name looked up in PATH
  std::vector<std::string> envp;  // the whole environment, "NAME=value" each
  std::string working_directory;  // empty: the current one
};

struct run_limits {
  std::chrono::milliseconds timeout{0};  // 0: none
  std::chrono::milliseconds kill_grace{0};
  std::size_t tail_bytes = 0;
};

struct run_result {
  std::optional<int> exit_code;  // set when the program exited
  std::optional<int> signal;     // set when a signal ended it
  bool timed_out = false;        // it was signalled because of the timeout
  bool stopped = false;          // ... because of a stop request
  bool killed = false;           // SIGKILL was needed
  std::string out_tail;          // valid UTF-8
  std::string err_tail;
  std::chrono::milliseconds duration{0};
};

// The program could not be started; the message says why ("program 'x' not found in PATH").
class spawn_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs `spec` until the program ends; log lines name the step of `ctx`, whose stop_requested()
// is polled. Throws spawn_failure, or std::runtime_error when a system call fails.
run_result run_program(const spawn_spec& spec, const step_context& ctx, const run_limits& limits);

// The command line for messages: arguments with spaces or quotes in single quotes.
std::string display_command(const std::vector<std::string>& argv);

}  // namespace kiln::detail
