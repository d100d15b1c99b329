#pragma once
// kiln::job_operator: the operations of a running node, for applications that embed one (the
// "internal API" launcher). REST and the remote CLI are thin layers over exactly these calls, so
// they behave the same. Every method is thread-safe. Mutating calls propose commands and return
// once they are durable; refusals come back as errors and change nothing.

#include <kiln/error.hpp>
#include <kiln/job.hpp>
#include <kiln/records.hpp>
#include <kiln/schedule.hpp>
#include <kiln/state_store.hpp>

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

struct submit_options {
  std::int64_t priority = 0;      // higher runs first. Default: 0
  std::string queue = "default";  // Default: "default"
};

// A point-in-time view of a running execution's live counters (between commits).
struct live_progress {
  std::string step;
  std::int64_t read = 0;
  std::int64_t written = 0;
  std::int64_t skipped = 0;
  std::int64_t commits = 0;
  double items_per_second = 0.0;
  double fraction = -1.0;  // of the current step's input when the reader knows; else < 0
};

struct node_status {
  std::string node;
  std::string version;
  std::int64_t started_at = 0;  // ms since epoch
  std::int64_t uptime_ms = 0;
  std::int64_t running = 0;
  std::int64_t queued = 0;
  std::int64_t capacity = 0;  // max_concurrent_jobs
  std::vector<std::string> queues;  // served queues; empty = every queue
  bool accepting = true;            // false while shutting down
};

// What a backfill ran (or, dry, would run).
struct backfill_result {
  std::vector<std::int64_t> slots;          // nominal slots in the range, oldest first
  std::vector<std::int64_t> execution_ids;  // executions created (empty for a dry run)
};

class job_operator {
 public:
  virtual ~job_operator() = default;

  [[nodiscard]] virtual const registry& jobs() const = 0;

  // Validates the parameters (`[-]name[(type)]=value` each) against the job's specs and queues an
  // execution. Errors: unknown_job, bad_parameter, already_running, instance_complete,
  // not_restartable.
  virtual expected<std::int64_t> submit(const std::string& job, const std::vector<std::string>& parameters,
                                        const submit_options& options = {}) = 0;
  // Graceful: the execution stops at its next chunk boundary and ends STOPPED (restartable).
  virtual expected<void> stop(std::int64_t execution_id) = 0;
  // Immediate: the execution is marked FAILED (exit code KILLED) now; its worker is fenced.
  virtual expected<void> kill(std::int64_t execution_id) = 0;
  // Removes a queued execution from its queue (STOPPED, exit code CANCELLED).
  virtual expected<void> cancel(std::int64_t execution_id) = 0;
  // Queues a new execution of a STOPPED or FAILED execution's instance, with its parameters,
  // priority and queue. Returns the new execution's id.
  virtual expected<std::int64_t> restart(std::int64_t execution_id) = 0;
  virtual expected<void> abandon(std::int64_t execution_id) = 0;

  [[nodiscard]] virtual std::vector<job_execution_record> executions(const execution_filter& filter) const = 0;
  [[nodiscard]] virtual expected<job_execution_record> execution(std::int64_t id) const = 0;
  // Live counters of an execution running on this node; nullopt otherwise.
  [[nodiscard]] virtual std::optional<live_progress> progress(std::int64_t id) const = 0;
  [[nodiscard]] virtual std::vector<job_execution_record> queued(std::size_t limit = 0) const = 0;
  [[nodiscard]] virtual node_status status() const = 0;
  [[nodiscard]] virtual const state_store& store() const = 0;

  // Schedules (docs/scheduler.md). Errors: bad_usage / bad_parameter / unknown_job for a bad
  // definition (naming the field), not_found for an unknown name, invalid_transition for a name taken.
  virtual expected<schedule_record> create_schedule(const schedule_definition& d) = 0;
  // A new definition for the schedule named d.name: version + 1.
  virtual expected<schedule_record> update_schedule(const schedule_definition& d) = 0;
  virtual expected<void> delete_schedule(const std::string& name) = 0;
  virtual expected<schedule_record> pause_schedule(const std::string& name, const std::string& note = {}) = 0;
  // Without catch_up the slots missed while paused do not run.
  virtual expected<schedule_record> resume_schedule(const std::string& name, bool catch_up = false) = 0;
  // Fires the schedule now (slot = now), whatever its overlap policy. Returns the execution id.
  virtual expected<std::int64_t> trigger_schedule(const std::string& name) = 0;
  // Runs the schedule's slots in [from, to] (ms since epoch) through `overlap` (default: the
  // schedule's); a slot that already ran is not run again.
  virtual expected<backfill_result> backfill_schedule(const std::string& name, std::int64_t from, std::int64_t to,
                                                      std::optional<overlap_policy> overlap, bool dry_run) = 0;
  [[nodiscard]] virtual std::vector<schedule_record> schedules() const = 0;
  [[nodiscard]] virtual expected<schedule_record> schedule(const std::string& name) const = 0;
};

}  // namespace kiln
