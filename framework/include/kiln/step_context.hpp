#pragma once
// What a step's code sees of the run it belongs to: parameters, its execution context, ids.
// Owned by the step; valid from open() to close(). Not thread-safe: the step calls user code
// from one thread at a time.

#include <kiln/execution_context.hpp>
#include <kiln/job_parameters.hpp>

#include <cstdint>
#include <string>

namespace kiln {

class step_context {
 public:
  step_context(std::string job_name, std::string step_name, std::int64_t job_execution_id,
               std::int64_t step_execution_id, const job_parameters& params,
               execution_context context)
      : job_name_(std::move(job_name)),
        step_name_(std::move(step_name)),
        job_execution_id_(job_execution_id),
        step_execution_id_(step_execution_id),
        params_(params),
        context_(std::move(context)) {}

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

 private:
  std::string job_name_;
  std::string step_name_;
  std::int64_t job_execution_id_;
  std::int64_t step_execution_id_;
  const job_parameters& params_;
  execution_context context_;
};

}  // namespace kiln
