#include "concurrent_runs.hpp"

#include <kiln/job_run.hpp>
#include <kiln/split.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>
#include <stdexcept>

namespace kiln {

namespace {

class split_worker final : public step_worker {
 public:
  split_worker(const std::vector<std::shared_ptr<const job>>& flows, step_context ctx, command_log& log,
               std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)), flows_(flows), log_(log) {}

 protected:
  void do_open() override {}

  step_outcome do_run_once() override {
    const std::size_t n = flows_.size();
    runs_.clear();
    for (const auto& f : flows_) {
      runs_.push_back(std::make_unique<job_run>(*f, context().parameters(), log_));
      runs_.back()->attach_flow(context().job_execution_id());
    }
    results_.assign(n, {});
    spdlog::info("split '{}' runs {} flows", context().step_name(), n);
    detail::run_concurrently(
        n, n, [this](std::size_t i) { run_flow(i); },
        [this] {
          if (!stopping_ && (context().stop_requested() || stop_flag().load())) {
            stopping_ = true;
            for (auto& r : runs_) r->request_stop();
          }
        });

    batch_status status = batch_status::completed;
    std::string failures;
    auto& flows = context().context()["flows"].emplace_object();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = results_[i];
      status = detail::worse(status, r.status);
      flows[flows_[i]->name()] = std::string(to_string(r.status));
      if (r.status == batch_status::failed) {
        if (!failures.empty()) failures += "; ";
        failures += fmt::format("flow '{}': {}", flows_[i]->name(), r.exit.description);
      }
    }
    commit(counts());
    if (status == batch_status::failed) throw std::runtime_error(failures);
    if (status == batch_status::stopped) return step_outcome::stopped;
    return step_outcome::completed;
  }

  void do_close() override {}

 private:
  void run_flow(std::size_t i) {
    auto& run = *runs_[i];
    while (auto worker = run.next_step()) {
      auto [status, exit] = detail::run_to_end(*worker);
      run.step_finished(status, exit);
    }
    results_[i] = run.flow_result();
    spdlog::info("flow '{}' of split '{}' ended {}", flows_[i]->name(), context().step_name(),
                 to_string(results_[i].status));
  }

  const std::vector<std::shared_ptr<const job>>& flows_;
  command_log& log_;
  std::vector<std::unique_ptr<job_run>> runs_;
  std::vector<run_result> results_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

split_step::split_step(std::string name, std::vector<job> flows) : step_settings(std::move(name)) {
  if (flows.empty()) throw std::invalid_argument("split '" + name_ + "' has no flows");
  std::set<std::string> names{name_};
  for (auto& f : flows) {
    for (const auto& n : f.nodes()) {
      if (!names.insert(n).second) {
        throw std::invalid_argument(fmt::format("split '{}': two steps or deciders are named '{}' (flow '{}'); "
                                                "step names must be unique across the job",
                                                name_, n, f.name()));
      }
    }
    flows_.push_back(std::make_shared<const job>(std::move(f)));
  }
}

std::unique_ptr<step_worker> split_step::make_worker(step_context ctx, command_log& log,
                                                     std::shared_ptr<run_progress> progress) const {
  return std::make_unique<split_worker>(flows_, std::move(ctx), log, std::move(progress));
}

}  // namespace kiln
