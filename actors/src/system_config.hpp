#pragma once
// Private: how Kiln configures the CAF actor systems of `kiln run` and `kiln node`.

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/timespan.hpp>

#include <chrono>

namespace kiln::actors_detail {

// Quiet CAF logging, and idle scheduler workers that wake rarely. An idle worker waits on a
// condition variable that every message sent to it notifies; the timeout only makes it look for
// work to steal from a busy worker. CAF's default, 10 ms, woke each idle worker 100 times a
// second (hypervisor exits on a VM: an idle node used 1.3 % of a CPU); 50 ms keeps a steal
// prompt when one worker is busy.
inline void configure(caf::actor_system_config& cfg) {
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(50)});
}

}  // namespace kiln::actors_detail
