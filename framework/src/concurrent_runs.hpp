#pragma once
// Private helpers shared by the steps that run other steps concurrently (partition_step,
// split_step): a bounded set of threads, and the loop that runs one step worker to its end.

#include <cstddef>
#include <functional>
#include <optional>
#include <kiln/step_worker.hpp>
#include <utility>

namespace kiln::detail {

// Runs task(i) for every i in [0, n) on min(width, n) threads of its own and returns when all
// returned. Meanwhile the calling thread calls on_tick() every `tick_ms`. task must not throw.
void run_concurrently(std::size_t n, std::size_t width, const std::function<void(std::size_t)>& task,
                      const std::function<void()>& on_tick, int tick_ms = 50);

// Runs task(i) on `width` threads of its own for each i that next() hands out, until next()
// returns nullopt to every thread. next() is called from those threads and must lock. Meanwhile
// the calling thread calls on_tick() every `tick_ms`. task must not throw.
void run_pool(std::size_t width, const std::function<std::optional<std::size_t>()>& next,
              const std::function<void(std::size_t)>& task, const std::function<void()>& on_tick, int tick_ms = 50);

// open(), run_once() until it stops continuing, finish(): what run_job does for one step.
std::pair<batch_status, exit_status> run_to_end(step_worker& worker);

// The worse of two statuses by Spring Batch's ordering for a split: FAILED > STOPPED > COMPLETED.
batch_status worse(batch_status a, batch_status b);

}  // namespace kiln::detail
