#include <kiln/actors/dispatcher.hpp>
#include <kiln/job_run.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

namespace kiln::actors {

void running_table::add(std::int64_t id, entry e) {
  std::lock_guard lock(mu_);
  entries_[id] = std::move(e);
}

void running_table::remove(std::int64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

std::shared_ptr<run_progress> running_table::progress(std::int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.progress;
}

std::size_t running_table::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::map<std::string, std::int64_t> running_table::per_queue() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::int64_t> out;
  for (const auto& [_, e] : entries_) ++out[e.queue];
  return out;
}

std::vector<std::int64_t> running_table::ids() const {
  std::lock_guard lock(mu_);
  std::vector<std::int64_t> out;
  for (const auto& [id, _] : entries_) out.push_back(id);
  return out;
}

namespace {

struct dispatcher_state {
  const registry* jobs = nullptr;
  command_log* log = nullptr;
  std::shared_ptr<running_table> running;
  dispatcher_config config;
  std::map<std::int64_t, job_runner_actor> runners;
  bool claim_pending = false;
  // Claims proposed but not yet durable, by number, with the slots each may fill (in all, and per
  // limited queue). Those slots count as taken until the claim's result arrives.
  struct reservation {
    std::int64_t slots = 0;
    std::map<std::string, std::int64_t> per_queue;
  };
  std::map<std::int64_t, reservation> claims_in_flight;
  std::int64_t next_claim = 0;
  std::int64_t reserved = 0;
  bool wake_deferred = false;  // a wake found every free slot reserved by claims in flight
  // A wake armed for when the earliest waiting execution's not_before comes (ms since epoch).
  std::optional<std::int64_t> wake_at;
  bool shutting_down = false;
  std::vector<caf::typed_response_promise<std::int64_t>> shutdown_waiters;
};

using self_ptr = dispatcher_actor::stateful_pointer<dispatcher_state>;

// Queues a new execution of a stopped instance, so it resumes when a node takes it again.
void requeue(dispatcher_state& st, const job_execution_record& e, const char* why) {
  const job* j = st.jobs->find(e.job_name);
  create_execution_cmd c;
  c.job = e.job_name;
  c.parameters = e.parameters;
  c.restartable = j ? j->restartable() : true;
  c.time = now_ms();
  c.queue = e.queue.empty() ? std::string("default") : e.queue;
  c.priority = e.priority;
  c.forbid_concurrent = j && j->concurrency() == concurrency_policy::forbid;
  auto r = st.log->propose(std::move(c));
  if (r) {
    spdlog::info("execution {} {}: queued again as execution {}", e.id, why, r->execution_id);
  } else {
    spdlog::warn("execution {} {}: could not queue it again: {}", e.id, why, r.error().message());
  }
}

void finish_shutdown_if_idle(self_ptr self) {
  auto& st = self->state;
  if (!st.shutting_down || !st.runners.empty() || !st.claims_in_flight.empty()) return;
  for (auto& p : st.shutdown_waiters) p.deliver(std::int64_t{0});
  st.shutdown_waiters.clear();
}

void start_execution(self_ptr self, std::int64_t id) {
  auto& st = self->state;
  auto record = st.log->state().execution(id);
  if (!record) {
    spdlog::error("claimed execution {} cannot be read: {}", id, record.error().message());
    return;
  }
  const job* j = st.jobs->find(record->job_name);
  if (!j) {
    (void)st.log->propose(kill_cmd{id, "job '" + record->job_name + "' is not registered on node " + st.config.node,
                                   now_ms()});
    return;
  }
  if (st.config.on_dispatch && record->create_time > 0) {
    // From when it could be claimed: a firing recorded ahead of its slot waits for not_before.
    const auto runnable = std::max(record->create_time, record->not_before);
    st.config.on_dispatch(static_cast<double>(std::max<std::int64_t>(0, record->claim_time - runnable)) / 1000.0);
  }
  auto progress = std::make_shared<run_progress>();
  auto run = std::make_shared<job_run>(*j, record->parameters, *st.log, progress);
  run->attach(id);
  auto runner = spawn_job_runner(self->system(), run);
  st.runners.emplace(id, runner);
  st.running->add(id, {record->job_name, record->queue, progress, now_ms()});
  self->request(runner, caf::infinite, run_atom::value)
      .then([self, id](const outcome& o) { self->send(self, run_done_atom::value, id, o); },
            [self, id](const caf::error& err) {
              self->send(self, run_done_atom::value, id,
                         outcome{id, "FAILED", "FAILED", "job runner failed: " + self->system().render(err)});
            });
}

void claim(self_ptr self) {
  auto& st = self->state;
  st.claim_pending = false;
  if (st.shutting_down) return;
  const auto free = st.config.max_concurrent - static_cast<std::int64_t>(st.runners.size()) - st.reserved;
  if (free <= 0) {
    // Slots a claim in flight leaves unfilled are free again when its result comes.
    if (!st.claims_in_flight.empty()) st.wake_deferred = true;
    return;
  }
  // Executions that may not be claimed yet (a firing ahead of its slot): wake up when the
  // earliest of them may, rather than poll.
  const auto now = now_ms();
  if (auto next = st.log->state().queue_next_not_before(now);
      next && (!st.wake_at || *st.wake_at <= now || *next < *st.wake_at)) {
    st.wake_at = *next;
    self->delayed_send(self, std::chrono::milliseconds(std::max<std::int64_t>(1, *next - now)), wake_atom::value);
  }
  // Reading the committed queue first avoids proposing (and syncing) a claim that finds nothing.
  if (!st.log->state().queue_claimable(now)) return;
  claim_cmd c;
  c.node = st.config.node;
  c.max = free;
  c.queues = st.config.queues;
  dispatcher_state::reservation held;
  held.slots = free;
  const auto per_queue = st.running->per_queue();
  for (const auto& [queue, limit] : st.config.queue_limits) {
    auto it = per_queue.find(queue);
    std::int64_t queue_free = limit - (it == per_queue.end() ? 0 : it->second);
    for (const auto& [_, other] : st.claims_in_flight) {
      if (auto o = other.per_queue.find(queue); o != other.per_queue.end()) queue_free -= o->second;
    }
    queue_free = std::max<std::int64_t>(queue_free, 0);
    c.queue_free[queue] = queue_free;
    held.per_queue[queue] = queue_free;
  }
  c.time = now;
  const auto seq = ++st.next_claim;
  st.reserved += held.slots;
  st.claims_in_flight.emplace(seq, std::move(held));
  // The result comes back as a message: the dispatcher keeps handling wakes and ends meanwhile.
  st.log->propose_then(std::move(c), [handle = dispatcher_actor{self}, seq](expected<apply_result> r) {
    claim_result out;
    out.seq = seq;
    if (r) out.executions = std::move(r->executions);
    else out.error = r.error().message();
    caf::anon_send(handle, claimed_atom::value, std::move(out));
  });
}

void claimed(self_ptr self, const claim_result& r) {
  auto& st = self->state;
  if (auto it = st.claims_in_flight.find(r.seq); it != st.claims_in_flight.end()) {
    st.reserved -= it->second.slots;
    st.claims_in_flight.erase(it);
  }
  if (!r.error.empty()) spdlog::error("claim failed: {}", r.error);
  for (auto id : r.executions) {
    start_execution(self, id);
    // Claimed while the node began shutting down: it stops at once and is queued again.
    if (st.shutting_down) {
      if (auto it = st.runners.find(id); it != st.runners.end()) self->send(it->second, stop_atom::value);
    }
  }
  finish_shutdown_if_idle(self);
  if (!st.shutting_down && (!r.executions.empty() || st.wake_deferred)) {
    st.wake_deferred = false;
    self->send(self, wake_atom::value);
  }
}

dispatcher_actor::behavior_type dispatcher_behavior(self_ptr self, const registry* jobs, command_log* log,
                                                    std::shared_ptr<running_table> running,
                                                    dispatcher_config config) {
  auto& st = self->state;
  st.jobs = jobs;
  st.log = log;
  st.running = std::move(running);
  st.config = std::move(config);
  return {
      [self](wake_atom) {
        auto& st = self->state;
        if (st.claim_pending || st.shutting_down) return;
        st.claim_pending = true;
        self->send(self, claim_atom::value);
      },
      [self](claim_atom) { claim(self); },
      [self](claimed_atom, const claim_result& r) { claimed(self, r); },
      [self](stop_atom, std::int64_t id) {
        auto& st = self->state;
        if (auto it = st.runners.find(id); it != st.runners.end()) self->send(it->second, stop_atom::value);
      },
      [self](shutdown_atom) -> caf::typed_response_promise<std::int64_t> {
        auto& st = self->state;
        auto promise = self->make_response_promise<std::int64_t>();
        st.shutdown_waiters.push_back(promise);
        if (!st.shutting_down) {
          st.shutting_down = true;
          if (!st.runners.empty()) spdlog::info("stopping {} running execution(s) at a chunk boundary", st.runners.size());
          for (auto& [_, runner] : st.runners) self->send(runner, stop_atom::value);
        }
        finish_shutdown_if_idle(self);
        return promise;
      },
      [self](run_done_atom, std::int64_t id, const outcome& o) {
        auto& st = self->state;
        st.runners.erase(id);
        st.running->remove(id);
        spdlog::info("execution {} ended {} (exit {}){}", id, o.status, o.exit_code,
                     o.exit_description.empty() ? "" : ": " + o.exit_description);
        if (st.config.on_end) st.config.on_end(o);
        if (st.shutting_down && o.status == "STOPPED" && st.config.resume_after_shutdown) {
          if (auto e = st.log->state().execution(id)) requeue(st, *e, "stopped by the node's shutdown");
        }
        finish_shutdown_if_idle(self);
        if (!st.shutting_down) self->send(self, wake_atom::value);
      },
  };
}

}  // namespace

dispatcher_actor spawn_dispatcher(caf::actor_system& sys, const registry& jobs, command_log& log,
                                  std::shared_ptr<running_table> running, dispatcher_config config) {
  // Detached: reads of the state store (and a kill of an unregistered job) are blocking RocksDB calls.
  return sys.spawn<caf::detached>(dispatcher_behavior, &jobs, &log, std::move(running), std::move(config));
}

}  // namespace kiln::actors
