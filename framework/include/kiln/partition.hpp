#pragma once
// Local partitioning (Spring Batch's PartitionStep with a TaskExecutorPartitionHandler): a
// partitioner splits the work of a step into partitions; each partition runs the worker step
// definition as its own step execution, named "<step>:partition<i>", with its own execution
// context; up to `grid_size` partitions run at once, each on its own thread. The manager step
// ends when all partitions have ended: FAILED if any failed, else STOPPED if any stopped, else
// COMPLETED. Item counts are those of the partitions' step executions; the manager's own stay 0,
// so that summing a job execution's steps counts every item once (the live progress of a run
// shows the partitions' sum).
//
// A partition is described by parameters that are added to the job parameters of its step
// execution (and override them), so a worker step finds its slice through the usual `{name}`
// placeholders: a reader of "{partition.file}", a writer of "{output}.part{partition.index}".
// Every partition gets `partition.index` (0-based) and `partition.count`.
//
// Restart: the partition plan is stored in the manager step's execution context before any
// partition starts, so a restart uses the same split even if the input changed; partitions
// that COMPLETED are skipped (the start_step rules), the others resume from their last commit.

#include <kiln/step.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

// The parameters of one partition (without partition.index/partition.count, which are added).
using partition_values = job_parameters;

// Splits a step's work: gets the manager's step context (job parameters) and the grid size, and
// returns one entry per partition. May return more or fewer partitions than the grid size (a
// partition per file, say); zero partitions complete the step at once. Throws to fail the step.
using partitioner = std::function<std::vector<partition_values>(const step_context&, std::int64_t grid_size)>;

// The step execution name of partition `index` of step `step`: "load:partition0".
std::string partition_step_name(const std::string& step, std::size_t index);

class partition_step : public step_settings<partition_step> {
 public:
  explicit partition_step(std::string name) : step_settings(std::move(name)) {}

  partition_step& partitioner(kiln::partitioner p) {
    partitioner_ = std::move(p);
    return *this;
  }
  // The step each partition runs (a chunk_step, a tasklet_step, ...); its own name is not used.
  template <class S>
  partition_step& worker(S s) {
    worker_ = std::make_shared<const S>(std::move(s));
    return *this;
  }
  // How many partitions the partitioner is asked for, and how many run at once. Default: 2.
  partition_step& grid_size(std::int64_t n) {
    grid_size_ = [n](const job_parameters&) { return n; };
    return *this;
  }
  partition_step& grid_size_from(std::function<std::int64_t(const job_parameters&)> fn) {
    grid_size_ = std::move(fn);
    return *this;
  }

  [[nodiscard]] std::string kind() const override { return "partition"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(step_context ctx, command_log& log,
                                                         std::shared_ptr<run_progress> progress) const override;

 private:
  kiln::partitioner partitioner_;
  std::shared_ptr<const step> worker_;
  std::function<std::int64_t(const job_parameters&)> grid_size_ = [](const job_parameters&) {
    return std::int64_t{2};
  };
};

}  // namespace kiln
