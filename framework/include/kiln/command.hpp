#pragma once
// Commands: every durable state change of Kiln is one of these, applied by the deterministic
// state machine (state_store::apply). A command carries everything apply needs, including times;
// apply never reads a clock or a random source, so the same commands in the same order give the
// same state on every node. Standalone applies them directly; a cluster replicates them through
// Raft first. Commands travel encoded as JSON.

#include <kiln/batch_status.hpp>
#include <kiln/execution_context.hpp>
#include <kiln/job_parameters.hpp>
#include <kiln/records.hpp>
#include <kiln/schedule.hpp>

#include <cstdint>
#include <map>
#include <vector>
#include <string>
#include <variant>

namespace kiln {

// Create a job execution for the instance (job, identifying parameters), creating the instance if
// it is new. Refused when the instance has a running execution (already_running), is COMPLETED or
// ABANDONED (instance_complete), or has run before and restartable is false (not_restartable).
// With a queue, the execution waits there (STARTING) until a node claims it; without one, the
// proposer (`node`) runs it at once.
struct create_execution_cmd {
  std::string job;
  job_parameters parameters;
  bool restartable = true;
  std::int64_t time = 0;
  std::string queue;              // Default: none, run at once by `node`
  std::int64_t priority = 0;      // higher first; ties in submission order
  bool forbid_concurrent = false; // the job's `concurrency: forbid`; kept with the queue entry
  std::string node;               // the proposer, for an execution run at once
  std::string run_key;            // a schedule's firing: kiln::run_key(schedule, slot, version)
  // Queued only: no claim whose time is before this (ms since epoch) takes it. A firing proposed
  // ahead of its slot sets it to the slot's instant. Default: 0, claimable at once.
  std::int64_t not_before = 0;
};

// A node with free capacity takes queued executions: in priority order (higher first, then
// submission order), only from `queues` (empty = every queue), at most `max` in all and at most
// `queue_free[q]` from queue q (absent = no per-queue limit). A `forbid_concurrent` execution is
// passed over while another execution of its job runs, and one whose not_before is after the
// claim's `time` is passed over until then (the claim's time is its proposer's clock, so the
// decision is deterministic). The claimed ids come back in
// apply_result::executions, in claim order.
struct claim_cmd {
  std::string node;
  std::int64_t max = 0;
  std::vector<std::string> queues;
  std::map<std::string, std::int64_t> queue_free;
  std::int64_t time = 0;
};

// A queued execution leaves its queue unrun: STOPPED with exit code CANCELLED (so the instance can
// be submitted again).
struct cancel_cmd {
  std::int64_t execution_id = 0;
  std::int64_t time = 0;
};

// A claimed execution ends at once: it and its running step executions become FAILED with exit
// code KILLED. Its worker is fenced: its next commit is refused and it stops.
struct kill_cmd {
  std::int64_t execution_id = 0;
  std::string reason;
  std::int64_t time = 0;
};

// STARTING -> STARTED.
struct start_execution_cmd {
  std::int64_t execution_id = 0;
  std::int64_t time = 0;
};

// Start step `step` of the execution, or decide to skip it, by Spring Batch's rules over the
// instance's history: COMPLETED (unless allow_start_if_complete) or ABANDONED -> skip; started
// start_limit times already -> refused (start_limit_exceeded); otherwise a new step execution,
// resuming the last one's context if that did not complete.
struct start_step_cmd {
  std::int64_t execution_id = 0;
  std::string step;
  bool allow_start_if_complete = false;
  std::int64_t start_limit = 0;  // 0 = unlimited
  std::int64_t time = 0;
};

// A chunk (or tasklet call) committed: absolute counts and the step context, atomically.
struct commit_chunk_cmd {
  std::int64_t step_execution_id = 0;
  step_counts counts;
  execution_context context;
  std::int64_t time = 0;
};

// A step execution ends (COMPLETED, FAILED or STOPPED) with its final counts and context.
struct end_step_cmd {
  std::int64_t step_execution_id = 0;
  batch_status status = batch_status::completed;
  exit_status exit;
  step_counts counts;
  execution_context context;
  std::int64_t time = 0;
};

// STARTED -> STOPPING (a stop was requested).
struct request_stop_cmd {
  std::int64_t execution_id = 0;
  std::int64_t time = 0;
};

// A job execution ends (COMPLETED, FAILED or STOPPED). restart_step: set when a flow's
// stop_and_restart ended it; the instance's next execution resumes the flow there.
struct end_execution_cmd {
  std::int64_t execution_id = 0;
  batch_status status = batch_status::completed;
  exit_status exit;
  std::int64_t time = 0;
  std::string restart_step;
};

// Every execution and step execution still running belonged to a process that is gone (the
// proposer proved it, e.g. by holding the data-dir lock): mark them FAILED with `reason`.
// Queued executions are left waiting. The affected ids come back in apply_result::executions.
struct recover_dead_cmd {
  std::string reason;
  std::int64_t time = 0;
};

// STOPPED or FAILED -> ABANDONED: the instance is never restarted.
struct abandon_cmd {
  std::int64_t execution_id = 0;
  std::int64_t time = 0;
};

// Deletes history that ended before `before_time`, one instance at a time: an instance whose
// executions all ended (COMPLETED, FAILED, STOPPED, ABANDONED) before it goes with its executions,
// their step executions and contexts (purge_selects). An instance with any execution running,
// queued or ended later keeps its whole history, so a restart still sees its completed steps. At
// most `max_instances` instances per command (0 = all), in instance order; the deleted execution
// ids come back in apply_result::executions, their number in `affected`.
// Schedules' fire records (what became of each slot) decided before `before_time` go too, at most
// `max_instances` of them per command (0 = all), in key order; their number comes back in
// apply_result::fire_records. A slot whose record is gone is still never fired again by its
// schedule (last_slot covers it); a trigger or backfill of that exact slot would fire it again.
struct purge_cmd {
  std::int64_t before_time = 0;
  std::int64_t time = 0;
  std::int64_t max_instances = 0;
};

// The purge rule over all executions of one instance, shared by apply and a dry run.
bool purge_selects(const std::vector<job_execution_record>& instance_executions, std::int64_t before_time);


// ---- Schedules (kiln/schedule.hpp) ----

// A new schedule (version 1). Slots after `time` fire. Refused if the name is taken.
struct create_schedule_cmd {
  schedule_record schedule;
  std::int64_t time = 0;
};

// New definition for an existing schedule: version + 1; what has fired stays decided, buffered
// slots of the old version are dropped.
struct update_schedule_cmd {
  schedule_record schedule;
  std::int64_t time = 0;
};

struct delete_schedule_cmd {
  std::string name;
  std::int64_t time = 0;
};

struct pause_schedule_cmd {
  std::string name;
  std::string note;
  std::int64_t time = 0;
};

// Without catch_up, slots that passed while paused are not fired (no burst); with it they are
// due again and go through the misfire policy.
struct resume_schedule_cmd {
  std::string name;
  bool catch_up = false;
  std::int64_t time = 0;
};

// What became of one slot of a schedule. The run key (schedule, slot, version) is recorded; a
// second fire_cmd with the same key changes nothing and reports outcome "duplicate". So does a
// scheduled (not manual) slot at or before the schedule's last_slot. Refused when `version` is
// not the schedule's current version.
struct fire_cmd {
  std::string schedule;
  std::int64_t slot = 0;          // nominal time, ms since epoch
  std::int64_t version = 0;
  std::int64_t time = 0;          // when it was proposed
  fire_outcome outcome = fire_outcome::fired;
  std::int64_t skipped = 1;       // skipped_misfire: slots dropped, `slot` being the latest of them
  bool misfired = false;          // fired: later than the threshold (counted as misfired_fired)
  bool from_buffer = false;       // fired: the first buffered slot, now that the previous run ended
  bool manual = false;            // trigger or backfill: does not move last_slot
  std::int64_t cancel_execution = 0;  // fired under cancel_running: kill this execution first
  std::string error;              // fired: the execution could not be built; recorded, counted as failed
  create_execution_cmd execution;  // fired: the execution to create (run_key set)
};

using command = std::variant<create_execution_cmd, start_execution_cmd, start_step_cmd,
                             commit_chunk_cmd, end_step_cmd, request_stop_cmd, end_execution_cmd,
                             recover_dead_cmd, abandon_cmd, claim_cmd, cancel_cmd, kill_cmd, purge_cmd,
                             create_schedule_cmd, update_schedule_cmd, delete_schedule_cmd, pause_schedule_cmd,
                             resume_schedule_cmd, fire_cmd>;

std::string encode(const command& c);
expected<command> decode(std::string_view text);

enum class step_action { start, skip };

// What apply reports back to the proposer.
struct apply_result {
  std::int64_t instance_id = 0;
  std::int64_t execution_id = 0;
  std::int64_t step_execution_id = 0;
  bool restart = false;             // create_execution: the instance ran before
  step_action action = step_action::start;  // start_step
  std::string skip_reason;          // start_step with action skip
  exit_status skip_exit;            // start_step with action skip: how the step ended before
  execution_context context;        // start_step: the context to resume from
  std::int64_t affected = 0;        // recover_dead: executions marked FAILED
  std::vector<std::int64_t> executions;  // claim: claimed; recover_dead: marked FAILED; fire: cancelled
  std::string outcome;              // fire: its fire_outcome, "failed", or "duplicate" (changed nothing)
  std::int64_t fire_records = 0;    // purge: fire records deleted
};

}  // namespace kiln
