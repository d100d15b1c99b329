#pragma once
// Private: the state machine's schedule commands (create, update, delete, pause, resume, fire).
// Included by state_machine_apply.cpp, which owns the transaction type: `Tx` needs
// put(family, key, value). Creating, stopping and withdrawing executions is that file's business
// too, so the commands take them as callables. Like the rest of apply, nothing here reads a clock:
// "before its slot" always compares with the command's own time.

#include "store_impl.hpp"

#include <kiln/command.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace kiln::schedule_apply {

using impl = state_store::impl;

// name '\0' slot version: every firing of a schedule sorts together, by slot.
std::string fire_key(const std::string& name, std::int64_t slot, std::int64_t version);
std::string fire_prefix(const std::string& name);
std::string serialize(const schedule_record& s);
std::string serialize_fire(const std::string& outcome, std::int64_t time, std::int64_t execution_id, bool manual);
expected<schedule_record> load(const impl& s, const std::string& name);
expected<void> check_definition(const schedule_record& s, const char* what);
// When a fire record was decided (its "time"), or nullopt for a record that does not say.
std::optional<std::int64_t> fire_time(std::string_view record);
// Calls `each(key)` for every fire record decided before `time`, in key order, while it returns
// true: what purge_cmd deletes.
template <class F>
void fires_before(const impl& s, std::int64_t time, F&& each) {
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.cf[impl::fires].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto t = fire_time(it->value().ToStringView());
    if (t && *t < time && !each(it->key().ToString())) return;
  }
}
// The keys of the schedule's fire records, for delete.
std::vector<std::string> fire_keys(const impl& s, const std::string& name);

template <class Tx>
void put(Tx& tx, const schedule_record& r) {
  tx.put(impl::schedules, r.name, serialize(r));
}

// Firings recorded ahead of a slot that has not come by `time`, when a pause, update or delete at
// `time` would have kept that slot from firing had it not been fired ahead. Each is undone:
// withdraw(execution id, reason) cancels its execution if it still waits in its queue (true), the
// fire record goes, and last_slot moves back to what it was before it, so the slot is decided
// again later exactly as if it had never fired. A firing whose execution was already claimed stays decided.
// Drops the entries whose slot has come. Returns the withdrawn execution ids.
template <class Tx, class Withdraw>
std::vector<std::int64_t> withdraw_early(Tx& tx, schedule_record& r, std::int64_t time, const char* why,
                                         Withdraw withdraw) {
  std::vector<std::int64_t> out;
  std::optional<std::int64_t> first;
  for (const auto& e : r.early) {
    if (e.not_before <= time) continue;
    const auto reason = fmt::format("schedule '{}' was {} before its slot {}: the firing recorded ahead of the "
                                    "slot is withdrawn",
                                    r.name, why, format_timestamp(e.slot));
    if (!withdraw(e.execution_id, reason)) continue;
    tx.erase(impl::fires, fire_key(r.name, e.slot, r.version));
    --r.counts.fired;
    ++r.counts.withdrawn;
    first = std::min(first.value_or(e.last_slot_before), e.last_slot_before);
    out.push_back(e.execution_id);
  }
  r.early.clear();
  if (first) r.last_slot = std::min(r.last_slot, *first);
  return out;
}

template <class Tx>
expected<apply_result> create(impl& s, Tx& tx, const create_schedule_cmd& c) {
  if (auto ok = check_definition(c.schedule, "create_schedule"); !ok) return std::unexpected(ok.error());
  if (s.get(impl::schedules, c.schedule.name)) {
    return fail(errc::invalid_transition,
                fmt::format("schedule '{}' already exists; update it (PUT) or delete it first", c.schedule.name));
  }
  // The definition comes from the command; the progress fields start fresh.
  schedule_record r = c.schedule;
  r.version = 1;
  r.created_time = r.updated_time = c.time;
  r.paused = false;
  r.pause_note.clear();
  r.last_slot = c.time;
  r.last_fire_time = r.last_fire_slot = r.last_execution_id = 0;
  r.buffered.clear();
  r.early.clear();
  r.last_error.clear();
  r.counts = {};
  put(tx, r);
  apply_result out;
  out.outcome = "created";
  return out;
}

template <class Tx, class Withdraw>
expected<apply_result> update(impl& s, Tx& tx, const update_schedule_cmd& c, Withdraw withdraw) {
  if (auto ok = check_definition(c.schedule, "update_schedule"); !ok) return std::unexpected(ok.error());
  auto old = load(s, c.schedule.name);
  if (!old) return std::unexpected(old.error());
  apply_result out;
  out.executions = withdraw_early(tx, *old, c.time, "updated", withdraw);
  schedule_record r = c.schedule;
  r.version = old->version + 1;
  r.created_time = old->created_time;
  r.updated_time = c.time;
  r.paused = old->paused;
  r.pause_note = old->pause_note;
  r.last_slot = std::max(old->last_slot, c.time);
  r.last_fire_time = old->last_fire_time;
  r.last_fire_slot = old->last_fire_slot;
  r.last_execution_id = old->last_execution_id;
  r.buffered.clear();  // buffered slots belong to the old version's run keys
  r.early.clear();
  r.last_error = old->last_error;
  r.counts = old->counts;
  put(tx, r);
  return out;
}

template <class Tx, class Withdraw>
expected<apply_result> remove(impl& s, Tx& tx, const delete_schedule_cmd& c, Withdraw withdraw) {
  auto r = load(s, c.name);
  if (!r) return fail(errc::not_found, fmt::format("no schedule named '{}'", c.name));
  apply_result out;
  out.executions = withdraw_early(tx, *r, c.time, "deleted", withdraw);
  tx.erase(impl::schedules, c.name);
  for (const auto& k : fire_keys(s, c.name)) tx.erase(impl::fires, k);
  return out;
}

template <class Tx, class Withdraw>
expected<apply_result> pause(impl& s, Tx& tx, const pause_schedule_cmd& c, Withdraw withdraw) {
  auto r = load(s, c.name);
  if (!r) return std::unexpected(r.error());
  apply_result out;
  if (!r->paused) out.executions = withdraw_early(tx, *r, c.time, "paused", withdraw);
  r->paused = true;
  r->pause_note = c.note;
  r->updated_time = c.time;
  put(tx, *r);
  return out;
}

template <class Tx>
expected<apply_result> resume(impl& s, Tx& tx, const resume_schedule_cmd& c) {
  auto r = load(s, c.name);
  if (!r) return std::unexpected(r.error());
  if (r->paused && !c.catch_up) r->last_slot = std::max(r->last_slot, c.time);
  r->paused = false;
  r->pause_note.clear();
  r->updated_time = c.time;
  put(tx, *r);
  return apply_result{};
}

// create(create_execution_cmd) -> expected<apply_result>; stop(execution id, reason) -> bool
// (true when it ended a running or queued execution).
template <class Tx, class Create, class Stop>
expected<apply_result> fire(impl& s, Tx& tx, const fire_cmd& c, Create create, Stop stop) {
  auto r = load(s, c.schedule);
  if (!r) return std::unexpected(r.error());
  if (c.version != r->version) {
    return fail(errc::invalid_transition,
                fmt::format("schedule '{}' is at version {}; this firing was proposed for version {}", c.schedule,
                            r->version, c.version));
  }
  apply_result out;
  const auto key = fire_key(c.schedule, c.slot, c.version);
  const bool scheduled = !c.manual && !c.from_buffer;
  std::erase_if(r->early, [&](const early_firing& e) { return e.not_before <= c.time; });
  bool duplicate = false;
  if (c.from_buffer) {
    duplicate = r->buffered.empty() || r->buffered.front() != c.slot;
    if (!duplicate) r->buffered.erase(r->buffered.begin());
  } else {
    duplicate = s.get(impl::fires, key).has_value() || (scheduled && c.slot <= r->last_slot);
  }
  if (duplicate) {
    out.outcome = "duplicate";
    // A slot a backfill already ran is decided too: the schedule moves past it.
    if (scheduled && c.slot > r->last_slot) {
      r->last_slot = c.slot;
      put(tx, *r);
    }
    return out;
  }
  out.outcome = std::string(to_string(c.outcome));
  switch (c.outcome) {
    case fire_outcome::skipped_misfire: r->counts.misfired_skipped += std::max<std::int64_t>(1, c.skipped); break;
    case fire_outcome::skipped_overlap: ++r->counts.overlap_skipped; break;
    case fire_outcome::buffered:
      r->buffered.push_back(c.slot);
      ++r->counts.buffered;
      break;
    case fire_outcome::fired: {
      if (!c.error.empty()) {
        out.outcome = "failed";
        ++r->counts.failed;
        r->last_error = c.error;
        break;
      }
      if (c.cancel_execution > 0 &&
          stop(c.cancel_execution,
               fmt::format("cancelled by schedule '{}' (overlap policy cancel_running) for its slot {}", c.schedule,
                           format_timestamp(c.slot)))) {
        ++r->counts.cancelled_running;
        out.executions.push_back(c.cancel_execution);
      }
      auto created = create(c.execution);
      if (!created) {
        out.outcome = "failed";
        ++r->counts.failed;
        r->last_error = created.error().message();
        break;
      }
      out.execution_id = created->execution_id;
      out.instance_id = created->instance_id;
      // Recorded ahead of its slot: kept until the slot comes, so a pause before it can withdraw it.
      if (c.execution.not_before > c.time) {
        r->early.push_back({c.slot, c.execution.not_before, created->execution_id, r->last_slot});
      }
      ++r->counts.fired;
      if (c.misfired) ++r->counts.misfired_fired;
      r->last_execution_id = created->execution_id;
      r->last_fire_time = c.time;
      r->last_fire_slot = c.slot;
      r->last_error.clear();
      break;
    }
  }
  if (scheduled) r->last_slot = std::max(r->last_slot, c.slot);
  tx.put(impl::fires, key, serialize_fire(out.outcome, c.time, out.execution_id, c.manual));
  put(tx, *r);
  return out;
}

}  // namespace kiln::schedule_apply
