#pragma once
// Drives one job execution through its steps, by Spring Batch's rules, proposing every state
// change as a command. Plain class: the job runner actor owns one, and run_job() uses one on the
// calling thread (tests, simple embedding).

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/progress.hpp>

#include <atomic>
#include <memory>

namespace kiln {

struct run_result {
  std::int64_t execution_id = 0;
  batch_status status = batch_status::failed;
  exit_status exit;
};

class job_run {
 public:
  job_run(const job& j, job_parameters params, command_log& log,
          std::shared_ptr<run_progress> progress = nullptr);

  // Creates the execution (a new instance or a restart of one). Refusals (instance complete,
  // already running, not restartable) come back as errors and change nothing.
  expected<std::int64_t> create();
  // Runs an execution created elsewhere (submitted to a queue and claimed by this node).
  void attach(std::int64_t execution_id) { execution_id_ = execution_id; }
  // Runs the job as a flow of a split inside execution `execution_id` (split.hpp): it starts at
  // its first node, proposes no stop and no end of the execution; flow_result() instead of finish().
  void attach_flow(std::int64_t execution_id) {
    execution_id_ = execution_id;
    flow_ = true;
  }
  [[nodiscard]] std::int64_t execution_id() const { return execution_id_; }
  // Marks the execution STARTED.
  expected<void> start();
  // Walks the flow to the next step to run: evaluates deciders, follows transitions, and routes
  // steps the restart rules skip by the exit status they ended with before. nullptr when the job
  // reached an end state (or a stop was requested).
  std::unique_ptr<step_worker> next_step();
  // The outcome of the step returned by the last next_step().
  void step_finished(batch_status status, const exit_status& exit);
  // Records the end of the execution.
  run_result finish();
  // How the flow ended (attach_flow), without recording anything.
  [[nodiscard]] run_result flow_result() const;

  // Thread-safe. The running step stops at its next chunk boundary (a tasklet sees
  // step_context::stop_requested() at once); no further step starts.
  void request_stop();
  [[nodiscard]] bool stop_requested() const { return stop_requested_; }
  // Steps also see `*flag` (owned by the caller, outliving the run) as a stop request, so that a
  // long tasklet call can end early. Call before the first next_step().
  void watch_stop(const std::atomic<bool>* flag) { step_stop_.watch(flag); }

 private:
  void end_with(batch_status status, exit_status exit);
  // Follows the transitions out of `node`; false when the flow ended.
  bool advance(const std::string& node, batch_status status, const exit_status& exit);
  const job& job_;
  job_parameters params_;
  command_log& log_;
  std::shared_ptr<run_progress> progress_;
  std::int64_t execution_id_ = 0;
  std::string current_;      // the next node to run; empty = the flow has not started
  std::string running_step_;  // the node of the step returned by next_step()
  std::string restart_at_;    // stop_and_restart target, recorded with the end of the execution
  std::size_t visits_ = 0;    // node visits, to stop a flow that loops forever
  std::string last_node_;
  batch_status last_status_ = batch_status::completed;
  exit_status last_exit_ = exit_status::completed();
  std::optional<std::pair<std::string, std::string>> first_failure_;  // step, description
  std::atomic<bool> stop_requested_{false};
  stop_signal step_stop_;  // what the steps' contexts report
  bool stop_recorded_ = false;
  bool flow_ = false;  // a flow of a split: see attach_flow
  std::optional<std::pair<batch_status, exit_status>> outcome_;
};

// Runs a job to its end on the calling thread. `stop` (optional) is polled between chunks, and
// tasklets see it through step_context::stop_requested().
expected<run_result> run_job(const job& j, const job_parameters& params, command_log& log,
                             const std::atomic<bool>* stop = nullptr,
                             std::shared_ptr<run_progress> progress = nullptr);

}  // namespace kiln
