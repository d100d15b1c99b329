#pragma once
// The job runner actor: one per running job execution. It walks the job's steps, spawning a step
// actor for each, and answers its `run` request with the execution's outcome. `stop` asks the
// running step to stop at its next chunk boundary. Both actors are detached (own threads), since
// steps do blocking file and RocksDB I/O; the logic is in kiln::job_run and kiln::step_worker.

#include <kiln/actors/messages.hpp>
#include <kiln/job_run.hpp>

#include <memory>

namespace kiln::actors {

using job_runner_actor = caf::typed_actor<caf::replies_to<run_atom>::with<outcome>,
                                          caf::reacts_to<stop_atom>,
                                          caf::reacts_to<step_done_atom, outcome>>;

using step_actor = caf::typed_actor<caf::reacts_to<chunk_atom>, caf::reacts_to<stop_atom>>;

// `run` must be created (job_run::create) before; the runner starts it on `run`.
job_runner_actor spawn_job_runner(caf::actor_system& sys, std::shared_ptr<job_run> run);

// Runs one step execution, one chunk per message, and reports to `parent` when it ends.
step_actor spawn_step(caf::actor_system& sys, std::unique_ptr<step_worker> worker, job_runner_actor parent);

}  // namespace kiln::actors
