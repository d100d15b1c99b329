// Jobs for operating a node: `noop` does nothing (dispatch benchmarks), `sleep` takes time in
// checkpointed ticks (so stop, kill, restart and recovery have something to act on), and
// `exclusive-sleep` is the same with concurrency forbid and recovery none.

#include "example_jobs.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace kiln::examples {

namespace {

// Sleeps `ms` in ticks of at most 50 ms; each tick is one committed call, so a stop lands within
// a tick and a restart resumes with the time already slept.
tasklet_step sleep_step() {
  return tasklet_step("sleep", [](step_context& ctx) {
    const auto total = ctx.parameters().get_int64("ms");
    auto& c = ctx.context();
    const std::int64_t slept = c.contains("slept_ms") ? c.at("slept_ms").as_int64() : 0;
    const auto tick = std::min<std::int64_t>(50, total - slept);
    if (tick > 0) std::this_thread::sleep_for(std::chrono::milliseconds(tick));
    c["slept_ms"] = slept + std::max<std::int64_t>(tick, 0);
    return slept + tick >= total ? repeat_status::finished : repeat_status::continuable;
  });
}

job_builder sleep_builder(std::string name, std::string description) {
  job_builder b(std::move(name));
  b.describe(std::move(description))
      .parameter(param("ms", param_type::int64).required().at_least(0).describe("milliseconds to sleep"))
      .parameter(param("tag").describe("any text, to make distinct instances").default_value(std::string("")))
      .step(sleep_step());
  return b;
}

}  // namespace

job noop() {
  return job_builder("noop")
      .describe("does nothing: for dispatch and throughput checks")
      .allow_unknown_parameters()
      .step(tasklet_step("noop", [](step_context&) { return repeat_status::finished; }))
      .build();
}

job sleep_job() { return sleep_builder("sleep", "sleeps ms milliseconds in checkpointed 50 ms ticks").build(); }

job exclusive_sleep() {
  return sleep_builder("exclusive-sleep", "sleep with concurrency forbid and recovery none")
      .concurrency(concurrency_policy::forbid)
      .recovery(recovery_policy::none)
      .build();
}

}  // namespace kiln::examples
