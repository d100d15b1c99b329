// Schedule records as the state machine stores them, and the policy names.

#include "../json_fields.hpp"

#include <kiln/schedule.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace kiln {

namespace json = boost::json;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// trigger.hpp's to_string lives with the evaluator; the state machine does not need that.
std::string_view kind_name(trigger_kind k) {
  switch (k) {
    case trigger_kind::cron: return "cron";
    case trigger_kind::interval: return "interval";
    case trigger_kind::once: return "once";
  }
  return "cron";
}

}  // namespace

std::string_view to_string(misfire_policy p) {
  switch (p) {
    case misfire_policy::fire_once_now: return "fire_once_now";
    case misfire_policy::fire_all: return "fire_all";
    case misfire_policy::skip: return "skip";
  }
  return "fire_once_now";
}

std::string_view to_string(overlap_policy p) {
  switch (p) {
    case overlap_policy::allow: return "allow";
    case overlap_policy::skip: return "skip";
    case overlap_policy::buffer_one: return "buffer_one";
    case overlap_policy::buffer_all: return "buffer_all";
    case overlap_policy::cancel_running: return "cancel_running";
  }
  return "allow";
}

std::string_view to_string(fire_outcome o) {
  switch (o) {
    case fire_outcome::fired: return "fired";
    case fire_outcome::skipped_misfire: return "skipped_misfire";
    case fire_outcome::skipped_overlap: return "skipped_overlap";
    case fire_outcome::buffered: return "buffered";
  }
  return "fired";
}

std::optional<fire_outcome> parse_fire_outcome(std::string_view text) {
  for (auto o : {fire_outcome::fired, fire_outcome::skipped_misfire, fire_outcome::skipped_overlap,
                 fire_outcome::buffered}) {
    if (to_string(o) == text) return o;
  }
  return std::nullopt;
}

expected<misfire_policy> parse_misfire_policy(std::string_view text) {
  const auto t = lower(text);
  for (auto p : {misfire_policy::fire_once_now, misfire_policy::fire_all, misfire_policy::skip}) {
    if (to_string(p) == t) return p;
  }
  return fail(errc::bad_usage,
              fmt::format("unknown misfire policy '{}'; use fire_once_now (default), fire_all or skip", text));
}

expected<overlap_policy> parse_overlap_policy(std::string_view text) {
  const auto t = lower(text);
  if (t == "forbid") return overlap_policy::skip;
  if (t == "replace") return overlap_policy::cancel_running;
  for (auto p : {overlap_policy::allow, overlap_policy::skip, overlap_policy::buffer_one, overlap_policy::buffer_all,
                 overlap_policy::cancel_running}) {
    if (to_string(p) == t) return p;
  }
  return fail(errc::bad_usage,
              fmt::format("unknown overlap policy '{}'; use allow (default), skip, buffer_one, buffer_all or "
                          "cancel_running (or Kubernetes' Allow, Forbid, Replace)",
                          text));
}

std::string run_key(std::string_view schedule, std::int64_t slot, std::int64_t version) {
  return fmt::format("{}@{}#{}", schedule, format_utc(slot), version);
}

json::value to_json(const schedule_record& s) {
  json::array params(s.parameters.begin(), s.parameters.end());
  json::array buffered(s.buffered.begin(), s.buffered.end());
  json::array early;
  for (const auto& e : s.early) {
    early.push_back(json::object{{"slot", e.slot}, {"not_before", e.not_before}, {"execution_id", e.execution_id},
                                  {"last_slot_before", e.last_slot_before}});
  }
  return json::object{
      {"name", s.name},
      {"job", s.job},
      {"kind", kind_name(s.trigger.kind)},
      {"cron", s.trigger.cron},
      {"interval_ms", s.trigger.interval_ms},
      {"every", s.every},
      {"at_ms", s.trigger.at_ms},
      {"time_zone", s.trigger.time_zone},
      {"start_ms", s.trigger.start_ms},
      {"end_ms", s.trigger.end_ms},
      {"jitter_ms", s.jitter_ms},
      {"misfire", to_string(s.misfire)},
      {"max_catchup", s.max_catchup},
      {"misfire_threshold_ms", s.misfire_threshold_ms},
      {"overlap", to_string(s.overlap)},
      {"priority", s.priority},
      {"queue", s.queue},
      {"parameters", std::move(params)},
      {"version", s.version},
      {"created_time", s.created_time},
      {"updated_time", s.updated_time},
      {"paused", s.paused},
      {"pause_note", s.pause_note},
      {"last_slot", s.last_slot},
      {"last_fire_time", s.last_fire_time},
      {"last_fire_slot", s.last_fire_slot},
      {"last_execution_id", s.last_execution_id},
      {"buffered", std::move(buffered)},
      {"early", std::move(early)},
      {"last_error", s.last_error},
      {"counts", json::object{{"fired", s.counts.fired},
                              {"misfired_skipped", s.counts.misfired_skipped},
                              {"misfired_fired", s.counts.misfired_fired},
                              {"overlap_skipped", s.counts.overlap_skipped},
                              {"buffered", s.counts.buffered},
                              {"cancelled_running", s.counts.cancelled_running},
                              {"failed", s.counts.failed},
                              {"withdrawn", s.counts.withdrawn}}}};
}

expected<schedule_record> schedule_from_json(const json::value& v) {
  detail::json_reader r(v, "schedule");
  schedule_record s;
  s.name = r.str("name");
  s.job = r.str("job");
  const auto kind = r.str("kind", "cron");
  if (kind == "cron") s.trigger.kind = trigger_kind::cron;
  else if (kind == "interval") s.trigger.kind = trigger_kind::interval;
  else if (kind == "once") s.trigger.kind = trigger_kind::once;
  else return fail(errc::bad_command, fmt::format("schedule: unknown trigger kind '{}'", kind));
  s.trigger.cron = r.str("cron");
  s.trigger.interval_ms = r.i64("interval_ms");
  s.every = r.str("every");
  s.trigger.at_ms = r.i64("at_ms");
  s.trigger.time_zone = r.str("time_zone", "UTC");
  s.trigger.start_ms = r.i64("start_ms");
  s.trigger.end_ms = r.i64("end_ms");
  s.jitter_ms = r.i64("jitter_ms");
  auto misfire = parse_misfire_policy(r.str("misfire", "fire_once_now"));
  if (!misfire) return fail(errc::bad_command, misfire.error().message());
  s.misfire = *misfire;
  s.max_catchup = r.i64("max_catchup", 100);
  s.misfire_threshold_ms = r.i64("misfire_threshold_ms", 60000);
  auto overlap = parse_overlap_policy(r.str("overlap", "allow"));
  if (!overlap) return fail(errc::bad_command, overlap.error().message());
  s.overlap = *overlap;
  s.priority = r.i64("priority");
  s.queue = r.str("queue", "default");
  if (const auto* p = r.raw("parameters"); p && p->is_array()) {
    for (const auto& e : p->as_array()) {
      if (!e.is_string()) return fail(errc::bad_command, "schedule: parameters must be \"name=value\" strings");
      s.parameters.emplace_back(e.as_string());
    }
  }
  s.version = r.i64("version");
  s.created_time = r.i64("created_time");
  s.updated_time = r.i64("updated_time");
  s.paused = r.boolean("paused");
  s.pause_note = r.str("pause_note");
  s.last_slot = r.i64("last_slot");
  s.last_fire_time = r.i64("last_fire_time");
  s.last_fire_slot = r.i64("last_fire_slot");
  s.last_execution_id = r.i64("last_execution_id");
  if (const auto* b = r.raw("buffered"); b && b->is_array()) {
    for (const auto& e : b->as_array()) {
      if (!e.is_int64()) return fail(errc::bad_command, "schedule: buffered slots must be integers");
      s.buffered.push_back(e.as_int64());
    }
  }
  if (const auto* b = r.raw("early"); b && b->is_array()) {
    for (const auto& e : b->as_array()) {
      detail::json_reader f(e, "schedule early firing");
      s.early.push_back({f.i64("slot"), f.i64("not_before"), f.i64("execution_id"), f.i64("last_slot_before")});
      if (!f.ok()) return std::unexpected(f.failure());
    }
  }
  s.last_error = r.str("last_error");
  const json::value counts = r.obj("counts");
  if (!r.ok()) return std::unexpected(r.failure());
  detail::json_reader c(counts, "schedule counts");
  s.counts.fired = c.i64("fired");
  s.counts.misfired_skipped = c.i64("misfired_skipped");
  s.counts.misfired_fired = c.i64("misfired_fired");
  s.counts.overlap_skipped = c.i64("overlap_skipped");
  s.counts.buffered = c.i64("buffered");
  s.counts.cancelled_running = c.i64("cancelled_running");
  s.counts.failed = c.i64("failed");
  s.counts.withdrawn = c.i64("withdrawn");
  if (!c.ok()) return std::unexpected(c.failure());
  return s;
}

}  // namespace kiln
