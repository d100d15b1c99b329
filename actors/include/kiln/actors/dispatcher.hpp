#pragma once
// The dispatcher actor: one per node. It knows the node's capacity (max concurrent jobs, the
// queues it serves and their limits), claims queued executions from the state machine when it has
// free slots (a claim is a command, so in a cluster the claim is what Raft orders), and spawns a
// job runner for each. `wake` says there may be new work (a submission, an ended execution);
// wakes coalesce into one claim. `stop` forwards a graceful stop to the runner of an execution;
// `shutdown` stops them all and replies once every runner has ended. A claim is proposed without
// waiting for it: its durable result comes back as `claimed`, and until then the slots it may
// fill stay reserved, so the dispatcher can claim again for the slots left.

#include <kiln/actors/job_runner.hpp>
#include <kiln/actors/messages.hpp>
#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/progress.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::actors {

using dispatcher_actor =
    caf::typed_actor<caf::reacts_to<wake_atom>, caf::reacts_to<claim_atom>, caf::reacts_to<stop_atom, std::int64_t>,
                     caf::replies_to<shutdown_atom>::with<std::int64_t>,
                     caf::reacts_to<run_done_atom, std::int64_t, outcome>,
                     caf::reacts_to<claimed_atom, claim_result>>;

// Executions running on this node, shared with the threads that answer queries (REST).
class running_table {
 public:
  struct entry {
    std::string job;
    std::string queue;
    std::shared_ptr<run_progress> progress;
    std::int64_t started_ms = 0;
  };
  void add(std::int64_t id, entry e);
  void remove(std::int64_t id);
  [[nodiscard]] std::shared_ptr<run_progress> progress(std::int64_t id) const;
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::map<std::string, std::int64_t> per_queue() const;
  [[nodiscard]] std::vector<std::int64_t> ids() const;

 private:
  mutable std::mutex mu_;
  std::map<std::int64_t, entry> entries_;
};

struct dispatcher_config {
  std::string node;
  std::int64_t max_concurrent = 4;
  std::vector<std::string> queues;                   // empty = every queue
  std::map<std::string, std::int64_t> queue_limits;  // queue -> max running at once
  bool resume_after_shutdown = true;
  // Observers (called on the dispatcher's thread). Default: none.
  std::function<void(double seconds)> on_dispatch;   // submission -> claim latency
  std::function<void(const outcome&)> on_end;        // an execution ended
};

dispatcher_actor spawn_dispatcher(caf::actor_system& sys, const registry& jobs, command_log& log,
                                  std::shared_ptr<running_table> running, dispatcher_config config);

}  // namespace kiln::actors
