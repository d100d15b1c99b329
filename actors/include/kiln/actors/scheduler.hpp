#pragma once
// The scheduler actor: one per node, active only while its node leads (always, standalone). It
// owns a scheduler_core fed with committed schedules, keeps one timer for the earliest due slot
// across all schedules, and when it rings proposes the due fire commands as one batch through the
// node's command log (one group commit), then reads back what was committed and sets the timer
// again. `schedule_changed` (a name) says a schedule was created, updated, paused, resumed or
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
  std::size_t max_batch = 2000;  // fire commands per proposal batch. Default: 2000
  // Observers, called on the scheduler's thread. Default: none.
  // A firing was applied: the command, its result, and when it became durable (ms since epoch).
  std::function<void(const fire_cmd&, const apply_result&, std::int64_t durable_ms)> on_fire;
  // Executions were created (wake the dispatcher) or cancelled by cancel_running (stop their runners).
  std::function<void(const std::vector<std::int64_t>& created, const std::vector<std::int64_t>& cancelled)> on_batch;
};

scheduler_actor spawn_scheduler(caf::actor_system& sys, const registry& jobs, command_log& log,
                                scheduler_config config);

}  // namespace kiln::actors
