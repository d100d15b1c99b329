#include <kiln/actors/job_runner.hpp>

#include <spdlog/spdlog.h>

namespace kiln::actors {

namespace {

outcome to_outcome(std::int64_t id, batch_status s, const exit_status& e) {
  return {id, std::string(to_string(s)), e.code, e.description};
}

struct step_state {
  std::shared_ptr<step_worker> worker;
  job_runner_actor parent;
  bool opened = false;
};

step_actor::behavior_type step_behavior(step_actor::stateful_pointer<step_state> self,
                                        std::shared_ptr<step_worker> worker, job_runner_actor parent) {
  self->state.worker = std::move(worker);
  self->state.parent = std::move(parent);
  auto finish = [self](step_outcome o) {
    auto [status, exit] = self->state.worker->finish(o);
    self->send(self->state.parent, step_done_atom::value,
               to_outcome(self->state.worker->context().job_execution_id(), status, exit));
    self->quit();
  };
  return {
      [self, finish](chunk_atom) {
        auto& st = self->state;
        if (!st.opened) {
          st.opened = true;
          if (!st.worker->open()) return finish(step_outcome::failed);
        }
        auto o = st.worker->run_once();
        if (o == step_outcome::continuing) {
          self->send(self, chunk_atom::value);
        } else {
          finish(o);
        }
      },
      [self](stop_atom) { self->state.worker->request_stop(); },
  };
}

struct runner_state {
  std::shared_ptr<job_run> run;
  step_actor current;
  caf::typed_response_promise<outcome> promise;
  bool started = false;
};

void start_next_step(job_runner_actor::stateful_pointer<runner_state> self) {
  auto& st = self->state;
  if (auto worker = st.run->next_step()) {
    st.current = spawn_step(self->system(), std::move(worker), job_runner_actor{self});
    if (st.run->stop_requested()) self->send(st.current, stop_atom::value);
    self->send(st.current, chunk_atom::value);
    return;
  }
  st.current = nullptr;
  auto r = st.run->finish();
  st.promise.deliver(to_outcome(r.execution_id, r.status, r.exit));
  self->quit();
}

job_runner_actor::behavior_type runner_behavior(job_runner_actor::stateful_pointer<runner_state> self,
                                                std::shared_ptr<job_run> run) {
  self->state.run = std::move(run);
  return {
      [self](run_atom) -> caf::typed_response_promise<outcome> {
        auto& st = self->state;
        st.promise = self->make_response_promise<outcome>();
        if (st.started) {
          st.promise.deliver(outcome{st.run->execution_id(), "FAILED", "FAILED", "the execution was already run"});
          return st.promise;
        }
        st.started = true;
        if (auto s = st.run->start(); !s) {
          spdlog::error("execution {} cannot start: {}", st.run->execution_id(), s.error().message());
          st.run->step_finished(batch_status::failed, exit_status::failed(s.error().message()));
        }
        start_next_step(self);
        return st.promise;
      },
      [self](stop_atom) {
        auto& st = self->state;
        st.run->request_stop();
        if (st.current) self->send(st.current, stop_atom::value);
      },
      [self](step_done_atom, const outcome& o) {
        auto status = parse_batch_status(o.status).value_or(batch_status::failed);
        self->state.run->step_finished(status, exit_status{o.exit_code, o.exit_description});
        start_next_step(self);
      },
  };
}

}  // namespace

job_runner_actor spawn_job_runner(caf::actor_system& sys, std::shared_ptr<job_run> run) {
  return sys.spawn<caf::detached>(runner_behavior, std::move(run));
}

step_actor spawn_step(caf::actor_system& sys, std::unique_ptr<step_worker> worker, job_runner_actor parent) {
  // CAF copies spawn arguments: the worker travels as a shared_ptr, owned by the actor's state.
  return sys.spawn<caf::detached>(step_behavior, std::shared_ptr<step_worker>(std::move(worker)), std::move(parent));
}

}  // namespace kiln::actors
