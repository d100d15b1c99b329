// REST: /api/v1/schedules. The JSON shapes are the contract in docs/rest-api.md ("Schedules").

#include "schedule_routes.hpp"

#include "http_replies.hpp"

#include <kiln/progress.hpp>
#include <kiln/scheduler_core.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include <charconv>

namespace kiln::node_detail {

namespace json = boost::json;

namespace {

constexpr const char* name_path = "/api/v1/schedules/([A-Za-z0-9_.-]+)";



// An empty body is an empty object.
expected<json::object> body_object(const std::string& body) {
  if (body.empty()) return json::object{};
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return fail(errc::bad_usage, "the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return fail(errc::bad_usage, "the body must be a JSON object");
  return v.as_object();
}

json::value iso_or_null(std::int64_t ms) {
  if (ms <= 0) return nullptr;
  return json::value(format_utc(ms));
}

expected<std::string> text_field(const json::value& v, std::string_view key) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64() || v.is_uint64()) return json::serialize(v);
  if (v.is_double()) return fmt::format("{}", v.as_double());
  if (v.is_bool()) return std::string(v.as_bool() ? "true" : "false");
  return fail(errc::bad_usage, fmt::format("'{}' must be a string or a number", key));
}

expected<std::int64_t> int_field(const json::value& v, std::string_view key) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.as_uint64());
  return fail(errc::bad_usage, fmt::format("'{}' must be an integer", key));
}

// A time: ISO-8601, or milliseconds since the epoch.
expected<std::int64_t> instant_field(const json::value& v, std::string_view key) {
  if (v.is_int64()) return v.as_int64();
  if (!v.is_string()) return fail(errc::bad_usage, fmt::format("'{}' must be a time like 2026-12-01T02:00:00Z", key));
  auto ms = parse_instant_ms(v.as_string(), "UTC");
  if (!ms) return fail(errc::bad_usage, fmt::format("'{}': {}", key, ms.error().message()));
  return ms;
}

// The body of POST /api/v1/schedules and PUT /api/v1/schedules/{name}. Fields of the schedule
// object that the node keeps (version, counts, next_fire_time...) are ignored, so a client may send
// back what it read.
expected<schedule_definition> parse_definition(const json::object& o) {
  schedule_definition d;
  auto set_text = [&](std::string& out, const json::value& v, std::string_view key) -> expected<void> {
    if (v.is_null()) return {};
    auto t = text_field(v, key);
    if (!t) return std::unexpected(t.error());
    out = *t;
    return {};
  };
  for (const auto& [key, v] : o) {
    expected<void> ok;
    if (key == "name") ok = set_text(d.name, v, key);
    else if (key == "job") ok = set_text(d.job, v, key);
    else if (key == "cron") ok = set_text(d.cron, v, key);
    else if (key == "every") ok = set_text(d.every, v, key);
    else if (key == "at") ok = set_text(d.at, v, key);
    else if (key == "trigger") {
      if (!v.is_object()) return fail(errc::bad_usage, "'trigger' must be {\"cron\": ...}, {\"every\": ...} or {\"at\": ...}");
      for (const auto& [tk, tv] : v.as_object()) {
        if (tk == "cron") ok = set_text(d.cron, tv, "trigger.cron");
        else if (tk == "every") ok = set_text(d.every, tv, "trigger.every");
        else if (tk == "at") ok = set_text(d.at, tv, "trigger.at");
        else if (tk == "kind" || tk == "every_ms") continue;
        else return fail(errc::bad_usage, fmt::format("unknown trigger field '{}'; use cron, every or at", std::string(tk)));
        if (!ok) return std::unexpected(ok.error());
      }
    } else if (key == "time_zone" || key == "tz") ok = set_text(d.time_zone, v, key);
    else if (key == "start") ok = set_text(d.start, v, key);
    else if (key == "end") ok = set_text(d.end, v, key);
    else if (key == "jitter") ok = set_text(d.jitter, v, key);
    else if (key == "jitter_ms") {
      auto n = int_field(v, key);
      if (!n) return std::unexpected(n.error());
      if (*n > 0) d.jitter = fmt::format("{}ms", *n);
    } else if (key == "misfire") ok = set_text(d.misfire, v, key);
    else if (key == "overlap") ok = set_text(d.overlap, v, key);
    else if (key == "queue") ok = set_text(d.queue, v, key);
    else if (key == "priority" || key == "max_catchup" || key == "misfire_threshold_ms") {
      auto n = int_field(v, key);
      if (!n) return std::unexpected(n.error());
      if (key == "priority") d.priority = *n;
      else if (key == "max_catchup") d.max_catchup = *n;
      else d.misfire_threshold_ms = *n;
    } else if (key == "parameters") {
      if (v.is_object()) {
        for (const auto& [pn, pv] : v.as_object()) {
          auto t = text_field(pv, pn);
          if (!t) return fail(errc::bad_parameter, fmt::format("parameter '{}': the value must be a string, number or boolean", std::string(pn)));
          d.parameters.push_back(std::string(pn) + "=" + *t);
        }
      } else if (v.is_array()) {
        for (const auto& pv : v.as_array()) {
          if (!pv.is_string()) return fail(errc::bad_parameter, "'parameters' as a list must hold \"name=value\" strings");
          d.parameters.emplace_back(pv.as_string());
        }
      } else if (!v.is_null()) {
        return fail(errc::bad_parameter, "'parameters' must be an object ({\"line\": \"x\"}) or a list ([\"line=x\"])");
      }
    } else if (key == "version" || key == "paused" || key == "pause_note" || key == "next_fire_time" ||
               key == "next_fire_times" || key == "last_fire_time" || key == "last_execution_id" ||
               key == "last_status" || key == "last_error" || key == "counts" || key == "fired_ahead") {
      continue;  // kept by the node
    } else {
      return fail(errc::bad_usage,
                  fmt::format("unknown field '{}'; a schedule has name, job, trigger, time_zone, start, end, jitter, "
                              "misfire, max_catchup, misfire_threshold_ms, overlap, priority, queue and parameters",
                              std::string(key)));
    }
    if (!ok) return std::unexpected(ok.error());
  }
  return d;
}

std::string path_name(const httplib::Request& req) { return req.matches[1]; }

}  // namespace

json::object schedule_json(const job_operator& node, const schedule_record& s) {
  json::object trig;
  switch (s.trigger.kind) {
    case trigger_kind::cron: trig = {{"kind", "cron"}, {"cron", s.trigger.cron}}; break;
    case trigger_kind::interval:
      trig = {{"kind", "interval"}, {"every", s.every}, {"every_ms", s.trigger.interval_ms}};
      break;
    case trigger_kind::once: trig = {{"kind", "once"}, {"at", format_utc(s.trigger.at_ms)}}; break;
  }
  json::object params;
  for (const auto& p : s.parameters) {
    const auto eq = p.find('=');
    params[p.substr(0, eq)] = eq == std::string::npos ? std::string() : p.substr(eq + 1);
  }
  json::value last_status = nullptr;
  if (s.last_execution_id > 0) {
    if (auto e = node.execution(s.last_execution_id)) last_status = json::value(to_string(e->status));
  }
  const auto now = now_ms();
  const auto next = upcoming_slots(s, now, 1);
  // Slots fired ahead whose instant has not come: their executions wait in the queue until then.
  json::array ahead;
  for (const auto& e : s.early) {
    if (e.not_before <= now) continue;
    ahead.push_back(json::object{{"slot", format_utc(e.slot)},
                                 {"not_before", format_timestamp(e.not_before)},
                                 {"execution_id", e.execution_id}});
  }
  return json::object{
      {"name", s.name},
      {"job", s.job},
      {"version", s.version},
      {"trigger", std::move(trig)},
      {"time_zone", s.trigger.time_zone},
      // An interval without a given start is anchored at the epoch (start_ms == interval_ms): no start.
      {"start", s.trigger.kind == trigger_kind::interval && s.trigger.start_ms == s.trigger.interval_ms
                    ? json::value(nullptr)
                    : iso_or_null(s.trigger.start_ms)},
      {"end", iso_or_null(s.trigger.end_ms)},
      {"jitter_ms", s.jitter_ms},
      {"misfire", to_string(s.misfire)},
      {"max_catchup", s.max_catchup},
      {"misfire_threshold_ms", s.misfire_threshold_ms},
      {"overlap", to_string(s.overlap)},
      {"priority", s.priority},
      {"queue", s.queue},
      {"parameters", std::move(params)},
      {"paused", s.paused},
      {"pause_note", s.pause_note},
      {"next_fire_time", next.empty() ? json::value(nullptr) : json::value(format_utc(next[0]))},
      {"last_fire_time", iso_or_null(s.last_fire_time)},
      {"last_execution_id", s.last_execution_id > 0 ? json::value(s.last_execution_id) : json::value(nullptr)},
      {"last_status", last_status},
      {"last_error", s.last_error},
      {"fired_ahead", std::move(ahead)},
      {"counts", json::object{{"fired", s.counts.fired},
                              {"misfired_skipped", s.counts.misfired_skipped},
                              {"misfired_fired", s.counts.misfired_fired},
                              {"overlap_skipped", s.counts.overlap_skipped},
                              {"buffered", s.counts.buffered},
                              {"cancelled_running", s.counts.cancelled_running},
                              {"failed", s.counts.failed},
                              {"withdrawn", s.counts.withdrawn}}}};
}

void add_schedule_routes(httplib::Server& s, job_operator& node, std::size_t max_body_bytes) {
  s.Get("/api/v1/schedules", [&node](const httplib::Request&, httplib::Response& res) {
    json::array out;
    for (const auto& sc : node.schedules()) out.push_back(schedule_json(node, sc));
    send_json(res, 200, json::object{{"schedules", std::move(out)}});
  });
  s.Post("/api/v1/schedules", [&node, max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                                      const httplib::ContentReader& reader) {
    const auto body = read_body(req, res, reader, max_body_bytes);
    if (!body) return;
    if (body->empty()) {
      return send_error(res, 400, "bad_usage",
                        "the body is empty; send a schedule like {\"name\": \"n\", \"job\": \"j\", \"trigger\": "
                        "{\"every\": \"5m\"}}");
    }
    auto o = body_object(*body);
    if (!o) return send_error(res, o.error());
    auto d = parse_definition(*o);
    if (!d) return send_error(res, d.error());
    if (d->name.empty()) return send_error(res, 400, "bad_usage", "missing 'name': the schedule's name");
    auto r = node.create_schedule(*d);
    if (!r) return send_error(res, r.error());
    res.set_header("Location", fmt::format("/api/v1/schedules/{}", r->name));
    send_json(res, 201, schedule_json(node, *r));
  });
  s.Get(name_path, [&node](const httplib::Request& req, httplib::Response& res) {
    auto sc = node.schedule(path_name(req));
    if (!sc) return send_error(res, sc.error());
    auto o = schedule_json(node, *sc);
    json::array times;
    if (auto t = trigger_of(*sc)) {
      for (auto slot : upcoming_slots(*sc, now_ms(), 10)) {
        times.push_back(json::object{{"utc", format_utc(slot)}, {"local", t->local_time(slot)}});
      }
    }
    o["next_fire_times"] = std::move(times);
    send_json(res, 200, o);
  });
  s.Put(name_path, [&node, max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                           const httplib::ContentReader& reader) {
    const auto body = read_body(req, res, reader, max_body_bytes);
    if (!body) return;
    auto o = body_object(*body);
    if (!o) return send_error(res, o.error());
    auto d = parse_definition(*o);
    if (!d) return send_error(res, d.error());
    const auto name = path_name(req);
    if (!d->name.empty() && d->name != name) {
      return send_error(res, 400, "bad_usage",
                        fmt::format("the body names schedule '{}' but the path '{}'; a schedule cannot be renamed",
                                    d->name, name));
    }
    d->name = name;
    auto r = node.update_schedule(*d);
    if (!r) return send_error(res, r.error());
    send_json(res, 200, schedule_json(node, *r));
  });
  s.Delete(name_path, [&node](const httplib::Request& req, httplib::Response& res) {
    const auto name = path_name(req);
    if (auto r = node.delete_schedule(name); !r) return send_error(res, r.error());
    send_json(res, 200, json::object{{"deleted", name}});
  });
  s.Post(std::string(name_path) + "/(pause|resume|trigger|backfill)",
         [&node, max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
           const auto body = read_body(req, res, reader, max_body_bytes);
           if (!body) return;
           auto o = body_object(*body);
           if (!o) return send_error(res, o.error());
           const auto name = path_name(req);
           const std::string action = req.matches[2];
           if (action == "pause") {
             std::string note;
             if (const auto* n = o->if_contains("note"); n && !n->is_null()) {
               if (!n->is_string()) return send_error(res, 400, "bad_usage", "'note' must be a string");
               note = n->as_string();
             }
             auto r = node.pause_schedule(name, note);
             if (!r) return send_error(res, r.error());
             return send_json(res, 200, schedule_json(node, *r));
           }
           if (action == "resume") {
             bool catch_up = false;
             if (const auto* c = o->if_contains("catch_up"); c && !c->is_null()) {
               if (!c->is_bool()) return send_error(res, 400, "bad_usage", "'catch_up' must be true or false");
               catch_up = c->as_bool();
             }
             auto r = node.resume_schedule(name, catch_up);
             if (!r) return send_error(res, r.error());
             return send_json(res, 200, schedule_json(node, *r));
           }
           if (action == "trigger") {
             auto id = node.trigger_schedule(name);
             if (!id) return send_error(res, id.error());
             res.set_header("Location", fmt::format("/api/v1/executions/{}", *id));
             return send_json(res, 200, json::object{{"execution_id", *id}});
           }
           // backfill
           const auto* from = o->if_contains("from");
           const auto* to = o->if_contains("to");
           if (!from || !to) {
             return send_error(res, 400, "bad_usage",
                               "a backfill needs 'from' and 'to', e.g. {\"from\": \"2026-11-01T00:00:00Z\", \"to\": "
                               "\"2026-11-02T00:00:00Z\"}");
           }
           auto f = instant_field(*from, "from");
           if (!f) return send_error(res, f.error());
           auto t = instant_field(*to, "to");
           if (!t) return send_error(res, t.error());
           std::optional<overlap_policy> overlap;
           if (const auto* p = o->if_contains("overlap"); p && !p->is_null()) {
             if (!p->is_string()) return send_error(res, 400, "bad_usage", "'overlap' must be a policy name");
             auto parsed = parse_overlap_policy(p->as_string());
             if (!parsed) return send_error(res, parsed.error());
             overlap = *parsed;
           }
           bool dry_run = false;
           if (const auto* d = o->if_contains("dry_run"); d && !d->is_null()) {
             if (!d->is_bool()) return send_error(res, 400, "bad_usage", "'dry_run' must be true or false");
             dry_run = d->as_bool();
           }
           for (const auto& [k, _] : *o) {
             if (k != "from" && k != "to" && k != "overlap" && k != "dry_run") {
               return send_error(res, 400, "bad_usage",
                                 fmt::format("unknown field '{}'; a backfill has from, to, overlap and dry_run",
                                             std::string(k)));
             }
           }
           auto r = node.backfill_schedule(name, *f, *t, overlap, dry_run);
           if (!r) return send_error(res, r.error());
           json::array slots;
           for (auto slot : r->slots) slots.push_back(json::value(format_utc(slot)));
           json::object out{{"slots", std::move(slots)}};
           if (!dry_run) out["execution_ids"] = json::array(r->execution_ids.begin(), r->execution_ids.end());
           send_json(res, 200, out);
         });
}

}  // namespace kiln::node_detail
