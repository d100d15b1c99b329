#include <kiln/actors/scheduler.hpp>
#include <kiln/progress.hpp>
#include <kiln/scheduler_core.hpp>

#include <spdlog/spdlog.h>

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
  bool leader = false;
  std::int64_t generation = 0;         // of the armed timer; older ticks are ignored
  std::optional<std::int64_t> armed;   // when the armed timer rings
};

using self_ptr = scheduler_actor::stateful_pointer<scheduler_state>;

// Sets the one timer to the earliest due slot (at once if it has passed).
void arm(self_ptr self) {
  auto& st = self->state;
  if (!st.leader) return;
  const auto next = st.core->next_due();
  if (next == st.armed) return;
  st.armed = next;
  ++st.generation;
  if (!next) return;
  const auto delay = std::max<std::int64_t>(0, *next - now_ms());
  self->delayed_send(self, std::chrono::milliseconds(delay), tick_atom::value, st.generation);
}

// Proposes what is due now, batch by batch, and feeds the committed result back to the core.
void fire_due(self_ptr self) {
  auto& st = self->state;
  if (!st.leader) return;
  for (;;) {
    auto cmds = st.core->due(now_ms());
    if (cmds.empty()) return;
    std::vector<std::future<expected<apply_result>>> pending;
    pending.reserve(cmds.size());
    for (const auto& c : cmds) pending.push_back(st.log->propose_async(c));
    std::set<std::string> touched;
    std::vector<std::int64_t> created;
    std::vector<std::int64_t> cancelled;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      auto r = pending[i].get();
      const auto durable = now_ms();
      touched.insert(cmds[i].schedule);
      if (!r) {
        spdlog::warn("schedule '{}': firing of slot {} refused: {}", cmds[i].schedule, format_utc(cmds[i].slot),
                     r.error().message());
        continue;
      }
      if (r->execution_id > 0) created.push_back(r->execution_id);
      cancelled.insert(cancelled.end(), r->executions.begin(), r->executions.end());
      if (r->outcome == "failed") {
        spdlog::error("schedule '{}': slot {} could not run: {}", cmds[i].schedule, format_utc(cmds[i].slot),
                      cmds[i].error.empty() ? std::string("see the schedule's last_error") : cmds[i].error);
      }
      if (st.config.on_fire) st.config.on_fire(cmds[i], *r, durable);
    }
    for (const auto& name : touched) {
      if (auto s = st.log->state().schedule(name)) st.core->put(*s);
      else st.core->forget(name);
    }
    if (st.config.on_batch && (!created.empty() || !cancelled.empty())) st.config.on_batch(created, cancelled);
    if (cmds.size() < st.config.max_batch) return;
  }
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
