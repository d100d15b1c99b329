#pragma once
// Private helpers shared by the steps that run other steps concurrently (partition_step,
// split_step): a bounded set of threads, and the loop that runs one step worker to its end.

#include <kiln/step_worker.hpp>

#include <cstddef>
#include <functional>
#include <utility>

namespace kiln::detail {

// Runs task(i) for every i in [0, n) on min(width, n) threads of its own and returns when all
// returned. Meanwhile the calling thread calls on_tick() every `tick_ms`. task must not throw.
void run_concurrently(std::size_t n, std::size_t width, const std::function<void(std::size_t)>& task,
                      const std::function<void()>& on_tick, int tick_ms = 50);

// open(), run_once() until it stops continuing, finish(): what run_job does for one step.
std::pair<batch_status, exit_status> run_to_end(step_worker& worker);

// The worse of two statuses by Spring Batch's ordering for a split: FAILED > STOPPED > COMPLETED.
batch_status worse(batch_status a, batch_status b);

}  // namespace kiln::detail
