#pragma once
// The durable records of the model, as the state machine stores them and queries return them.

#include <kiln/batch_status.hpp>
#include <kiln/error.hpp>
#include <kiln/job_parameters.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace kiln {

// Spring Batch's StepExecution counters. A restarted step starts a new step execution whose
// counters start at zero; the counts of an instance are the sum over its step executions.
struct step_counts {
  std::int64_t read = 0;
  std::int64_t write = 0;
  std::int64_t filter = 0;
  std::int64_t read_skip = 0;
  std::int64_t process_skip = 0;
  std::int64_t write_skip = 0;
  std::int64_t commit = 0;
  std::int64_t rollback = 0;
  std::int64_t retry = 0;  // items processed or chunks written again after a retryable error
  [[nodiscard]] std::int64_t skip() const { return read_skip + process_skip + write_skip; }
  friend bool operator==(const step_counts&, const step_counts&) = default;
};

struct job_instance_record {
  std::int64_t id = 0;
  std::string job_name;
  std::string key;  // job_parameters::identifying_key()
};

struct job_execution_record {
  std::int64_t id = 0;
  std::int64_t instance_id = 0;
  std::string job_name;
  job_parameters parameters;
  batch_status status = batch_status::starting;
  exit_status exit = exit_status{"UNKNOWN", {}};
  std::int64_t create_time = 0;  // ms since epoch; 0 = not yet
  std::int64_t start_time = 0;
  std::int64_t end_time = 0;
  std::int64_t last_updated = 0;
  // Where the execution waits or runs. queue is empty for an execution run at once by its
  // proposer (`kiln run`); node is empty while the execution waits in its queue.
  std::string queue;
  std::int64_t priority = 0;
  std::string node;
  std::int64_t claim_time = 0;  // ms since epoch; when a node took it from its queue
  std::string restart_step;     // where a restart resumes the flow (set by stop_and_restart)
  std::string run_key;          // set when a schedule's firing created it (kiln::run_key)
  std::int64_t not_before = 0;  // ms since epoch; queued, it cannot be claimed before (0 = at once)

  // STARTING and still waiting in its queue (submitted, not yet claimed by a node).
  [[nodiscard]] bool queued() const { return status == batch_status::starting && node.empty() && !queue.empty(); }
};

struct step_execution_record {
  std::int64_t id = 0;
  std::int64_t execution_id = 0;
  std::string step_name;
  batch_status status = batch_status::started;
  exit_status exit = exit_status::executing();
  step_counts counts;
  std::int64_t start_time = 0;
  std::int64_t end_time = 0;
  std::int64_t last_updated = 0;
};

// `sp` holds the value's memory: a caller that serializes it at once may pass a stack buffer's.
boost::json::value to_json(const step_counts& c, boost::json::storage_ptr sp = {});
boost::json::value to_json(const job_instance_record& r);
boost::json::value to_json(const job_execution_record& r);
boost::json::value to_json(const step_execution_record& r, boost::json::storage_ptr sp = {});
expected<step_counts> step_counts_from_json(const boost::json::value& v);
expected<job_instance_record> job_instance_from_json(const boost::json::value& v);
expected<job_execution_record> job_execution_from_json(const boost::json::value& v);
expected<step_execution_record> step_execution_from_json(const boost::json::value& v);

}  // namespace kiln
