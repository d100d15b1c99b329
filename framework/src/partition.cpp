#include "concurrent_runs.hpp"

#include <kiln/partition.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>

namespace kiln {

namespace json = boost::json;

std::string partition_step_name(const std::string& step, std::size_t index) {
  return step + ":partition" + std::to_string(index);
}

namespace {

// The key of the partition plan in the manager step's execution context.
constexpr const char* plan_key = "partitions";

struct partition_result {
  batch_status status = batch_status::completed;
  exit_status exit = exit_status::completed();
};

class partition_manager final : public step_worker {
 public:
  partition_manager(const step& worker_def, const partitioner& split, std::int64_t grid_size,
                    std::optional<rebalancing> rebalance, step_context ctx, command_log& log,
                    std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)),
        worker_def_(worker_def),
        split_(split),
        grid_size_(grid_size),
        rebalance_(std::move(rebalance)),
        log_(log) {}

 protected:
  void do_open() override {
    if (grid_size_ < 1 || grid_size_ > 1024) {
      throw std::invalid_argument(fmt::format("partitioned step '{}': grid size {} must be from 1 to 1024",
                                              context().step_name(), grid_size_));
    }
  }

  step_outcome do_run_once() override {
    plan_ = load_or_make_plan();
    const std::size_t n = plan_.size();
    spdlog::info("step '{}': {} partitions, up to {} at once{}", context().step_name(), n, grid_size_,
                 rebalance_ ? ", rebalanced" : "");
    parts_.clear();
    for (std::size_t i = 0; i < n; ++i) add_partition(i);
    next_ = 0;
    split_counts_ = counts();

    // Rebalancing gives every thread work, even when the plan has fewer partitions.
    const auto grid = static_cast<std::size_t>(grid_size_);
    detail::run_pool(
        rebalance_ ? grid : std::min(grid, std::max<std::size_t>(n, 1)),
        [this] { return next_partition(); }, [this](std::size_t i) { run_partition(i); },
        [this] {
          if (!stopping_ && (context().stop_requested() || stop_flag().load())) {
            stopping_ = true;
            stop_.request();
            changed();
          }
          report_progress();
        });

    batch_status status = batch_status::completed;
    std::string failures;
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      const auto& r = parts_[i].result;
      status = detail::worse(status, r.status);
      if (r.status == batch_status::failed) {
        if (!failures.empty()) failures += "; ";
        failures += partition_step_name(context().step_name(), i) + ": " + r.exit.description;
      }
    }
    commit(counts());
    if (status == batch_status::failed) throw std::runtime_error("partition failed: " + failures);
    if (status == batch_status::stopped) return step_outcome::stopped;
    return step_outcome::completed;
  }

  void do_close() override {}

 private:
  // The stored plan on restart; else a new one from the partitioner, committed before any
  // partition starts (the commit is ordered before their start_step commands in the log).
  std::vector<partition_values> load_or_make_plan() {
    std::vector<partition_values> plan;
    if (const auto* stored = context().context().if_contains(plan_key); stored && stored->is_array()) {
      for (const auto& v : stored->as_array()) {
        auto p = job_parameters::from_json(v);
        if (!p) throw std::runtime_error("the stored partition plan is damaged: " + p.error().message());
        plan.push_back(std::move(*p));
      }
      spdlog::info("step '{}' resumes its plan of {} partitions", context().step_name(), plan.size());
      return plan;
    }
    plan = split_(context(), grid_size_);
    context().context()[plan_key] = plan_json(plan);
    commit(counts());
    return plan;
  }

  // One partition of the plan: its job parameters (its step context refers to them), its
  // result, its live counters, and where its reader offers splits.
  struct partition_state {
    job_parameters params;
    partition_result result;
    std::shared_ptr<run_progress> progress = std::make_shared<run_progress>();
    std::shared_ptr<split_slot> slot;
    bool started = false;  // handed to a thread
    bool ended = false;
  };

  // Adds the state of plan_[i]; under mu_ once the threads run.
  void add_partition(std::size_t i) {
    job_parameters p = context().parameters();
    for (const auto& [name, value] : plan_[i].all()) p.set(name, value);
    p.set("partition.index", {static_cast<std::int64_t>(i), false});
    p.set("partition.count", {static_cast<std::int64_t>(plan_.size()), false});
    auto& part = parts_.emplace_back();
    part.params = std::move(p);
    part.slot = std::make_shared<split_slot>([this] { changed(); });
  }

  // The next partition of the plan to start; when all have started, a new one split from the
  // running partition with the most input left (rebalance), or nullopt. A thread waits while a
  // split may still come: a running partition has not offered its input yet (it is opening).
  std::optional<std::size_t> next_partition() {
    for (;;) {
      std::uint64_t seen = 0;
      {
        std::lock_guard lock(mu_);
        if (next_ < parts_.size()) {
          parts_[next_].started = true;
          return next_++;
        }
        seen = version_;
      }
      if (!rebalance_ || stopping_) return std::nullopt;
      bool may_come = false;
      try {
        if (auto m = split_largest(may_come)) return m;
      } catch (const std::exception& e) {
        spdlog::warn("step '{}': no partition split: {}", context().step_name(), e.what());
        return std::nullopt;
      }
      if (!may_come) return std::nullopt;
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return version_ != seen || stopping_; });
    }
  }

  // Partitions started, ended, or offered their input: waiting threads look again.
  void changed() {
    {
      std::lock_guard lock(mu_);
      ++version_;
    }
    changed_.notify_all();
  }

  // Splits the running partition with the most input left, if both halves get min_rest. When
  // none can be split, `may_come` tells whether one may later: a running partition has not
  // offered its input yet.
  std::optional<std::size_t> split_largest(bool& may_come) {
    std::lock_guard one_at_a_time(split_mu_);
    std::vector<std::shared_ptr<split_slot>> slots;
    std::vector<char> running;
    {
      std::lock_guard lock(mu_);
      for (const auto& part : parts_) {
        slots.push_back(part.slot);
        running.push_back(part.started && !part.ended);
      }
    }
    std::size_t k = 0;
    std::uint64_t most = 0;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (const auto left = slots[i]->remaining(); left > most) {
        most = left;
        k = i;
      }
      if (running[i] && !slots[i]->offered()) may_come = true;
    }
    if (most < 2 * rebalance_->min_rest || stopping_) return std::nullopt;
    std::optional<std::size_t> made;
    const bool split = slots[k]->split(plan_[k], rebalance_->min_rest, [&](const splittable_input::split_result& r) {
      auto plan = plan_;
      plan[k] = r.kept;
      const std::size_t m = plan.size();
      plan.push_back(r.rest);
      if (rebalance_->values) rebalance_->values(plan.back(), m);
      execution_context stored;
      {
        std::lock_guard lock(mu_);
        stored = context().context();
      }
      stored[plan_key] = plan_json(plan);
      // Durable before partition k may end at its new end: a restart sees partition m.
      auto c = log_.propose(commit_chunk_cmd{context().step_execution_id(), split_counts_, stored, now_ms()});
      if (!c) {
        spdlog::warn("step '{}': partition {} keeps its input: the new plan was not committed: {}",
                     context().step_name(), k, c.error().message());
        return false;
      }
      // The stored plan now has partition m: partition k must not get its old end back, so a
      // failure from here on ends the process (a restart runs the stored plan).
      [&]() noexcept {
        std::lock_guard lock(mu_);
        plan_ = std::move(plan);
        context().context()[plan_key] = stored[plan_key];
        add_partition(m);
        parts_[m].started = true;  // this thread runs partition m
        next_ = parts_.size();
        made = m;
      }();
      return true;
    });
    if (!split) return std::nullopt;
    spdlog::info("step '{}': {} takes over part of the input of {}", context().step_name(),
                 partition_step_name(context().step_name(), *made), partition_step_name(context().step_name(), k));
    return made;
  }

  static json::array plan_json(const std::vector<partition_values>& plan) {
    json::array stored;
    for (const auto& p : plan) stored.push_back(p.to_json());
    return stored;
  }

  void run_partition(std::size_t i) {
    partition_state* part = nullptr;
    {
      std::lock_guard lock(mu_);
      part = &parts_[i];  // a deque: stays where it is while partitions are added
    }
    start_and_run(i, part);
    {
      std::lock_guard lock(mu_);
      part->ended = true;
    }
    changed();
  }

  void start_and_run(std::size_t i, partition_state* part) {
    auto& result = part->result;
    const std::string name = partition_step_name(context().step_name(), i);
    if (stopping_) {
      result.status = batch_status::stopped;
      result.exit = exit_status::stopped("not started: a stop was requested");
      return;
    }
    // The worker step's restart settings apply to each partition (as Spring Batch's splitter does).
    auto r =
        log_.propose(start_step_cmd{context().job_execution_id(), name, worker_def_.allow_start_if_complete(),
                                    worker_def_.start_limit(), now_ms()});
    if (!r) {
      result.status = batch_status::failed;
      result.exit = exit_status::failed(r.error().message());
      return;
    }
    if (r->action == step_action::skip) {
      spdlog::info("skipping partition '{}': {}", name, r->skip_reason);
      return;
    }
    step_context ctx(context().job_name(), name, context().job_execution_id(), r->step_execution_id,
                     part->params, std::move(r->context), stop_);
    ctx.set_step_context_lookup(context().step_context_lookup_fn());
    if (rebalance_) ctx.set_split_slot(part->slot);
    if (ctx.is_restart()) spdlog::info("partition '{}' resumes from its last checkpoint", name);
    std::unique_ptr<step_worker> worker;
    try {
      worker = worker_def_.make_worker(std::move(ctx), log_, part->progress);
    } catch (const std::exception& e) {
      (void)log_.propose(end_step_cmd{
          r->step_execution_id, batch_status::failed, exit_status::failed(e.what()), {}, {}, now_ms()});
      result.status = batch_status::failed;
      result.exit = exit_status::failed(e.what());
      return;
    }
    // The worker step's listeners hear every partition, as Spring Batch's do.
    for (const auto& l : worker_def_.step_listeners()) worker->add_listener(l);
    auto [status, exit] = detail::run_to_end(*worker);
    result.status = status;
    result.exit = exit;
  }

  // The sum of the partitions' live counters, for the run's progress line.
  void report_progress() {
    auto* p = progress();
    if (!p) return;
    std::int64_t read = 0, written = 0, filtered = 0, skipped = 0;
    std::lock_guard lock(mu_);
    for (const auto& part : parts_) {
      const auto& q = part.progress;
      read += q->read;
      written += q->written;
      filtered += q->filtered;
      skipped += q->skipped;
    }
    p->read = read;
    p->written = written;
    p->filtered = filtered;
    p->skipped = skipped;
  }

  const step& worker_def_;
  const partitioner& split_;
  std::int64_t grid_size_;
  std::optional<rebalancing> rebalance_;
  command_log& log_;
  std::mutex mu_;                   // parts_, next_, plan_ and the context while partitions run
  std::mutex split_mu_;             // one split at a time
  std::vector<partition_values> plan_;
  std::deque<partition_state> parts_;
  std::size_t next_ = 0;            // the first partition of the plan not started
  std::condition_variable changed_;  // partitions started, ended or offered their input
  std::uint64_t version_ = 0;       // counts those changes
  step_counts split_counts_;        // what a split's commit records as the manager's counts
  stop_signal stop_;  // what the partitions' contexts report
  std::atomic<bool> stopping_{false};
};

}  // namespace

std::unique_ptr<step_worker> partition_step::make_worker(step_context ctx, command_log& log,
                                                         std::shared_ptr<run_progress> progress) const {
  if (!partitioner_) throw std::logic_error("partitioned step '" + name() + "' has no partitioner");
  if (!worker_) throw std::logic_error("partitioned step '" + name() + "' has no worker step");
  const auto grid = grid_size_(ctx.parameters());
  auto rebalance = rebalance_;
  if (rebalance && rebalance_on_ && !rebalance_on_(ctx.parameters())) rebalance.reset();
  return std::make_unique<partition_manager>(*worker_, partitioner_, grid, std::move(rebalance), std::move(ctx), log,
                                             std::move(progress));
}

}  // namespace kiln
