#pragma once
// What a step's code sees of the run it belongs to: parameters, its execution context, ids, and
// whether a stop was requested. Owned by the step; valid from open() to close(). Not thread-safe
// (the step calls user code from one thread at a time), except stop_requested().

#include <kiln/batch_status.hpp>
#include <kiln/execution_context.hpp>
#include <kiln/job_parameters.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace kiln {

// Whether a stop of a job execution was requested. Copies share the flag: the job_run that sets
// it hands a copy to every step it starts. It can also watch a flag owned by the caller of
// run_job. Thread-safe, except watch(), which is called before the copies are made.
class stop_signal {
 public:
  void request() const { flag_->store(true); }
  [[nodiscard]] bool requested() const { return flag_->load() || (watched_ && watched_->load()); }
  // Also report a stop once `*flag` is true; `flag` must outlive every copy.
  void watch(const std::atomic<bool>* flag) { watched_ = flag; }

 private:
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
  const std::atomic<bool>* watched_ = nullptr;
};

class split_slot;  // partition.hpp

class step_context {
 public:
  // The execution context a step of the same job instance last committed, by step name.
  using step_context_lookup = std::function<std::optional<execution_context>(const std::string& step)>;

  step_context(std::string job_name, std::string step_name, std::int64_t job_execution_id,
               std::int64_t step_execution_id, const job_parameters& params,
               execution_context context, stop_signal stop = {})
      : job_name_(std::move(job_name)),
        step_name_(std::move(step_name)),
        job_execution_id_(job_execution_id),
        step_execution_id_(step_execution_id),
        params_(params),
        context_(std::move(context)),
        stop_(std::move(stop)) {}

  [[nodiscard]] const std::string& job_name() const { return job_name_; }
  [[nodiscard]] const std::string& step_name() const { return step_name_; }
  [[nodiscard]] std::int64_t job_execution_id() const { return job_execution_id_; }
  [[nodiscard]] std::int64_t step_execution_id() const { return step_execution_id_; }
  [[nodiscard]] const job_parameters& parameters() const { return params_; }
  // The step's execution context: on a restart, as of the last committed chunk.
  [[nodiscard]] execution_context& context() { return context_; }
  [[nodiscard]] const execution_context& context() const { return context_; }
  // `{name}` placeholders replaced by job parameters ("{input}" -> "data/in.csv").
  [[nodiscard]] std::string resolve(std::string_view pattern) const { return params_.resolve(pattern); }
  // True when the step resumes a failed or stopped step execution of the same instance.
  [[nodiscard]] bool is_restart() const { return !context_.empty(); }

  // True once a stop of the execution was requested; thread-safe. The step stops at its next
  // chunk or tasklet call anyway; a tasklet that blocks for long (a child process, a network
  // call) polls this to end its current call early.
  [[nodiscard]] bool stop_requested() const { return stop_.requested(); }

  // The exit status the step ends with instead of the default one (Spring Batch's
  // StepContribution.setExitStatus), e.g. "NOOP" for a tasklet that found nothing to do. When
  // the step fails, only the code is used; the description is the error.
  void set_exit_status(exit_status s) { exit_status_ = std::move(s); }
  [[nodiscard]] const std::optional<exit_status>& custom_exit_status() const { return exit_status_; }

  // The execution context that step `step` last committed in this job instance (its latest step
  // execution, in this job execution or, when a restart skipped it as COMPLETED, in an earlier
  // one); nullopt when it never started, or when the step runs outside a job (no lookup set).
  // A later step reads what an earlier one recorded, e.g. the plan of a partitioned step.
  [[nodiscard]] std::optional<execution_context> step_context_of(const std::string& step) const {
    return lookup_ ? lookup_(step) : std::nullopt;
  }
  void set_step_context_lookup(step_context_lookup lookup) { lookup_ = std::move(lookup); }
  [[nodiscard]] const step_context_lookup& step_context_lookup_fn() const { return lookup_; }

  // Set by a rebalancing partitioned step (partition_step::rebalance) on each partition's
  // context: where the partition's reader offers to give up part of its input while it reads.
  // Null otherwise.
  [[nodiscard]] const std::shared_ptr<kiln::split_slot>& split_slot() const { return split_slot_; }
  void set_split_slot(std::shared_ptr<kiln::split_slot> slot) { split_slot_ = std::move(slot); }

 private:
  std::string job_name_;
  std::string step_name_;
  std::int64_t job_execution_id_;
  std::int64_t step_execution_id_;
  const job_parameters& params_;
  execution_context context_;
  stop_signal stop_;
  std::optional<exit_status> exit_status_;
  step_context_lookup lookup_;
  std::shared_ptr<kiln::split_slot> split_slot_;
};

}  // namespace kiln
