#include <kiln/job_run.hpp>
#include <kiln/job_step.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace kiln {

namespace {

class job_step_worker final : public step_worker {
 public:
  job_step_worker(std::shared_ptr<const job> child, const job_step::parameters_fn& parameters, step_context ctx,
                  command_log& log, std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)), child_(std::move(child)), parameters_(parameters),
        log_(log) {}

 protected:
  void do_open() override {}
  step_outcome do_run_once() override {
    job_parameters params = context().parameters();
    if (parameters_) {
      auto typed = child_->parameters_from(parameters_(context()));
      if (!typed) throw std::invalid_argument(fmt::format("child job '{}': {}", child_->name(), typed.error().message()));
      params = std::move(*typed);
    }
    spdlog::info("step '{}' runs job '{}'", context().step_name(), child_->name());
    auto r = run_job(*child_, params, log_, &stop_flag());
    if (!r && r.error().code() == errc::instance_complete) {
      // The child completed in an earlier attempt whose parent step did not get to commit.
      spdlog::info("step '{}': {}", context().step_name(), r.error().message());
      context().context()["child_status"] = "COMPLETED";
      commit(counts());
      return step_outcome::completed;
    }
    if (!r) throw std::runtime_error(fmt::format("child job '{}' cannot run: {}", child_->name(), r.error().message()));
    context().context()["child_execution_id"] = r->execution_id;
    context().context()["child_status"] = std::string(to_string(r->status));
    switch (r->status) {
      case batch_status::completed: commit(counts()); return step_outcome::completed;
      case batch_status::stopped: commit(counts()); return step_outcome::stopped;
      default:
        throw std::runtime_error(fmt::format("child job '{}' (execution {}) ended {}: {}", child_->name(),
                                             r->execution_id, to_string(r->status), r->exit.description));
    }
  }
  void do_close() override {}

 private:
  std::shared_ptr<const job> child_;
  const job_step::parameters_fn& parameters_;
  command_log& log_;
};

}  // namespace

job_step::job_step(std::string name, job child, parameters_fn parameters)
    : step_settings(std::move(name)), child_(std::make_shared<const job>(std::move(child))),
      parameters_(std::move(parameters)) {}

std::unique_ptr<step_worker> job_step::make_worker(step_context ctx, command_log& log,
                                                   std::shared_ptr<run_progress> progress) const {
  return std::make_unique<job_step_worker>(child_, parameters_, std::move(ctx), log, std::move(progress));
}

}  // namespace kiln
