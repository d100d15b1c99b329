#include "concurrent_runs.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::detail {

void run_pool(std::size_t width, const std::function<std::optional<std::size_t>()>& next,
              const std::function<void(std::size_t)>& task, const std::function<void()>& on_tick, int tick_ms) {
  const std::size_t threads = std::max<std::size_t>(width, 1);
  std::mutex mu;
  std::condition_variable cv;
  std::size_t running = threads;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (auto i = next()) task(*i);
      std::lock_guard lock(mu);
      if (--running == 0) cv.notify_one();
    });
  }
  {
    std::unique_lock lock(mu);
    while (running > 0) {
      if (cv.wait_for(lock, std::chrono::milliseconds(tick_ms), [&] { return running == 0; })) break;
      lock.unlock();
      if (on_tick) on_tick();
      lock.lock();
    }
  }
  for (auto& t : pool) t.join();
  if (on_tick) on_tick();
}

void run_concurrently(std::size_t n, std::size_t width, const std::function<void(std::size_t)>& task,
                      const std::function<void()>& on_tick, int tick_ms) {
  if (n == 0) return;
  std::atomic<std::size_t> counter{0};
  run_pool(
      std::clamp<std::size_t>(width, 1, n),
      [&]() -> std::optional<std::size_t> {
        const auto i = counter++;
        if (i < n) return i;
        return std::nullopt;
      },
      task, on_tick, tick_ms);
}

std::pair<batch_status, exit_status> run_to_end(step_worker& worker) {
  step_outcome outcome = step_outcome::failed;
  if (worker.open()) {
    do {
      outcome = worker.run_once();
    } while (outcome == step_outcome::continuing);
  }
  return worker.finish(outcome);
}

batch_status worse(batch_status a, batch_status b) {
  auto rank = [](batch_status s) {
    switch (s) {
      case batch_status::completed: return 0;
      case batch_status::stopped: return 1;
      default: return 2;
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace kiln::detail
