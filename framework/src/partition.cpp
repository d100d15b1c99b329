#include "concurrent_runs.hpp"

#include <kiln/partition.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
                    step_context ctx, command_log& log, std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)),
        worker_def_(worker_def),
        split_(split),
        grid_size_(grid_size),
        log_(log) {}

 protected:
  void do_open() override {
    if (grid_size_ < 1 || grid_size_ > 1024) {
      throw std::invalid_argument(fmt::format("partitioned step '{}': grid size {} must be from 1 to 1024",
                                              context().step_name(), grid_size_));
    }
  }

  step_outcome do_run_once() override {
    auto plan = load_or_make_plan();
    const std::size_t n = plan.size();
    spdlog::info("step '{}': {} partitions, up to {} at once", context().step_name(), n, grid_size_);
    params_.clear();
    params_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      job_parameters p = context().parameters();
      for (const auto& [name, value] : plan[i].all()) p.set(name, value);
      p.set("partition.index", {static_cast<std::int64_t>(i), false});
      p.set("partition.count", {static_cast<std::int64_t>(n), false});
      params_.push_back(std::move(p));
    }
    results_.assign(n, {});
    progress_.clear();
    for (std::size_t i = 0; i < n; ++i) progress_.push_back(std::make_shared<run_progress>());

    detail::run_concurrently(
        n, static_cast<std::size_t>(grid_size_), [this](std::size_t i) { run_partition(i); },
        [this] {
          if (!stopping_ && (context().stop_requested() || stop_flag().load())) {
            stopping_ = true;
            stop_.request();
          }
          report_progress();
        });

    batch_status status = batch_status::completed;
    std::string failures;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = results_[i];
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
    json::array stored;
    for (const auto& p : plan) stored.push_back(p.to_json());
    context().context()[plan_key] = std::move(stored);
    commit(counts());
    return plan;
  }

  void run_partition(std::size_t i) {
    auto& result = results_[i];
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
                     params_[i], std::move(r->context), stop_);
    if (ctx.is_restart()) spdlog::info("partition '{}' resumes from its last checkpoint", name);
    std::unique_ptr<step_worker> worker;
    try {
      worker = worker_def_.make_worker(std::move(ctx), log_, progress_[i]);
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
    for (const auto& q : progress_) {
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
  command_log& log_;
  std::vector<job_parameters> params_;  // per partition; their step contexts refer to them
  std::vector<partition_result> results_;
  std::vector<std::shared_ptr<run_progress>> progress_;
  stop_signal stop_;  // what the partitions' contexts report
  std::atomic<bool> stopping_{false};
};

}  // namespace

std::unique_ptr<step_worker> partition_step::make_worker(step_context ctx, command_log& log,
                                                         std::shared_ptr<run_progress> progress) const {
  if (!partitioner_) throw std::logic_error("partitioned step '" + name() + "' has no partitioner");
  if (!worker_) throw std::logic_error("partitioned step '" + name() + "' has no worker step");
  const auto grid = grid_size_(ctx.parameters());
  return std::make_unique<partition_manager>(*worker_, partitioner_, grid, std::move(ctx), log,
                                             std::move(progress));
}

}  // namespace kiln
