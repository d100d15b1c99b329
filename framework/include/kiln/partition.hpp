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
// Every partition gets `partition.index` (0-based) and `partition.count` (the plan's size when
// the partition was added to it: rebalancing appends partitions).
//
// Restart: the partition plan is stored in the manager step's execution context before any
// partition starts, so a restart uses the same split even if the input changed; partitions
// that COMPLETED are skipped (the start_step rules, with the worker step's
// allow_start_if_complete and start_limit), the others resume from their last commit.
//
// Rebalancing (rebalance()): a static split ends when its slowest partition ends, and partitions
// are rarely equal (denser rows, a slower core, a noisy neighbour). With rebalance(), a thread
// that has no partition left to start takes the second half of what the running partition with
// the most input left has not read yet, as a new partition appended to the plan (the dynamic
// work rebalancing of Dataflow). The partition's reader must support it (splittable_input; the
// flat_file_reader of a line range does). The new plan is committed before the shortened
// partition may end, so a restart sees exactly the partitions that exist.

#include <kiln/step.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

// A running partition's reader that can give up the rest of its input (rebalancing). Called by
// the partition manager from another thread than the reader's: implementations lock.
class splittable_input {
 public:
  virtual ~splittable_input() = default;
  // What is left to read, in the input's own unit (bytes for a line range).
  [[nodiscard]] virtual std::uint64_t remaining() const = 0;
  struct split_result {
    partition_values kept;  // `own`, with the shortened range
    partition_values rest;  // `own`, with the range given up
  };
  // Gives up about the second half of what is left when both halves hold at least `min_rest`;
  // `own` are the partition's values. The reader then reads up to its new end, and waits there
  // until settle(): settle(true) once the new plan is committed (it ends there), settle(false)
  // when it is not (it gets its old end back).
  virtual std::optional<split_result> split(const partition_values& own, std::uint64_t min_rest) = 0;
  virtual void settle(bool committed) = 0;
};

// Where a partition's reader offers itself for splitting (step_context::split_slot): the reader
// calls offer(this) when it opens and offer(nullptr) when it closes.
class split_slot {
 public:
  // `on_offer` (optional) runs after each offer of an input, outside the slot's lock.
  explicit split_slot(std::function<void()> on_offer = {}) : on_offer_(std::move(on_offer)) {}

  void offer(splittable_input* input) {
    {
      std::lock_guard lock(mu_);
      input_ = input;
      if (input) offered_ = true;
    }
    if (input && on_offer_) on_offer_();
  }
  // Whether an input was ever offered.
  [[nodiscard]] bool offered() const {
    std::lock_guard lock(mu_);
    return offered_;
  }
  // What the offered input has left; 0 when none is offered.
  [[nodiscard]] std::uint64_t remaining() const {
    std::lock_guard lock(mu_);
    return input_ ? input_->remaining() : 0;
  }
  // Splits the offered input and calls commit(result): true settles the split, false (or an
  // exception) withdraws it. The reader cannot close in between. False when nothing was split.
  bool split(const partition_values& own, std::uint64_t min_rest,
             const std::function<bool(const splittable_input::split_result&)>& commit) {
    std::lock_guard lock(mu_);
    if (!input_) return false;
    auto r = input_->split(own, min_rest);
    if (!r) return false;
    bool committed = false;
    try {
      committed = commit(*r);
    } catch (...) {
      input_->settle(false);
      throw;
    }
    input_->settle(committed);
    return committed;
  }

 private:
  std::function<void()> on_offer_;
  mutable std::mutex mu_;
  splittable_input* input_ = nullptr;
  bool offered_ = false;
};

// How a rebalancing partitioned step splits (partition_step::rebalance).
struct rebalancing {
  // Default: 1 MiB. A split leaves at least this much input (in the reader's unit: bytes for a
  // line range) to each side; smaller rests are not split, as starting a partition costs about a
  // millisecond.
  std::uint64_t min_rest = std::uint64_t{1} << 20;
  // Default: none. Completes the values of a new partition (index `index`, made from the values
  // of the one it was split from), e.g. with the name of its own output file.
  std::function<void(partition_values& values, std::size_t index)> values;
};

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
  // Splits running partitions when threads run out of partitions to start (see above).
  partition_step& rebalance(rebalancing r = {}) {
    rebalance_ = std::move(r);
    return *this;
  }
  partition_step& rebalance_from(std::function<bool(const job_parameters&)> on, rebalancing r = {}) {
    rebalance_ = std::move(r);
    rebalance_on_ = std::move(on);
    return *this;
  }

  [[nodiscard]] std::string kind() const override { return "partition"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const override;

 private:
  kiln::partitioner partitioner_;
  std::shared_ptr<const step> worker_;
  std::function<std::int64_t(const job_parameters&)> grid_size_ = [](const job_parameters&) {
    return std::int64_t{2};
  };
  std::optional<rebalancing> rebalance_;
  std::function<bool(const job_parameters&)> rebalance_on_;
};

}  // namespace kiln
