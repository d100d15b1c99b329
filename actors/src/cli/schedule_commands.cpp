// `kiln schedule ...`: schedules on a node, through its REST API.

#include "schedule_commands.hpp"

#include "commands.hpp"
#include "rest_client.hpp"

#include <kiln/trigger.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

namespace kiln::cli {

namespace json = boost::json;

struct schedule_cli {
  CLI::App* root = nullptr;
  CLI::App* add = nullptr;
  CLI::App* update = nullptr;
  CLI::App* ls = nullptr;
  CLI::App* show = nullptr;
  CLI::App* pause = nullptr;
  CLI::App* resume = nullptr;
  CLI::App* rm = nullptr;
  CLI::App* trigger = nullptr;
  CLI::App* backfill = nullptr;

  std::string server;
  std::string token;
  bool json = false;
  std::string name;
  // add
  std::string job, cron, every, at, tz, misfire, overlap, queue, jitter, start, end;
  std::int64_t priority = 0;
  std::int64_t max_catchup = -1;
  std::vector<std::string> parameters;
  // pause / resume
  std::string note;
  bool catch_up = false;
  // backfill
  std::string from, to;
  bool dry_run = false;
};

namespace {

std::string env_or(const char* name, std::string fallback = {}) {
  if (const char* env = std::getenv(name); env && *env) return env;
  return fallback;
}

rest_client client(const schedule_cli& s) {
  return rest_client(s.server.empty() ? env_or("KILN_SERVER", "http://127.0.0.1:8080") : s.server,
                     s.token.empty() ? env_or("KILN_TOKEN") : s.token);
}

void common(CLI::App* cmd, schedule_cli& s, bool named) {
  if (named) cmd->add_option("name", s.name, "Schedule name")->required();
  cmd->add_option("--server", s.server, "Node URL; env KILN_SERVER (default http://127.0.0.1:8080)");
  cmd->add_option("--token", s.token, "Bearer token for the node; env KILN_TOKEN");
  cmd->add_flag("--json", s.json, "JSON output");
}

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return "-";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

std::int64_t count(const json::object& o, std::string_view key) {
  const auto* c = o.if_contains("counts");
  if (!c || !c->is_object()) return 0;
  const auto* v = c->as_object().if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::string trigger_text(const json::object& o) {
  const auto* t = o.if_contains("trigger");
  if (!t || !t->is_object()) return "-";
  const auto& tr = t->as_object();
  const auto kind = text(tr, "kind");
  if (kind == "cron") return "cron '" + text(tr, "cron") + "'";
  if (kind == "interval") return "every " + text(tr, "every");
  return "at " + text(tr, "at");
}

std::string params_text(const json::object& o) {
  std::string out;
  if (const auto* p = o.if_contains("parameters"); p && p->is_object()) {
    for (const auto& [k, v] : p->as_object()) {
      out += fmt::format("{}{}={}", out.empty() ? "" : " ", std::string(k), v.is_string() ? std::string(v.as_string()) : json::serialize(v));
    }
  }
  return out.empty() ? "-" : out;
}

void print_summary(const json::object& o) {
  std::cout << fmt::format("schedule {} (version {}): job {}, {} in {}{}\n", text(o, "name"), text(o, "version"),
                           text(o, "job"), trigger_text(o), text(o, "time_zone"),
                           o.at("paused").as_bool() ? "  PAUSED" + (text(o, "pause_note").empty() || text(o, "pause_note") == "-" ? std::string() : ": " + text(o, "pause_note")) : std::string());
  std::cout << fmt::format("  next {}  last {} (execution {}, {})\n", text(o, "next_fire_time"),
                           text(o, "last_fire_time"), text(o, "last_execution_id"), text(o, "last_status"));
  if (const auto* a = o.if_contains("fired_ahead"); a && a->is_array()) {
    for (const auto& v : a->as_array()) {
      const auto& e = v.as_object();
      std::cout << fmt::format("  fired ahead: slot {} (execution {}, queued, not before {})\n", text(e, "slot"),
                               text(e, "execution_id"), text(e, "not_before"));
    }
  }
}

int print(const schedule_cli& s, const expected<json::value>& r, const std::function<void(const json::object&)>& human) {
  if (!r) return usage_error(r.error().message());
  if (s.json) {
    std::cout << json::serialize(*r) << "\n";
    return 0;
  }
  human(r->as_object());
  return 0;
}

std::string path(const schedule_cli& s, std::string_view action = {}) {
  return fmt::format("/api/v1/schedules/{}{}{}", s.name, action.empty() ? "" : "/", action);
}

// Sets in `body` what the options of `cmd` (add or update) give; options not given leave it as
// it is. False when more than one trigger kind is given.
bool apply_options(const schedule_cli& s, const CLI::App& cmd, json::object& body) {
  const int kinds = !s.cron.empty() + !s.every.empty() + !s.at.empty();
  if (kinds > 1) return false;
  if (kinds == 1) {
    json::object trig;
    if (!s.cron.empty()) trig["cron"] = s.cron;
    if (!s.every.empty()) trig["every"] = s.every;
    if (!s.at.empty()) trig["at"] = s.at;
    body["trigger"] = std::move(trig);
  }
  auto opt = [&](const char* key, const std::string& v) {
    if (!v.empty()) body[key] = v;
  };
  opt("job", s.job);
  opt("time_zone", s.tz);
  opt("misfire", s.misfire);
  opt("overlap", s.overlap);
  opt("queue", s.queue);
  opt("start", s.start);
  opt("end", s.end);
  if (!s.jitter.empty()) {
    body.erase("jitter_ms");  // what the node sent back
    body["jitter"] = s.jitter;
  }
  if (cmd.count("--priority") > 0) body["priority"] = s.priority;
  if (s.max_catchup >= 0) body["max_catchup"] = s.max_catchup;
  if (!s.parameters.empty() || !body.contains("parameters")) {
    body["parameters"] = json::array(s.parameters.begin(), s.parameters.end());
  }
  return true;
}

int add(const schedule_cli& s) {
  const int kinds = !s.cron.empty() + !s.every.empty() + !s.at.empty();
  if (kinds != 1) return usage_error("give exactly one of --cron EXPR, --every DURATION or --at TIME");
  json::object body{{"name", s.name}};
  apply_options(s, *s.add, body);
  return print(s, client(s).post("/api/v1/schedules", body), [](const json::object& o) {
    std::cout << "created ";
    print_summary(o);
  });
}

// Reads the schedule, changes what the options give and writes it back (a new version).
int update(const schedule_cli& s) {
  auto c = client(s);
  auto current = c.get(path(s));
  if (!current) return usage_error(current.error().message());
  auto body = current->as_object();
  if (!apply_options(s, *s.update, body)) {
    return usage_error("give at most one of --cron EXPR, --every DURATION or --at TIME");
  }
  return print(s, c.put(path(s), body), [](const json::object& o) {
    std::cout << "updated ";
    print_summary(o);
  });
}

int list(const schedule_cli& s) {
  return print(s, client(s).get("/api/v1/schedules"), [](const json::object& o) {
    const auto& all = o.at("schedules").as_array();
    if (all.empty()) {
      std::cout << "no schedules; add one with `kiln schedule add NAME --job JOB --every 5m`\n";
      return;
    }
    std::cout << fmt::format("{:<20} {:<16} {:<24} {:<22} {:<10} {:>6} {:>8}  {}\n", "NAME", "JOB", "TRIGGER",
                             "NEXT (UTC)", "LAST", "FIRED", "SKIPPED", "STATE");
    for (const auto& v : all) {
      const auto& sc = v.as_object();
      std::cout << fmt::format("{:<20} {:<16} {:<24} {:<22} {:<10} {:>6} {:>8}  {}\n", text(sc, "name"), text(sc, "job"),
                               trigger_text(sc), text(sc, "next_fire_time"), text(sc, "last_status"),
                               count(sc, "fired"),
                               count(sc, "misfired_skipped") + count(sc, "overlap_skipped"),
                               sc.at("paused").as_bool() ? "paused" : "active");
    }
  });
}

int show(const schedule_cli& s) {
  return print(s, client(s).get(path(s)), [](const json::object& o) {
    print_summary(o);
    std::cout << fmt::format("  misfire {} (threshold {} ms, max catch-up {})  overlap {}  jitter {} ms\n",
                             text(o, "misfire"), text(o, "misfire_threshold_ms"), text(o, "max_catchup"),
                             text(o, "overlap"), text(o, "jitter_ms"));
    std::cout << fmt::format("  queue {}  priority {}  start {}  end {}\n", text(o, "queue"), text(o, "priority"),
                             text(o, "start"), text(o, "end"));
    std::cout << "  parameters " << params_text(o) << "\n";
    std::cout << fmt::format("  counts: fired {}, misfired fired {}, misfired skipped {}, overlap skipped {}, buffered "
                             "{}, cancelled running {}, failed {}\n",
                             count(o, "fired"), count(o, "misfired_fired"), count(o, "misfired_skipped"),
                             count(o, "overlap_skipped"), count(o, "buffered"), count(o, "cancelled_running"),
                             count(o, "failed"));
    if (count(o, "withdrawn") > 0) {
      std::cout << fmt::format("  withdrawn {} (fired ahead, then paused, updated or deleted before the slot)\n",
                               count(o, "withdrawn"));
    }
    if (const auto e = text(o, "last_error"); e != "-" && !e.empty()) std::cout << "  last error: " << e << "\n";
    const auto& times = o.at("next_fire_times").as_array();
    if (times.empty()) {
      std::cout << "  no upcoming fire times\n";
      return;
    }
    // A schedule in UTC shows one column; one in another zone shows its local time and UTC.
    const auto zone = text(o, "time_zone");
    const bool utc = zone == "UTC" || zone == "Etc/UTC";
    std::cout << (utc ? std::string("  next fire times (UTC):\n") : fmt::format("  next fire times ({} | UTC):\n", zone));
    for (const auto& t : times) {
      const auto& x = t.as_object();
      if (utc) {
        std::cout << fmt::format("    {}\n", text(x, "utc"));
      } else {
        std::cout << fmt::format("    {:<27} {}\n", text(x, "local"), text(x, "utc"));
      }
    }
  });
}

}  // namespace

std::shared_ptr<schedule_cli> add_schedule_commands(CLI::App& app) {
  auto s = std::make_shared<schedule_cli>();
  s->root = app.add_subcommand("schedule", "Schedules on a node: add, update, ls, show, pause, resume, rm, trigger, backfill");
  s->root->require_subcommand(1);

  // The definition's options, shared by add and update (where each one given replaces that part).
  auto definition = [&s = *s](CLI::App* cmd, bool adding) {
    common(cmd, s, true);
    auto* job = cmd->add_option("--job", s.job, "Job to run");
    if (adding) job->required();
    cmd->add_option("--cron", s.cron, "Quartz (6-7 fields) or Unix (5 fields) cron expression");
    cmd->add_option("--every", s.every, "Interval: 90s, 5m, 1h30m, 2d");
    cmd->add_option("--at", s.at, "One time: 2026-12-01T02:00:00Z (or local in --tz without offset)");
    cmd->add_option("--tz", s.tz, "IANA time zone, e.g. Europe/Berlin (default UTC)");
    cmd->add_option("--misfire", s.misfire, "fire_once_now (default), fire_all or skip");
    cmd->add_option("--max-catchup", s.max_catchup, "fire_all: at most this many missed slots (default 100)");
    cmd->add_option("--overlap", s.overlap, "allow (default), skip, buffer_one, buffer_all, cancel_running");
    cmd->add_option("--priority", s.priority, "Queue priority (higher first)");
    cmd->add_option("--queue", s.queue, "Queue (default 'default')");
    cmd->add_option("--jitter", s.jitter, "Delay each firing by up to this much (deterministic per slot), e.g. 30s");
    cmd->add_option("--start", s.start, "No slot before this time");
    cmd->add_option("--end", s.end, "No slot after this time");
    cmd->add_option("parameters", s.parameters,
                    adding ? "Job parameters key=value; values may use {schedule} and {scheduled_time}"
                           : "Job parameters key=value, replacing all of the schedule's (none given: kept)");
  };
  s->add = s->root->add_subcommand("add", "Add a schedule: run JOB on a cron expression, an interval or once");
  definition(s->add, true);
  s->update = s->root->add_subcommand(
      "update", "Change a schedule: the options given replace those parts, the rest stays (a new version)");
  definition(s->update, false);

  s->ls = s->root->add_subcommand("ls", "List schedules with next fire time, last result and counts");
  common(s->ls, *s, false);
  s->show = s->root->add_subcommand("show", "Show a schedule and its next 10 fire times (its zone and UTC)");
  common(s->show, *s, true);
  s->pause = s->root->add_subcommand("pause", "Pause a schedule (no slot fires until it is resumed)");
  common(s->pause, *s, true);
  s->pause->add_option("--note", s->note, "Why (shown with the schedule)");
  s->resume = s->root->add_subcommand("resume", "Resume a paused schedule");
  common(s->resume, *s, true);
  s->resume->add_flag("--catch-up", s->catch_up, "Also run the slots missed while paused (per the misfire policy)");
  s->rm = s->root->add_subcommand("rm", "Delete a schedule");
  common(s->rm, *s, true);
  s->trigger = s->root->add_subcommand("trigger", "Fire a schedule now");
  common(s->trigger, *s, true);
  s->backfill = s->root->add_subcommand("backfill", "Run a schedule's slots in a past time range");
  common(s->backfill, *s, true);
  s->backfill->add_option("--from", s->from, "Range start, e.g. 2026-11-01T00:00:00Z")->required();
  s->backfill->add_option("--to", s->to, "Range end (inclusive)")->required();
  s->backfill->add_option("--overlap", s->overlap, "Overlap policy for the backfill (default: the schedule's)");
  s->backfill->add_flag("--dry-run", s->dry_run, "List the slots without running them");
  return s;
}

bool schedule_command_parsed(const schedule_cli& s) { return s.root->parsed(); }

int run_schedule_command(const schedule_cli& s) {
  if (s.add->parsed()) return add(s);
  if (s.update->parsed()) return update(s);
  if (s.ls->parsed()) return list(s);
  if (s.show->parsed()) return show(s);
  if (s.pause->parsed()) {
    return print(s, client(s).post(path(s, "pause"), json::object{{"note", s.note}}), [](const json::object& o) {
      std::cout << "paused ";
      print_summary(o);
    });
  }
  if (s.resume->parsed()) {
    return print(s, client(s).post(path(s, "resume"), json::object{{"catch_up", s.catch_up}}),
                 [](const json::object& o) {
                   std::cout << "resumed ";
                   print_summary(o);
                 });
  }
  if (s.rm->parsed()) {
    return print(s, client(s).del(path(s)), [&](const json::object&) { std::cout << "deleted schedule " << s.name << "\n"; });
  }
  if (s.trigger->parsed()) {
    return print(s, client(s).post(path(s, "trigger")), [&](const json::object& o) {
      std::cout << fmt::format("schedule {} fired: execution {}\n", s.name, text(o, "execution_id"));
    });
  }
  if (s.backfill->parsed()) {
    json::object body{{"from", s.from}, {"to", s.to}, {"dry_run", s.dry_run}};
    if (!s.overlap.empty()) body["overlap"] = s.overlap;
    return print(s, client(s).post(path(s, "backfill"), body), [&](const json::object& o) {
      const auto& slots = o.at("slots").as_array();
      if (s.dry_run) {
        std::cout << fmt::format("backfill of {} would run {} slot(s):\n", s.name, slots.size());
        for (const auto& v : slots) std::cout << "  " << std::string(v.as_string()) << "\n";
        return;
      }
      const auto& ids = o.at("execution_ids").as_array();
      std::cout << fmt::format("backfill of {}: {} slot(s), {} execution(s) created", s.name, slots.size(), ids.size());
      if (ids.size() < slots.size()) std::cout << " (the others ran before, wait in the buffer or were skipped by the overlap policy)";
      std::cout << "\n";
      for (const auto& v : ids) std::cout << "  execution " << json::serialize(v) << "\n";
    });
  }
  return usage_error("kiln schedule: give a subcommand (add, update, ls, show, pause, resume, rm, trigger, backfill)");
}

}  // namespace kiln::cli
