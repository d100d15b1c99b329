#include <kiln/job_run.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace kiln {

job_run::job_run(const job& j, job_parameters params, command_log& log, std::shared_ptr<run_progress> progress)
    : job_(j), params_(std::move(params)), log_(log), progress_(std::move(progress)) {}

expected<std::int64_t> job_run::create() {
  create_execution_cmd cmd;
  cmd.job = job_.name();
  cmd.parameters = params_;
  cmd.restartable = job_.restartable();
  cmd.time = now_ms();
  auto r = log_.propose(std::move(cmd));
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
  // Proposed without waiting: the first start_step (ordered after it by the log) needs it applied,
  // not this thread to have seen it durable. A refusal (say, the execution was killed while
  // queued) makes that start_step fail too, which ends the run.
  (void)log_.propose_async(start_execution_cmd{execution_id_, now_ms()});
  return {};
}

void job_run::end_with(batch_status status, exit_status exit) {
  if (!outcome_) outcome_ = {status, std::move(exit)};
}

bool job_run::advance(const std::string& node, batch_status status, const exit_status& exit) {
  auto r = job_.route_after(node, status, exit);
  if (!r.next.empty()) {
    current_ = r.next;
    return true;
  }
  restart_at_ = r.restart_at;
  // A flow that handled a failure and then fails says what the failure was.
  if (r.status == batch_status::failed && first_failure_ && r.exit.description.find(first_failure_->second) == std::string::npos) {
    r.exit.description += "; earlier, step '" + first_failure_->first + "' failed: " + first_failure_->second;
  }
  end_with(r.status, r.exit);
  return false;
}

std::unique_ptr<step_worker> job_run::next_step() {
  constexpr std::size_t max_visits = 100'000;
  if (current_.empty() && !outcome_) {
    current_ = job_.nodes().front();
    // A restart after stop_and_restart resumes where that transition said (not for a split's
    // flows: the transition named a node of the parent job).
    if (auto e = log_.state().execution(execution_id_); e && !flow_) {
      std::int64_t previous = 0;
      for (const auto& other : log_.state().instance_executions(e->instance_id)) {
        if (other.id < execution_id_ && other.id > previous) {
          previous = other.id;
          current_ = other.restart_step.empty() ? job_.nodes().front() : other.restart_step;
        }
      }
      if (current_ != job_.nodes().front()) spdlog::info("flow resumes at '{}' (stop_and_restart)", current_);
    }
    // Job listeners' before_job; one that throws fails the job before its first step.
    job_execution_info info{job_.name(), execution_id_, &params_, batch_status::started, exit_status::executing()};
    for (const auto& l : job_.listeners()) {
      try {
        detail::notify(l.before_job, "before_job", info);
      } catch (const std::exception& e) {
        spdlog::error("job '{}': {}", job_.name(), e.what());
        end_with(batch_status::failed, exit_status::failed(e.what()));
        break;
      }
    }
  }
  while (!outcome_) {
    if (stop_requested_) {
      end_with(batch_status::stopped, exit_status::stopped("stopped on request"));
      break;
    }
    if (++visits_ > max_visits) {
      end_with(batch_status::failed, exit_status::failed("the flow visited more than 100000 steps; does it loop?"));
      break;
    }
    const std::string node = current_;
    if (const auto* decide = job_.find_decider(node)) {
      flow_state state{params_, last_node_, last_status_, last_exit_};
      std::string code;
      try {
        code = (*decide)(state);
      } catch (const std::exception& e) {
        end_with(batch_status::failed, exit_status::failed("decider '" + node + "' failed: " + e.what()));
        break;
      }
      spdlog::info("decider '{}' chose '{}'", node, code);
      last_node_ = node;
      last_status_ = batch_status::completed;
      last_exit_ = {code, {}};
      if (!advance(node, batch_status::completed, last_exit_)) break;
      continue;
    }
    const step* def_ptr = job_.find_step(node);
    if (!def_ptr) {
      end_with(batch_status::failed, exit_status::failed("the flow reached unknown node '" + node + "'"));
      break;
    }
    const auto& def = *def_ptr;
    auto r = log_.propose(start_step_cmd{execution_id_, def.name(), def.allow_start_if_complete(),
                                         def.start_limit(), now_ms()});
    if (!r) {
      spdlog::error("step '{}' cannot start: {}", def.name(), r.error().message());
      end_with(batch_status::failed, exit_status::failed(r.error().message()));
      break;
    }
    if (r->action == step_action::skip) {
      spdlog::info("skipping step '{}': {}", def.name(), r->skip_reason);
      last_node_ = node;
      last_status_ = batch_status::completed;
      last_exit_ = r->skip_exit.code.empty() || r->skip_exit.code == "UNKNOWN" ? exit_status::completed() : r->skip_exit;
      if (!advance(node, last_status_, last_exit_)) break;
      continue;
    }
    if (progress_) progress_->begin_step(def.name());
    step_context ctx(job_.name(), def.name(), execution_id_, r->step_execution_id, params_, std::move(r->context),
                     step_stop_);
    // The latest step execution of that name in this job instance: a restart skips the steps that
    // COMPLETED in an earlier execution, whose contexts stay what later steps read.
    ctx.set_step_context_lookup(
        [&log = log_, execution = execution_id_](const std::string& step) -> std::optional<execution_context> {
          const auto& store = log.state();
          const auto current = store.execution(execution);
          if (!current) return std::nullopt;
          std::int64_t latest = 0;
          for (const auto& e : store.instance_executions(current->instance_id)) {
            if (e.id > execution) continue;
            for (const auto& st : store.step_executions(e.id)) {
              if (st.step_name == step) latest = std::max(latest, st.id);
            }
          }
          if (latest == 0) return std::nullopt;
          return store.step_context(latest);
        });
    if (ctx.is_restart()) spdlog::info("step '{}' resumes from its last checkpoint", def.name());
    try {
      running_step_ = node;
      auto worker = def.make_worker(std::move(ctx), log_, progress_);
      for (const auto& l : def.step_listeners()) worker->add_listener(l);
      return worker;
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
  if (status == batch_status::failed && !first_failure_) first_failure_ = {running_step_, exit.description};
  last_node_ = running_step_;
  last_status_ = status;
  last_exit_ = exit;
  // A stop request ends the job STOPPED whatever the transitions say (Spring Batch does the same).
  if (status == batch_status::stopped) {
    end_with(status, exit);
    return;
  }
  advance(running_step_, status, exit);
}

run_result job_run::finish() {
  if (!outcome_) end_with(batch_status::failed, exit_status::failed("the job ended before its steps"));
  auto [status, exit] = *outcome_;
  // Job listeners' after_job may change the exit status; one that throws is logged and ignored
  // (Spring Batch does the same: the job's outcome is already decided).
  job_execution_info info{job_.name(), execution_id_, &params_, status, exit};
  for (const auto& l : job_.listeners()) {
    if (!l.after_job) continue;
    try {
      l.after_job(info);
    } catch (const std::exception& e) {
      spdlog::error("job '{}': listener after_job failed: {}", job_.name(), e.what());
    } catch (...) {
      spdlog::error("job '{}': listener after_job failed: unknown error", job_.name());
    }
  }
  exit = info.exit;
  auto r = log_.propose(end_execution_cmd{execution_id_, status, exit, now_ms(), restart_at_});
  if (!r) {
    // Ended by someone else (killed, abandoned): the record says how; that is the outcome.
    if (auto e = log_.state().execution(execution_id_); e && !is_running(e->status)) {
      return {execution_id_, e->status, e->exit};
    }
    spdlog::error("could not record the end of execution {}: {}", execution_id_, r.error().describe());
    return {execution_id_, batch_status::failed, exit_status::failed(r.error().message())};
  }
  return {execution_id_, status, exit};
}

run_result job_run::flow_result() const {
  if (!outcome_) {
    return {execution_id_, batch_status::failed, exit_status::failed("the flow ended before its steps")};
  }
  return {execution_id_, outcome_->first, outcome_->second};
}

void job_run::request_stop() {
  step_stop_.request();
  if (stop_requested_.exchange(true)) return;
  if (execution_id_ == 0 || flow_) return;
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
