// The node's schedule operations (job_operator) and the wiring of its scheduler actor.

#include "node_impl.hpp"

#include <kiln/progress.hpp>
#include <kiln/scheduler_core.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace kiln::node_detail {

actors::scheduler_config node_impl::scheduler_config() {
  actors::scheduler_config sc;
  sc.max_lead_ms = options_.schedule_max_lead_ms;
  sc.on_fire = [this](const fire_cmd& c, const apply_result& r, std::int64_t durable_ms) {
    auto policy = misfire_policy::fire_once_now;
    if (c.misfired || c.outcome == fire_outcome::skipped_misfire) {
      if (auto s = store_->schedule(c.schedule)) policy = s->misfire;
    }
    schedule_metrics_.fired(c, r, policy, durable_ms);
  };
  sc.on_batch = [this](const std::vector<std::int64_t>& created, const std::vector<std::int64_t>& cancelled) {
    for (auto id : cancelled) caf::anon_send(dispatcher_, actors::stop_atom::value, id);
    if (!created.empty()) caf::anon_send(dispatcher_, actors::wake_atom::value);
  };
  return sc;
}

expected<schedule_record> node_impl::change_schedule(command cmd, const std::string& name) {
  if (!accepting_) return fail(errc::stopped, "the node is shutting down; change schedules after it restarts");
  auto r = log_->propose(std::move(cmd));
  if (!r) return std::unexpected(r.error());
  caf::anon_send(scheduler_, actors::schedule_changed_atom::value, name);
  return store_->schedule(name);
}

expected<schedule_record> node_impl::create_schedule(const schedule_definition& d) {
  const auto now = now_ms();
  auto s = make_schedule(jobs_, d, now);
  if (!s) return std::unexpected(s.error());
  return change_schedule(create_schedule_cmd{std::move(*s), now}, d.name);
}

expected<schedule_record> node_impl::update_schedule(const schedule_definition& d) {
  if (auto old = store_->schedule(d.name); !old) return std::unexpected(old.error());
  const auto now = now_ms();
  auto s = make_schedule(jobs_, d, now);
  if (!s) return std::unexpected(s.error());
  return change_schedule(update_schedule_cmd{std::move(*s), now}, d.name);
}

expected<void> node_impl::delete_schedule(const std::string& name) {
  if (!accepting_) return fail(errc::stopped, "the node is shutting down; change schedules after it restarts");
  auto r = log_->propose(delete_schedule_cmd{name, now_ms()});
  if (!r) return std::unexpected(r.error());
  caf::anon_send(scheduler_, actors::schedule_changed_atom::value, name);
  return {};
}

expected<schedule_record> node_impl::pause_schedule(const std::string& name, const std::string& note) {
  return change_schedule(pause_schedule_cmd{name, note, now_ms()}, name);
}

expected<schedule_record> node_impl::resume_schedule(const std::string& name, bool catch_up) {
  return change_schedule(resume_schedule_cmd{name, catch_up, now_ms()}, name);
}

expected<std::vector<std::int64_t>> node_impl::fire_manual(const std::vector<fire_cmd>& cmds) {
  if (!accepting_) return fail(errc::stopped, "the node is shutting down and takes no new work");
  std::vector<std::int64_t> ids;
  for (const auto& c : cmds) {
    auto r = log_->propose(c);
    if (!r) return std::unexpected(r.error());
    if (r->outcome == "failed") {
      auto s = store_->schedule(c.schedule);
      return fail(errc::bad_parameter, s ? s->last_error : std::string("the execution could not be created"));
    }
    for (auto id : r->executions) caf::anon_send(dispatcher_, actors::stop_atom::value, id);
    if (r->execution_id > 0) ids.push_back(r->execution_id);
    schedule_metrics_.fired(c, *r, misfire_policy::fire_once_now, now_ms());
  }
  if (!cmds.empty()) caf::anon_send(scheduler_, actors::schedule_changed_atom::value, cmds.front().schedule);
  if (!ids.empty()) caf::anon_send(dispatcher_, actors::wake_atom::value);
  return ids;
}

namespace {

bool runs(const state_store& store, const schedule_record& s) {
  if (s.last_execution_id <= 0) return false;
  auto e = store.execution(s.last_execution_id);
  return e && is_running(e->status);
}

}  // namespace

expected<std::int64_t> node_impl::trigger_schedule(const std::string& name) {
  auto s = store_->schedule(name);
  if (!s) return std::unexpected(s.error());
  auto cmds = plan_manual(jobs_, *s, {now_ms()}, overlap_policy::allow, runs(*store_, *s), now_ms());
  auto ids = fire_manual(cmds);
  if (!ids) return std::unexpected(ids.error());
  if (ids->empty()) return fail(errc::invalid_transition, fmt::format("schedule '{}' was fired at this very instant already; try again", name));
  return ids->front();
}

expected<backfill_result> node_impl::backfill_schedule(const std::string& name, std::int64_t from, std::int64_t to,
                                                       std::optional<overlap_policy> overlap, bool dry_run) {
  auto s = store_->schedule(name);
  if (!s) return std::unexpected(s.error());
  if (to < from) return fail(errc::bad_usage, "'to' must not be before 'from'");
  const auto now = now_ms();
  if (to > now) return fail(errc::bad_usage, fmt::format("'to' ({}) is in the future; backfill runs past slots only", format_utc(to)));
  auto slots = slots_between(*s, from, to, 10000);
  if (!slots) return std::unexpected(slots.error());
  backfill_result out;
  out.slots = *slots;
  if (dry_run) return out;
  auto cmds = plan_manual(jobs_, *s, *slots, overlap.value_or(s->overlap), runs(*store_, *s), now);
  auto ids = fire_manual(cmds);
  if (!ids) return std::unexpected(ids.error());
  out.execution_ids = std::move(*ids);
  return out;
}

}  // namespace kiln::node_detail
