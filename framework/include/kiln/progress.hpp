#pragma once
// Live progress of a running job execution, written by the step that runs and read by whoever
// displays it (the CLI's progress line, later the node's REST API). Lock-free counters; the step
// name is behind a mutex because it changes rarely.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace kiln {

class run_progress {
 public:
  std::atomic<std::int64_t> read{0};
  std::atomic<std::int64_t> written{0};
  std::atomic<std::int64_t> filtered{0};
  std::atomic<std::int64_t> skipped{0};
  std::atomic<std::int64_t> commits{0};
  std::atomic<double> fraction{-1.0};  // of the current step's input, when the reader knows; else < 0

  void begin_step(std::string name) {
    std::lock_guard lock(mu_);
    step_ = std::move(name);
    fraction = -1.0;
  }
  [[nodiscard]] std::string step() const {
    std::lock_guard lock(mu_);
    return step_;
  }

 private:
  mutable std::mutex mu_;
  std::string step_;
};

// Milliseconds since the Unix epoch from the system clock. Proposers stamp commands with it; the
// state machine never calls it.
std::int64_t now_ms();

}  // namespace kiln
