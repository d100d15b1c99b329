#pragma once
// Real child processes for process-level tests: run the kiln binary, kill it, read its output.

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace kiln::test {

struct process_result {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

class child_process {
 public:
  // Starts `program args...` in `cwd` with stdout/stderr captured to files in `cwd`.
  child_process(const std::string& program, const std::vector<std::string>& args, const std::filesystem::path& cwd);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  void kill(int sig) const;
  // Waits for the exit (at most timeout_s, then SIGKILL and a failed wait).
  process_result wait(double timeout_s = 120);
  [[nodiscard]] bool running();
  // What the child has written so far (it may still be running).
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path out_, err_;
  bool reaped_ = false;
  int status_ = 0;
};

process_result run_process(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& cwd, double timeout_s = 300);

// Polls `pred` every millisecond until it holds or `timeout_s` passes; returns whether it held.
template <class F>
bool wait_until(F pred, double timeout_s);

}  // namespace kiln::test

#include <chrono>
#include <thread>

template <class F>
bool kiln::test::wait_until(F pred, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}
