#pragma once
// Splits (Spring Batch's SplitState with a task executor): flows that run in parallel, each on
// its own thread, as steps of the same job execution. A flow is a kiln::job built with
// job_builder (steps, deciders, transitions); it runs with the parent job's parameters (its own
// parameter declarations are not used). The split is a step of the parent job: it ends when all
// flows have ended, with the worst status (FAILED if any flow failed, else STOPPED if any
// stopped, else COMPLETED).
//
// Restart: a FAILED or STOPPED split runs again and each flow walks its steps again; the steps
// that COMPLETED are skipped by the usual restart rules, so only the unfinished work reruns.
// Step names must be unique across the whole job, flows included (the split checks its flows).
//
//   job_builder("nightly")
//       .step(split_step("load-all", {load_users_flow(), load_orders_flow()}))
//       .next(report_step())
//       .build();

#include <kiln/job.hpp>

#include <memory>
#include <string>
#include <vector>

namespace kiln {

class split_step : public step_settings<split_step> {
 public:
  // Throws std::invalid_argument for a split without flows or two steps of the same name.
  split_step(std::string name, std::vector<job> flows);
  [[nodiscard]] std::string kind() const override { return "split"; }
  [[nodiscard]] const std::vector<std::shared_ptr<const job>>& flows() const { return flows_; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(step_context ctx, command_log& log,
                                                         std::shared_ptr<run_progress> progress) const override;

 private:
  std::vector<std::shared_ptr<const job>> flows_;
};

}  // namespace kiln
