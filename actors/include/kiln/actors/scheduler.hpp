#pragma once
// The scheduler actor: one per node, active only while its node leads (always, standalone). It
// owns a scheduler_core fed with committed schedules, keeps one timer for the earliest due slot
// across all schedules, and when it rings proposes the due fire commands as one batch through the
// node's command log (one group commit), then reads back what was committed and sets the timer
// again. Slots are fired ahead of their instant by a lead that grows with the number of slots
// due together and the log's measured pace (kiln::fire_pace), so that even 10,000 slots sharing an
// instant are durable by it; their executions cannot be claimed before it. `schedule_changed` (a name) says a schedule was created, updated, paused, resumed or
// deleted; `wake` says an execution ended (a buffered slot may be free to run); `leader` turns it
// on (reloading every schedule from committed state) or off.

#include <kiln/actors/messages.hpp>
#include <kiln/command_log.hpp>
#include <kiln/job.hpp>

#include <functional>
#include <string>

namespace kiln::actors {

using scheduler_actor =
    caf::typed_actor<caf::reacts_to<tick_atom, std::int64_t>, caf::reacts_to<leader_atom, bool>,
                     caf::reacts_to<schedule_changed_atom, std::string>, caf::reacts_to<wake_atom>>;

struct scheduler_config {
  std::size_t max_batch = 500;  // fire commands planned per batch (batches are pipelined). Default: 500
  // Firing ahead of the slot: never further ahead than this; 0 fires every slot at its instant.
  // Default: 2000 ms
  std::int64_t max_lead_ms = 2000;
  // The pace assumed until the scheduler has measured its log's (firings/s, and proposal to durable
  // for a lone firing). Default: 5,000/s and 10 ms, what a loaded 2-core machine sustains.
  double initial_firings_per_s = 5000;
  std::int64_t initial_latency_ms = 10;
  // Observers, called on the scheduler's thread. Default: none.
  // A firing was applied: the command, its result, and when it became durable (ms since epoch).
  // A firing ahead of its slot has c.execution.not_before set: it was runnable from
  // max(durable, not_before).
  std::function<void(const fire_cmd&, const apply_result&, std::int64_t durable_ms)> on_fire;
  // Executions were created (wake the dispatcher) or cancelled by cancel_running (stop their runners).
  std::function<void(const std::vector<std::int64_t>& created, const std::vector<std::int64_t>& cancelled)> on_batch;
};

scheduler_actor spawn_scheduler(caf::actor_system& sys, const registry& jobs, command_log& log,
                                scheduler_config config);

}  // namespace kiln::actors
