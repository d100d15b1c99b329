#include <kiln/actors/scheduler.hpp>
#include <kiln/progress.hpp>
#include <kiln/scheduler_core.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <optional>
#include <set>

namespace kiln::actors {

namespace {

struct scheduler_state {
  const registry* jobs = nullptr;
  command_log* log = nullptr;
  scheduler_config config;
  std::unique_ptr<scheduler_core> core;
  fire_pace pace;                      // measured: how far ahead to fire
  bool leader = false;
  std::int64_t generation = 0;         // of the armed timer; older ticks are ignored
  std::optional<std::int64_t> armed;   // when the armed timer rings
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

// Sets the one timer to the earliest due slot (at once if it has passed).
void arm(self_ptr self) {
  auto& st = self->state;
  if (!st.leader) return;
  const auto next = st.core->next_wake(st.pace);
  if (next == st.armed) return;
  st.armed = next;
  ++st.generation;
  if (!next) return;
  const auto delay = std::max<std::int64_t>(0, *next - now_ms());
  self->delayed_send(self, std::chrono::milliseconds(delay), tick_atom::value, st.generation);
}

// Learns the log's pace from a pass that proposed `n` firings and took `elapsed_ms` from planning
// to the last durable result: a small pass measures the latency, a large one the rate.
void measure(fire_pace& pace, std::size_t n, std::int64_t elapsed_ms) {
  if (n == 0) return;
  if (n <= 4) {
    pace.latency_ms = std::clamp<std::int64_t>((pace.latency_ms + elapsed_ms + 1) / 2, 1, 1000);
  } else if (n >= 64) {
    const auto work = std::max<std::int64_t>(1, elapsed_ms - pace.latency_ms);
    const double rate = static_cast<double>(n) / static_cast<double>(work);
    pace.per_ms = std::clamp((pace.per_ms + rate) / 2, 0.2, 1000.0);
  }
}

// Proposes what is due now, and what must be proposed now to be durable by its instant, batch by
// batch, and feeds the committed result back to the core. Batches are pipelined: while the log
// applies one, the next is planned (leaving out schedules with a firing still in flight, whose
// committed state is not known yet).
void fire_due(self_ptr self) {
  auto& st = self->state;
  if (!st.leader) return;
  struct proposal {
    fire_cmd cmd;
    std::future<expected<apply_result>> result;
  };
  std::vector<proposal> pending;
  std::set<std::string> in_flight;
  const auto start = now_ms();
  const auto until = st.core->horizon(start, st.pace);
  for (;;) {
    auto cmds = st.core->due(now_ms(), until, in_flight);
    for (auto& c : cmds) {
      in_flight.insert(c.schedule);
      auto f = st.log->propose_async(c);
      pending.push_back({std::move(c), std::move(f)});
    }
    if (cmds.size() < st.config.max_batch) break;
  }
  if (pending.empty()) return;
  std::vector<std::int64_t> created;
  std::vector<std::int64_t> cancelled;
  for (auto& p : pending) {
    auto r = p.result.get();
    const auto durable = now_ms();
    const auto& c = p.cmd;
    if (!r) {
      spdlog::warn("schedule '{}': firing of slot {} refused: {}", c.schedule, format_utc(c.slot), r.error().message());
      continue;
    }
    if (r->execution_id > 0) created.push_back(r->execution_id);
    cancelled.insert(cancelled.end(), r->executions.begin(), r->executions.end());
    if (r->outcome == "failed") {
      spdlog::error("schedule '{}': slot {} could not run: {}", c.schedule, format_utc(c.slot),
                    c.error.empty() ? std::string("see the schedule's last_error") : c.error);
    }
    if (st.config.on_fire) st.config.on_fire(c, *r, durable);
  }
  measure(st.pace, pending.size(), now_ms() - start);
  for (const auto& name : in_flight) {
    if (auto s = st.log->state().schedule(name)) st.core->put(*s);
    else st.core->forget(name);
  }
  if (st.config.on_batch && (!created.empty() || !cancelled.empty())) st.config.on_batch(created, cancelled);
  // Slots that came due meanwhile: arm() (always called next) sets the timer to fire at once.
}

scheduler_actor::behavior_type scheduler_behavior(self_ptr self, const registry* jobs, command_log* log,
                                                  scheduler_config config) {
  auto& st = self->state;
  st.jobs = jobs;
  st.log = log;
  st.config = std::move(config);
  scheduler_core::environment env;
  env.build = [jobs](const schedule_record& s, std::int64_t slot, std::int64_t now) {
    return build_firing(*jobs, s, slot, now);
  };
  env.running = [log](std::int64_t id) {
    auto e = log->state().execution(id);
    return e && is_running(e->status);
  };
  st.pace.max_lead_ms = std::max<std::int64_t>(0, st.config.max_lead_ms);
  st.pace.per_ms = std::max(st.config.initial_firings_per_s, 1.0) / 1000.0;
  st.pace.latency_ms = std::max<std::int64_t>(1, st.config.initial_latency_ms);
  scheduler_core_options o;
  o.max_batch = st.config.max_batch;
  st.core = std::make_unique<scheduler_core>(std::move(env), o);
  return {
      [self](tick_atom, std::int64_t generation) {
        auto& st = self->state;
        if (!st.leader || generation != st.generation) return;
        st.armed.reset();
        fire_due(self);
        arm(self);
      },
      [self](leader_atom, bool leader) {
        auto& st = self->state;
        if (leader == st.leader) return;
        st.leader = leader;
        st.armed.reset();
        ++st.generation;
        if (!leader) {
          st.core->load({});
          spdlog::info("scheduler: not the leader, firing nothing");
          return;
        }
        st.core->load(st.log->state().schedules());
        spdlog::info("scheduler: leading, {} schedule(s)", st.core->size());
        fire_due(self);
        arm(self);
      },
      [self](schedule_changed_atom, const std::string& name) {
        auto& st = self->state;
        if (!st.leader) return;
        if (auto s = st.log->state().schedule(name)) st.core->put(*s);
        else st.core->forget(name);
        arm(self);
      },
      [self](wake_atom) {
        auto& st = self->state;
        if (!st.leader || !st.core->waiting()) return;
        fire_due(self);
        arm(self);
      },
  };
}

}  // namespace

scheduler_actor spawn_scheduler(caf::actor_system& sys, const registry& jobs, command_log& log,
                                scheduler_config config) {
  // Detached: proposals wait for the disk.
  return sys.spawn<caf::detached>(scheduler_behavior, &jobs, &log, std::move(config));
}

}  // namespace kiln::actors
