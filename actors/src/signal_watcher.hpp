#pragma once
// Private: waits for SIGINT/SIGTERM on its own thread (the signals are blocked in every other
// thread). The first signal calls `on_first` (a graceful stop); the second exits at once.

#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <string>
#include <thread>
#include <unistd.h>

namespace kiln {

class signal_watcher {
 public:
  explicit signal_watcher(std::function<void()> on_first,
                          std::string what = "stopping after the current chunk")
      : on_first_(std::move(on_first)), what_(std::move(what)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~signal_watcher() {
    done_ = true;
    thread_.join();
  }
  static void block_in_this_thread() {
    sigset_t set = signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

 private:
  static sigset_t signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
  }
  void loop() {
    const sigset_t set = signals();
    int count = 0;
    while (!done_) {
      timespec timeout{0, 100'000'000};
      const int sig = sigtimedwait(&set, nullptr, &timeout);
      if (sig <= 0) continue;
      if (++count == 1) {
        spdlog::warn("{} received: {} (send it again to exit at once)", sig == SIGINT ? "SIGINT" : "SIGTERM", what_);
        on_first_();
      } else {
        spdlog::warn("second signal: exiting now; the next run resumes from the last checkpoint");
        spdlog::default_logger()->flush();
        ::_exit(128 + sig);
      }
    }
  }
  std::function<void()> on_first_;
  std::string what_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace kiln
