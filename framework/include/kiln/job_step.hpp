#pragma once
// A job step (Spring Batch's JobStep): runs another job as one step of this one and takes its
// status. The child runs on the step's thread, with its own job execution in the same store;
// its identifying parameters default to the parent's, so restarting the parent restarts the same
// child instance (a COMPLETED child is not run again: the parent's restart skips this step).
// A stop request reaches the child, which stops at its next chunk boundary.

#include <kiln/job.hpp>

#include <functional>
#include <string>
#include <vector>

namespace kiln {

class job_step : public step_settings<job_step> {
 public:
  // `parameters` makes the child's `[-]name[(type)]=value` arguments from the parent's step
  // context; they are validated against the child's declared parameters. Default: the parent's
  // job parameters as they are.
  using parameters_fn = std::function<std::vector<std::string>(const step_context&)>;
  job_step(std::string name, job child, parameters_fn parameters = {});
  [[nodiscard]] std::string kind() const override { return "job"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(step_context ctx, command_log& log,
                                                         std::shared_ptr<run_progress> progress) const override;

 private:
  std::shared_ptr<const job> child_;
  parameters_fn parameters_;
};

}  // namespace kiln
