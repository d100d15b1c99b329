// Which fire commands a schedule's due slots become: misfire policy, then overlap policy.

#include <kiln/scheduler_core.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <regex>

namespace kiln {

namespace {

// What became of `slot` of schedule `s`, proposed at `now`; `manual` for trigger and backfill.
fire_cmd fire_of(const schedule_record& s, std::int64_t slot, fire_outcome outcome, std::int64_t now, bool manual) {
  fire_cmd c;
  c.schedule = s.name;
  c.slot = slot;
  c.version = s.version;
  c.time = now;
  c.outcome = outcome;
  c.manual = manual;
  return c;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + with.size())) {
    text.replace(pos, what.size(), with);
  }
}

// Each candidate slot (slot, misfired) through the overlap policy, in order. `busy`: a run of the
// schedule is running or was fired earlier in this pass; `buffered`: slots already waiting.
template <class Base, class Fired>
void overlap_pass(overlap_policy overlap, const std::vector<std::pair<std::int64_t, bool>>& candidates,
                  std::int64_t previous_id, bool previous_runs, bool busy, std::size_t buffered,
                  std::vector<fire_cmd>& out, Base base, Fired fired) {
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto [slot, misfired] = candidates[i];
    const bool last = i + 1 == candidates.size();
    if (overlap == overlap_policy::cancel_running) {
      // Replace: of the slots due together only the latest runs; it ends the previous run.
      if (!last) {
        out.push_back(base(slot, fire_outcome::skipped_overlap));
        continue;
      }
      auto c = fired(slot, misfired);
      if (previous_runs) c.cancel_execution = previous_id;
      out.push_back(std::move(c));
      continue;
    }
    if (!busy || overlap == overlap_policy::allow) {
      out.push_back(fired(slot, misfired));
      busy = true;
      continue;
    }
    switch (overlap) {
      case overlap_policy::buffer_one:
        if (buffered == 0) {
          out.push_back(base(slot, fire_outcome::buffered));
          ++buffered;
        } else {
          out.push_back(base(slot, fire_outcome::skipped_overlap));
        }
        break;
      case overlap_policy::buffer_all:
        out.push_back(base(slot, fire_outcome::buffered));
        ++buffered;
        break;
      default: out.push_back(base(slot, fire_outcome::skipped_overlap)); break;
    }
  }
}

}  // namespace

expected<create_execution_cmd> build_firing(const registry& jobs, const schedule_record& s, std::int64_t slot,
                                            std::int64_t now) {
  const job* j = jobs.find(s.job);
  if (!j) return fail(errc::unknown_job, fmt::format("schedule '{}': job '{}' is not registered on this node", s.name, s.job));
  const std::string when = format_utc(slot);
  std::vector<std::string> args = s.parameters;
  for (auto& a : args) {
    replace_all(a, "{schedule}", s.name);
    replace_all(a, "{scheduled_time}", when);
  }
  auto params = j->parameters_from(args);
  if (!params) {
    return fail(params.error().code(), fmt::format("schedule '{}', job '{}': {}", s.name, s.job, params.error().message()));
  }
  if (!params->contains("scheduled_time")) params->set("scheduled_time", {timestamp_ms{slot}, true});
  create_execution_cmd c;
  c.job = j->name();
  c.parameters = std::move(*params);
  c.restartable = j->restartable();
  c.time = now;
  c.queue = s.queue.empty() ? std::string("default") : s.queue;
  c.priority = s.priority;
  c.forbid_concurrent = j->concurrency() == concurrency_policy::forbid;
  c.run_key = run_key(s.name, slot, s.version);
  return c;
}

std::int64_t jitter_of(const schedule_record& s, std::int64_t slot) {
  if (s.jitter_ms <= 0) return 0;
  // FNV-1a over the name and the slot: stable across runs, builds and nodes.
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](unsigned char b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  for (unsigned char c : s.name) mix(c);
  auto u = static_cast<std::uint64_t>(slot);
  for (int i = 0; i < 8; ++i, u >>= 8) mix(static_cast<unsigned char>(u & 0xff));
  return static_cast<std::int64_t>(h % static_cast<std::uint64_t>(s.jitter_ms));
}

expected<trigger> trigger_of(const schedule_record& s) { return trigger::make(s.trigger); }

expected<schedule_record> make_schedule(const registry& jobs, const schedule_definition& d, std::int64_t now) {
  static const std::regex name_re("[A-Za-z0-9_.-]{1,64}");
  if (!std::regex_match(d.name, name_re)) {
    return fail(errc::bad_usage, fmt::format("schedule name '{}' must be 1-64 letters, digits, '_', '.' or '-'", d.name));
  }
  if (d.job.empty()) return fail(errc::bad_usage, "a schedule needs a job ('job')");
  if (!jobs.find(d.job)) {
    return fail(errc::unknown_job, fmt::format("unknown job '{}'; GET /api/v1/jobs (or `kiln jobs`) lists them", d.job));
  }
  const int kinds = !d.cron.empty() + !d.every.empty() + !d.at.empty();
  if (kinds != 1) {
    return fail(errc::bad_usage, "give exactly one trigger: cron (\"0 0 2 * * ?\"), every (\"5m\") or at "
                                 "(\"2026-12-01T02:00:00Z\")");
  }
  schedule_record s;
  s.name = d.name;
  s.job = d.job;
  s.trigger.time_zone = d.time_zone.empty() ? std::string("UTC") : d.time_zone;
  auto instant = [&](const std::string& text, const char* what) -> expected<std::int64_t> {
    auto ms = parse_instant_ms(text, s.trigger.time_zone);
    if (!ms) return fail(errc::bad_usage, fmt::format("'{}': {}", what, ms.error().message()));
    return ms;
  };
  if (!d.start.empty()) {
    auto ms = instant(d.start, "start");
    if (!ms) return std::unexpected(ms.error());
    s.trigger.start_ms = *ms;
  }
  if (!d.end.empty()) {
    auto ms = instant(d.end, "end");
    if (!ms) return std::unexpected(ms.error());
    s.trigger.end_ms = *ms;
  }
  if (s.trigger.end_ms && s.trigger.start_ms && s.trigger.end_ms <= s.trigger.start_ms) {
    return fail(errc::bad_usage, "'end' must be after 'start'");
  }
  if (!d.cron.empty()) {
    s.trigger.kind = trigger_kind::cron;
    s.trigger.cron = d.cron;
  } else if (!d.every.empty()) {
    auto ms = parse_duration_ms(d.every);
    if (!ms) return fail(errc::bad_usage, fmt::format("'every': {}", ms.error().message()));
    s.trigger.kind = trigger_kind::interval;
    s.trigger.interval_ms = *ms;
    s.every = d.every;
    // Without a start, slots fall on multiples of the interval since the epoch (every 5m: :00, :05,
    // ...), with no lower bound that would keep a backfill out: the anchor is the first multiple.
    if (!s.trigger.start_ms) s.trigger.start_ms = *ms;
  } else {
    auto ms = instant(d.at, "at");
    if (!ms) return std::unexpected(ms.error());
    if (*ms <= now) {
      return fail(errc::bad_usage, fmt::format("'at' {} has already passed; give a future time (or use "
                                               "`trigger` to run it now)",
                                               format_utc(*ms)));
    }
    s.trigger.kind = trigger_kind::once;
    s.trigger.at_ms = *ms;
  }
  if (auto t = trigger::make(s.trigger); !t) return fail(errc::bad_usage, t.error().message());
  if (!d.jitter.empty() && d.jitter != "0") {
    auto ms = parse_duration_ms(d.jitter);
    if (!ms) return fail(errc::bad_usage, fmt::format("'jitter': {}", ms.error().message()));
    s.jitter_ms = *ms;
  }
  auto misfire = parse_misfire_policy(d.misfire.empty() ? "fire_once_now" : d.misfire);
  if (!misfire) return std::unexpected(misfire.error());
  s.misfire = *misfire;
  auto overlap = parse_overlap_policy(d.overlap.empty() ? "allow" : d.overlap);
  if (!overlap) return std::unexpected(overlap.error());
  s.overlap = *overlap;
  if (d.max_catchup < 0) return fail(errc::bad_usage, "'max_catchup' must be 0 or more");
  if (d.misfire_threshold_ms < 0) return fail(errc::bad_usage, "'misfire_threshold_ms' must be 0 or more");
  s.max_catchup = d.max_catchup;
  s.misfire_threshold_ms = d.misfire_threshold_ms;
  static const std::regex queue_re("[A-Za-z0-9_.-]{1,64}");
  s.queue = d.queue.empty() ? std::string("default") : d.queue;
  if (!std::regex_match(s.queue, queue_re)) return fail(errc::bad_usage, "'queue' must be 1-64 letters, digits, '_', '.' or '-'");
  s.priority = d.priority;
  for (const auto& p : d.parameters) {
    if (p.find('=') == std::string::npos) {
      return fail(errc::bad_parameter, fmt::format("parameter '{}' must be name=value", p));
    }
  }
  s.parameters = d.parameters;
  // The parameters must type against the job's specs once the placeholders are filled in.
  if (auto sample = build_firing(jobs, s, now, now); !sample) return std::unexpected(sample.error());
  return s;
}

std::vector<fire_cmd> plan_manual(const registry& jobs, const schedule_record& s, const std::vector<std::int64_t>& slots,
                                  overlap_policy overlap, bool previous_runs, std::int64_t now) {
  std::vector<fire_cmd> out;
  auto base = [&](std::int64_t slot, fire_outcome o) { return fire_of(s, slot, o, now, true); };
  auto fired = [&](std::int64_t slot, bool) {
    auto c = base(slot, fire_outcome::fired);
    if (auto e = build_firing(jobs, s, slot, now)) c.execution = std::move(*e);
    else c.error = e.error().message();
    return c;
  };
  std::vector<std::pair<std::int64_t, bool>> candidates;
  for (auto slot : slots) candidates.emplace_back(slot, false);
  overlap_pass(overlap, candidates, s.last_execution_id, previous_runs, previous_runs, s.buffered.size(), out, base,
               fired);
  return out;
}

std::vector<std::int64_t> upcoming_slots(const schedule_record& s, std::int64_t now, std::size_t n) {
  std::vector<std::int64_t> out;
  if (s.paused) return out;
  auto t = trigger_of(s);
  if (!t) return out;
  // A slot fired ahead whose instant has not come is still upcoming: its execution waits for it.
  auto from = std::max(now, s.last_slot);
  for (const auto& e : s.early) {
    if (e.not_before > now) from = std::min(from, std::max(now, e.slot - 1));
  }
  auto next = t->next_after(from);
  while (next && out.size() < n) {
    out.push_back(*next);
    next = t->next_after(*next);
  }
  return out;
}

expected<std::vector<std::int64_t>> slots_between(const schedule_record& s, std::int64_t from, std::int64_t to,
                                                  std::size_t limit) {
  auto t = trigger_of(s);
  if (!t) return std::unexpected(t.error());
  std::vector<std::int64_t> out;
  auto next = t->next_after(from - 1);
  while (next && *next <= to) {
    if (out.size() >= limit) {
      return fail(errc::bad_usage, fmt::format("the range holds more than {} slots of schedule '{}'; backfill a "
                                               "shorter range at a time",
                                               limit, s.name));
    }
    out.push_back(*next);
    next = t->next_after(*next);
  }
  return out;
}

std::int64_t fire_pace::lead(std::size_t k) const {
  if (max_lead_ms <= 0) return 0;
  const double ms = 2.0 * static_cast<double>(std::max<std::int64_t>(0, latency_ms)) +
                    2.0 * static_cast<double>(k) / std::max(per_ms, 0.001);
  return std::min(max_lead_ms, static_cast<std::int64_t>(std::ceil(ms)));
}

scheduler_core::scheduler_core(environment env, scheduler_core_options options)
    : env_(std::move(env)), options_(options) {}

void scheduler_core::load(const std::vector<schedule_record>& all) {
  entries_.clear();
  by_due_.clear();
  buffered_.clear();
  for (const auto& s : all) put(s);
}

void scheduler_core::put(const schedule_record& s) {
  auto it = entries_.find(s.name);
  if (it != entries_.end()) {
    unindex(s.name);
    // The trigger is compiled again only when the definition changed.
    if (it->second.record.version != s.version || !it->second.trig) it->second.trig.reset();
    it->second.record = s;
  } else {
    it = entries_.emplace(s.name, entry{s, std::nullopt, std::nullopt}).first;
  }
  if (!it->second.trig) {
    auto t = trigger_of(s);
    if (t) {
      it->second.trig = std::move(*t);
    } else {
      spdlog::error("schedule '{}' cannot fire: {}", s.name, t.error().message());
    }
  }
  index(s.name);
}

void scheduler_core::forget(const std::string& name) {
  unindex(name);
  entries_.erase(name);
}

void scheduler_core::index(const std::string& name) {
  auto& e = entries_.at(name);
  e.due_at.reset();
  if (!e.record.buffered.empty()) buffered_.insert(name);
  if (e.record.paused || !e.trig) return;
  if (auto next = e.trig->next_after(e.record.last_slot)) {
    e.due_at = *next + jitter_of(e.record, *next);
    by_due_.emplace(*e.due_at, name);
  }
}

void scheduler_core::unindex(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  if (it->second.due_at) by_due_.erase({*it->second.due_at, name});
  it->second.due_at.reset();
  buffered_.erase(name);
}

std::optional<std::int64_t> scheduler_core::next_due() const {
  if (by_due_.empty()) return std::nullopt;
  return by_due_.begin()->first;
}

bool scheduler_core::previous_runs(const schedule_record& s) const {
  return s.last_execution_id > 0 && env_.running && env_.running(s.last_execution_id);
}

bool scheduler_core::may_fire_ahead(const schedule_record& s) const {
  if (s.overlap == overlap_policy::allow) return true;
  return s.buffered.empty() && !previous_runs(s);
}

template <class Visit>
void scheduler_core::walk_ahead(const fire_pace& pace, Visit visit) const {
  std::size_t k = 0;
  for (const auto& [due_at, name] : by_due_) {
    ++k;
    const bool ahead = pace.max_lead_ms > 0 && may_fire_ahead(entries_.at(name).record);
    if (!visit(due_at, ahead ? due_at - pace.lead(k) : due_at)) return;
  }
}

std::int64_t scheduler_core::horizon(std::int64_t now, const fire_pace& pace) const {
  std::int64_t until = now;
  if (pace.max_lead_ms <= 0) return until;
  walk_ahead(pace, [&](std::int64_t due_at, std::int64_t by) {
    if (due_at > now + pace.max_lead_ms) return false;
    if (by <= now) until = std::max(until, due_at);
    return true;
  });
  return until;
}

std::optional<std::int64_t> scheduler_core::next_wake(const fire_pace& pace) const {
  if (by_due_.empty()) return std::nullopt;
  const auto first = by_due_.begin()->first;
  std::int64_t wake = first;
  if (pace.max_lead_ms <= 0) return wake;
  walk_ahead(pace, [&](std::int64_t due_at, std::int64_t by) {
    if (due_at > first + pace.max_lead_ms) return false;
    wake = std::min(wake, by);
    return true;
  });
  return wake;
}

std::vector<fire_cmd> scheduler_core::due(std::int64_t now, std::int64_t until, const std::set<std::string>& skip) const {
  std::vector<fire_cmd> out;
  std::set<std::string> planned;
  auto add = [&](const std::string& name) {
    if (planned.contains(name) || skip.contains(name)) return;
    planned.insert(name);
    const auto& e = entries_.at(name);
    if (!e.trig) return;
    auto cmds = plan(e.record, *e.trig, now, until);
    std::move(cmds.begin(), cmds.end(), std::back_inserter(out));
  };
  for (const auto& name : buffered_) {
    if (out.size() >= options_.max_batch) break;
    add(name);
  }
  until = std::max(until, now);
  for (auto it = by_due_.begin(); it != by_due_.end() && it->first <= until && out.size() < options_.max_batch; ++it) {
    add(it->second);
  }
  return out;
}

std::vector<fire_cmd> scheduler_core::plan(const schedule_record& s, const trigger& t, std::int64_t now,
                                           std::int64_t until) const {
  std::vector<fire_cmd> out;
  if (s.paused) return out;
  auto base = [&](std::int64_t slot, fire_outcome o) { return fire_of(s, slot, o, now, false); };
  auto fired = [&](std::int64_t slot, bool misfired) {
    auto c = base(slot, fire_outcome::fired);
    c.misfired = misfired;
    if (auto e = env_.build(s, slot, now)) {
      c.execution = std::move(*e);
      // Ahead of its instant: the execution waits for it.
      if (const auto at = slot + jitter_of(s, slot); at > now) c.execution.not_before = at;
    } else {
      c.error = e.error().message();
    }
    return c;
  };

  // The previous run, as committed. A run fired in this pass makes the schedule busy too.
  const bool previous_runs = this->previous_runs(s);
  bool busy = previous_runs;
  std::size_t buffered = s.buffered.size();
  if (buffered > 0 && !busy) {
    auto c = fired(s.buffered.front(), false);
    c.from_buffer = true;
    out.push_back(std::move(c));
    busy = true;
    --buffered;
  }

  // Slots whose instant has come, then those to fire ahead (from the first whose instant is after now).
  std::vector<std::int64_t> slots;
  std::vector<std::int64_t> ahead;
  until = std::max(until, now);
  for (auto next = t.next_after(s.last_slot);
       next && *next + jitter_of(s, *next) <= until && slots.size() + ahead.size() < options_.max_slots_per_pass;
       next = t.next_after(*next)) {
    if (ahead.empty() && *next + jitter_of(s, *next) <= now) slots.push_back(*next);
    else ahead.push_back(*next);
  }
  if (slots.empty() && ahead.empty()) return out;

  // Missed slots (later than the threshold) form a prefix: the misfire policy decides which fire.
  std::size_t late = 0;
  while (late < slots.size() && now - (slots[late] + jitter_of(s, slots[late])) > s.misfire_threshold_ms) ++late;
  std::vector<std::pair<std::int64_t, bool>> candidates;  // slot, misfired
  if (late > 0) {
    std::size_t keep = 0;
    switch (s.misfire) {
      case misfire_policy::skip: keep = 0; break;
      case misfire_policy::fire_once_now: keep = 1; break;
      case misfire_policy::fire_all: keep = static_cast<std::size_t>(std::max<std::int64_t>(0, s.max_catchup)); break;
    }
    keep = std::min(keep, late);
    if (late > keep) {
      // One command drops the oldest ones: the state machine counts them and moves past the last.
      auto c = base(slots[late - keep - 1], fire_outcome::skipped_misfire);
      c.skipped = static_cast<std::int64_t>(late - keep);
      out.push_back(std::move(c));
    }
    for (auto i = late - keep; i < late; ++i) candidates.emplace_back(slots[i], true);
  }
  for (auto i = late; i < slots.size(); ++i) candidates.emplace_back(slots[i], false);
  // Ahead of their instant, slots fire only where the overlap decision cannot change before it.
  if (s.overlap == overlap_policy::allow) {
    for (auto slot : ahead) candidates.emplace_back(slot, false);
  } else if (!ahead.empty() && candidates.empty() && !busy && buffered == 0) {
    candidates.emplace_back(ahead.front(), false);
  }
  if (candidates.empty()) return out;

  overlap_pass(s.overlap, candidates, s.last_execution_id, previous_runs, busy, buffered, out, base, fired);
  return out;
}

}  // namespace kiln
