#include <kiln/job_run.hpp>

#include <spdlog/spdlog.h>

namespace kiln {

job_run::job_run(const job& j, job_parameters params, command_log& log, std::shared_ptr<run_progress> progress)
    : job_(j), params_(std::move(params)), log_(log), progress_(std::move(progress)) {}

expected<std::int64_t> job_run::create() {
  auto r = log_.propose(create_execution_cmd{job_.name(), params_, job_.restartable(), now_ms()});
  if (!r) return std::unexpected(r.error());
  execution_id_ = r->execution_id;
  if (r->restart) {
    spdlog::info("restarting job '{}' (instance {}) as execution {}", job_.name(), r->instance_id, execution_id_);
  } else {
    spdlog::info("starting job '{}' (instance {}) as execution {}", job_.name(), r->instance_id, execution_id_);
  }
  return execution_id_;
}

expected<void> job_run::start() {
  auto r = log_.propose(start_execution_cmd{execution_id_, now_ms()});
  if (!r) return std::unexpected(r.error());
  return {};
}

void job_run::end_with(batch_status status, exit_status exit) {
  if (!outcome_) outcome_ = {status, std::move(exit)};
}

std::unique_ptr<step_worker> job_run::next_step() {
  while (!outcome_) {
    if (stop_requested_) {
      end_with(batch_status::stopped, exit_status::stopped("stopped on request"));
      break;
    }
    if (next_index_ >= job_.steps().size()) {
      end_with(batch_status::completed, exit_status::completed());
      break;
    }
    const auto& def = *job_.steps()[next_index_++];
    auto r = log_.propose(start_step_cmd{execution_id_, def.name(), def.allow_start_if_complete(),
                                         def.start_limit(), now_ms()});
    if (!r) {
      spdlog::error("step '{}' cannot start: {}", def.name(), r.error().message());
      end_with(batch_status::failed, exit_status::failed(r.error().message()));
      break;
    }
    if (r->action == step_action::skip) {
      spdlog::info("skipping step '{}': {}", def.name(), r->skip_reason);
      continue;
    }
    if (progress_) progress_->begin_step(def.name());
    step_context ctx(job_.name(), def.name(), execution_id_, r->step_execution_id, params_, std::move(r->context),
                     step_stop_);
    if (ctx.is_restart()) spdlog::info("step '{}' resumes from its last checkpoint", def.name());
    try {
      return def.make_worker(std::move(ctx), log_, progress_);
    } catch (const std::exception& e) {
      // The step execution exists; record its failure so it does not look running.
      (void)log_.propose(end_step_cmd{r->step_execution_id, batch_status::failed, exit_status::failed(e.what()),
                                      {}, {}, now_ms()});
      end_with(batch_status::failed, exit_status::failed(e.what()));
    }
  }
  return nullptr;
}

void job_run::step_finished(batch_status status, const exit_status& exit) {
  if (status == batch_status::completed) return;
  end_with(status, exit);
}

run_result job_run::finish() {
  if (!outcome_) end_with(batch_status::failed, exit_status::failed("the job ended before its steps"));
  auto [status, exit] = *outcome_;
  auto r = log_.propose(end_execution_cmd{execution_id_, status, exit, now_ms()});
  if (!r) {
    spdlog::error("could not record the end of execution {}: {}", execution_id_, r.error().describe());
    return {execution_id_, batch_status::failed, exit_status::failed(r.error().message())};
  }
  return {execution_id_, status, exit};
}

void job_run::request_stop() {
  step_stop_.request();
  if (stop_requested_.exchange(true)) return;
  if (execution_id_ == 0) return;
  // Recorded asynchronously: the caller may be a signal watcher that must not block.
  (void)log_.propose_async(request_stop_cmd{execution_id_, now_ms()});
}

expected<run_result> run_job(const job& j, const job_parameters& params, command_log& log,
                             const std::atomic<bool>* stop, std::shared_ptr<run_progress> progress) {
  job_run run(j, params, log, std::move(progress));
  run.watch_stop(stop);
  auto id = run.create();
  if (!id) return std::unexpected(id.error());
  if (auto s = run.start(); !s) return std::unexpected(s.error());
  while (auto worker = run.next_step()) {
    step_outcome outcome = step_outcome::failed;
    if (worker->open()) {
      do {
        if (stop && stop->load()) {
          run.request_stop();
          worker->request_stop();
        }
        outcome = worker->run_once();
      } while (outcome == step_outcome::continuing);
    }
    auto [status, exit] = worker->finish(outcome);
    run.step_finished(status, exit);
  }
  return run.finish();
}

}  // namespace kiln
