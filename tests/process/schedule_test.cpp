// Process-level tests of schedules on `kiln node`: the REST contract of every schedule endpoint
// (docs/rest-api.md, "Schedules"), the remote CLI, and exactly-once firing while the node is
// killed with -9 and restarted again and again.

#include "support/http_client.hpp"
#include "support/node_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace kiln::test;
namespace json = boost::json;

namespace {

const std::string kiln_bin = KILN_BINARY;

json::object parse(const http_response& r) {
  INFO("body: " << r.body);
  auto v = r.json();
  REQUIRE(v.is_object());
  return v.as_object();
}

json::object get_ok(const http_client& h, const std::string& path) {
  auto r = h.get(path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return parse(r);
}

// Pauses the schedules <prefix>0 .. <prefix><n-1>, then waits until nothing is queued or running.
void pause_all_and_settle(const http_client& h, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    REQUIRE(h.post("/api/v1/schedules/" + prefix + std::to_string(i) + "/pause", "{}").status == 200);
  }
  REQUIRE(eventually([&] {
    auto st = get_ok(h, "/api/v1/status");
    return num(st, "running") == 0 && num(st, "queued") == 0;
  }, 60));
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string every_second(const std::string& name, const std::filesystem::path& file,
                         const std::string& extra = "") {
  return R"({"name": ")" + name + R"(", "job": "append-line", "trigger": {"every": "1s"},)" + extra +
         R"( "parameters": {"file": ")" + file.string() + R"(", "line": "{schedule}@{scheduled_time}"}})";
}

void check_error(const http_response& r, int status, const std::string& code, const std::string& words) {
  INFO("-> " << r.status << " " << r.body);
  CHECK(r.status == status);
  auto o = parse(r);
  CHECK(str(o, "error") == code);
  CHECK(str(o, "message").find(words) != std::string::npos);
}

}  // namespace

TEST_CASE("schedules REST: create, list, show, update, pause, resume, trigger, backfill, delete",
          "[process][node][schedule]") {
  temp_dir dir;
  node_proc node(dir);
  auto h = node.http();
  const auto trace = dir / "trace.txt";

  // POST: 201 with the schedule object and its Location.
  auto created = h.post("/api/v1/schedules", every_second("tick", trace));
  INFO(created.body);
  REQUIRE(created.status == 201);
  CHECK(created.header("Location") == "/api/v1/schedules/tick");
  auto s = parse(created);
  CHECK(str(s, "name") == "tick");
  CHECK(str(s, "job") == "append-line");
  CHECK(num(s, "version") == 1);
  const auto& trig = s.at("trigger").as_object();
  CHECK(str(trig, "kind") == "interval");
  CHECK(str(trig, "every") == "1s");
  CHECK(num(trig, "every_ms") == 1000);
  CHECK(str(s, "time_zone") == "UTC");
  CHECK(s.at("start").is_null());
  CHECK(s.at("end").is_null());
  CHECK(num(s, "jitter_ms") == 0);
  CHECK(str(s, "misfire") == "fire_once_now");
  CHECK(num(s, "max_catchup") == 100);
  CHECK(num(s, "misfire_threshold_ms") == 60000);
  CHECK(str(s, "overlap") == "allow");
  CHECK(num(s, "priority") == 0);
  CHECK(str(s, "queue") == "default");
  CHECK(str(s.at("parameters").as_object(), "line") == "{schedule}@{scheduled_time}");
  CHECK(s.at("paused") == false);
  CHECK(str(s, "pause_note").empty());
  CHECK(!str(s, "next_fire_time").empty());
  CHECK(s.at("last_fire_time").is_null());
  CHECK(s.at("last_execution_id").is_null());
  CHECK(s.at("last_status").is_null());
  for (const char* k : {"fired", "misfired_skipped", "misfired_fired", "overlap_skipped", "buffered", "cancelled_running"}) {
    CHECK(num(s.at("counts").as_object(), k) == 0);
  }

  // Refusals name the problem.
  check_error(h.post("/api/v1/schedules", every_second("tick", trace)), 409, "invalid_transition", "already exists");
  check_error(h.post("/api/v1/schedules", R"({"name":"c","job":"append-line","trigger":{"cron":"0 0 25 * * ?"},"parameters":{"file":"f","line":"l"}})"),
              400, "bad_usage", "hour");
  check_error(h.post("/api/v1/schedules", R"({"name":"z","job":"append-line","trigger":{"cron":"0 0 2 * * ?"},"time_zone":"Mars/Olympus","parameters":{"file":"f","line":"l"}})"),
              400, "bad_usage", "Mars/Olympus");
  check_error(h.post("/api/v1/schedules", R"({"name":"j","job":"nope","trigger":{"every":"1m"}})"), 404, "unknown_job", "nope");
  check_error(h.post("/api/v1/schedules", R"({"name":"p","job":"append-line","trigger":{"every":"1m"},"overlap":"sometimes","parameters":{"file":"f","line":"l"}})"),
              400, "bad_usage", "overlap");
  check_error(h.post("/api/v1/schedules", R"({"name":"m","job":"append-line","trigger":{"every":"1m"},"parameters":{"file":"f"}})"),
              400, "bad_parameter", "line");
  check_error(h.post("/api/v1/schedules", R"({"name":"t","job":"append-line","trigger":{"every":"1m","cron":"* * * * *"}})"),
              400, "bad_usage", "exactly one");
  check_error(h.post("/api/v1/schedules", R"({"name":"u","job":"append-line","colour":"red"})"), 400, "bad_usage", "colour");
  check_error(h.post("/api/v1/schedules", ""), 400, "bad_usage", "empty");
  check_error(h.post("/api/v1/schedules", R"({"name":"a b","job":"append-line","trigger":{"every":"1m"}})"), 400, "bad_usage", "letters");

  // It fires: one line per slot, the execution carries the run key.
  REQUIRE(eventually([&] { return lines_of(trace).size() >= 2; }, 10));
  REQUIRE(eventually([&] { return str(get_ok(h, "/api/v1/schedules/tick"), "last_status") == "COMPLETED"; }, 10));
  auto shown = get_ok(h, "/api/v1/schedules/tick");
  const auto last_id = num(shown, "last_execution_id");
  CHECK(last_id > 0);
  CHECK(!str(shown, "last_fire_time").empty());
  CHECK(num(shown.at("counts").as_object(), "fired") >= 2);
  const auto& times = shown.at("next_fire_times").as_array();
  REQUIRE(times.size() == 10);
  CHECK(str(times[0].as_object(), "utc").back() == 'Z');
  CHECK(str(times[0].as_object(), "local").find("+00:00") != std::string::npos);
  auto exec = get_ok(h, "/api/v1/executions/" + std::to_string(last_id));
  CHECK(str(exec, "run_key").find("tick@") == 0);
  for (const auto& l : lines_of(trace)) CHECK(l.find("tick@") == 0);

  // GET list and a cron schedule in a zone with DST.
  REQUIRE(h.post("/api/v1/schedules", R"({"name":"nightly","job":"append-line","trigger":{"cron":"0 30 2 * * ?"},"time_zone":"Europe/Berlin","parameters":{"file":"n.txt","line":"x"}})").status == 201);
  auto list = get_ok(h, "/api/v1/schedules");
  REQUIRE(list.at("schedules").as_array().size() == 2);
  auto nightly = get_ok(h, "/api/v1/schedules/nightly");
  CHECK(str(nightly.at("trigger").as_object(), "cron") == "0 30 2 * * ?");
  const auto local = str(nightly.at("next_fire_times").as_array()[0].as_object(), "local");
  CHECK(local.find("T02:30:00+0") != std::string::npos);
  check_error(h.get("/api/v1/schedules/missing"), 404, "not_found", "missing");

  // PUT: a new version.
  auto updated = h.put("/api/v1/schedules/nightly", R"({"job":"append-line","trigger":{"cron":"0 0 3 * * ?"},"time_zone":"Europe/Berlin","parameters":{"file":"n.txt","line":"y"}})");
  INFO(updated.body);
  REQUIRE(updated.status == 200);
  CHECK(num(parse(updated), "version") == 2);
  CHECK(str(parse(updated).at("trigger").as_object(), "cron") == "0 0 3 * * ?");
  check_error(h.put("/api/v1/schedules/nightly", R"({"name":"other","job":"append-line","trigger":{"every":"1m"}})"), 400, "bad_usage", "renamed");
  check_error(h.put("/api/v1/schedules/missing", every_second("missing", trace)), 404, "not_found", "missing");

  // Pause (with a note): nothing fires; resume.
  auto paused = h.post("/api/v1/schedules/tick/pause", R"({"note":"maintenance"})");
  REQUIRE(paused.status == 200);
  CHECK(parse(paused).at("paused") == true);
  CHECK(str(parse(paused), "pause_note") == "maintenance");
  CHECK(parse(paused).at("next_fire_time").is_null());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a firing already under way lands
  const auto before = lines_of(trace).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  CHECK(lines_of(trace).size() == before);
  auto resumed = h.post("/api/v1/schedules/tick/resume", R"({"catch_up": false})");
  REQUIRE(resumed.status == 200);
  CHECK(parse(resumed).at("paused") == false);
  REQUIRE(eventually([&] { return lines_of(trace).size() > before; }, 10));
  // No burst: the slots missed while paused did not run.
  CHECK(lines_of(trace).size() <= before + 2);

  // Trigger: fires now.
  auto fired = h.post("/api/v1/schedules/nightly/trigger", "");
  INFO(fired.body);
  REQUIRE(fired.status == 200);
  const auto trig_id = num(parse(fired), "execution_id");
  CHECK(trig_id > 0);
  REQUIRE(eventually([&] { return lines_of(dir / "n.txt") == std::vector<std::string>{"y"}; }, 10));

  // Backfill: dry run lists the slots; the run creates executions once.
  REQUIRE(h.post("/api/v1/schedules", R"({"name":"hourly","job":"append-line","trigger":{"cron":"0 0 * * * ?"},"parameters":{"file":"h.txt","line":"{scheduled_time}"}})").status == 201);
  const std::string range = R"("from": "2026-11-01T00:00:00Z", "to": "2026-11-01T02:00:00Z")";
  auto dry = h.post("/api/v1/schedules/hourly/backfill", "{" + range + R"(, "dry_run": true})");
  INFO(dry.body);
  REQUIRE(dry.status == 200);
  const auto dry_body = parse(dry);
  const auto& slots = dry_body.at("slots").as_array();
  REQUIRE(slots.size() == 3);
  CHECK(slots[0].as_string() == "2026-11-01T00:00:00Z");
  CHECK(!dry_body.contains("execution_ids"));
  auto run = h.post("/api/v1/schedules/hourly/backfill", "{" + range + R"(, "overlap": "allow"})");
  REQUIRE(run.status == 200);
  CHECK(parse(run).at("execution_ids").as_array().size() == 3);
  auto again = h.post("/api/v1/schedules/hourly/backfill", "{" + range + "}");
  REQUIRE(again.status == 200);
  CHECK(parse(again).at("execution_ids").as_array().empty());
  REQUIRE(eventually([&] { return lines_of(dir / "h.txt").size() == 3; }, 10));
  check_error(h.post("/api/v1/schedules/hourly/backfill", R"({"from": "2026-11-01T00:00:00Z"})"), 400, "bad_usage", "'to'");
  check_error(h.post("/api/v1/schedules/hourly/backfill", R"({"from": "yesterday", "to": "2026-11-01T00:00:00Z"})"), 400, "bad_usage", "from");

  // DELETE (its gauges go from /metrics with it).
  const std::string nightly_gauge = "kiln_schedule_next_fire_timestamp_seconds{schedule=\"nightly\"}";
  CHECK(h.get("/metrics").body.find(nightly_gauge) != std::string::npos);
  auto deleted = h.del("/api/v1/schedules/nightly");
  REQUIRE(deleted.status == 200);
  CHECK(str(parse(deleted), "deleted") == "nightly");
  check_error(h.get("/api/v1/schedules/nightly"), 404, "not_found", "nightly");
  check_error(h.del("/api/v1/schedules/nightly"), 404, "not_found", "nightly");

  // Metrics.
  auto metrics = h.get("/metrics");
  CHECK(metrics.body.find("kiln_schedule_firings_total{source=\"schedule\"}") != std::string::npos);
  CHECK(metrics.body.find("kiln_schedule_firing_delay_seconds_bucket") != std::string::npos);
  CHECK(metrics.body.find("kiln_schedule_next_fire_timestamp_seconds{schedule=\"tick\"}") != std::string::npos);
  CHECK(metrics.body.find(nightly_gauge) == std::string::npos);
  CHECK(metrics.body.find("kiln_schedule_last_fire_timestamp_seconds{schedule=\"nightly\"}") == std::string::npos);
}

TEST_CASE("schedules REST: mutating calls need the token", "[process][node][schedule]") {
  temp_dir dir;
  node_proc node(dir, {"--token", "s3cret"});
  auto h = node.http();
  CHECK(h.post("/api/v1/schedules", every_second("t", dir / "t.txt")).status == 401);
  CHECK(h.post("/api/v1/schedules", every_second("t", dir / "t.txt"), bearer("s3cret")).status == 201);
  CHECK(h.del("/api/v1/schedules/t").status == 401);
  CHECK(h.get("/api/v1/schedules/t").status == 200);
  CHECK(h.post("/api/v1/schedules/t/pause", "{}").status == 401);
  CHECK(h.del("/api/v1/schedules/t", bearer("s3cret")).status == 200);
}

TEST_CASE("kiln schedule: the remote CLI adds, shows, pauses, triggers and removes", "[process][node][schedule]") {
  temp_dir dir;
  node_proc node(dir);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "schedule");
    args.push_back("--server");
    args.push_back(node.url());
    return run_process(kiln_bin, args, dir.path(), 30);
  };
  auto add = cli({"add", "nightly", "--job", "append-line", "--cron", "0 30 2 * * ?", "--tz", "Europe/Berlin",
                  "--misfire", "fire_all", "--overlap", "Forbid", "--priority", "3", "file=n.txt", "line={schedule}"});
  INFO(add.out << add.err);
  REQUIRE(add.exit_code == 0);
  CHECK(add.out.find("created schedule nightly (version 1)") != std::string::npos);
  auto show = cli({"show", "nightly"});
  REQUIRE(show.exit_code == 0);
  CHECK(show.out.find("overlap skip") != std::string::npos);
  CHECK(show.out.find("next fire times (Europe/Berlin | UTC)") != std::string::npos);
  CHECK(show.out.find("T02:30:00+01:00") != std::string::npos);
  CHECK(show.out.find("T01:30:00Z") != std::string::npos);
  // update: the options given replace those parts; the rest (zone, misfire, parameters) stays.
  auto upd = cli({"update", "nightly", "--cron", "0 0 3 * * ?", "--priority", "0"});
  INFO(upd.out << upd.err);
  REQUIRE(upd.exit_code == 0);
  CHECK(upd.out.find("updated schedule nightly (version 2)") != std::string::npos);
  CHECK(upd.out.find("cron '0 0 3 * * ?' in Europe/Berlin") != std::string::npos);
  auto after = cli({"show", "nightly", "--json"});
  REQUIRE(after.exit_code == 0);
  const auto updated = boost::json::parse(after.out).as_object();
  CHECK(updated.at("misfire").as_string() == "fire_all");
  CHECK(updated.at("overlap").as_string() == "skip");
  CHECK(updated.at("priority").as_int64() == 0);
  CHECK(updated.at("parameters").as_object().at("file").as_string() == "n.txt");
  CHECK(cli({"show", "nightly"}).out.find("T03:00:00+01:00") != std::string::npos);
  auto two_triggers = cli({"update", "nightly", "--cron", "0 0 4 * * ?", "--every", "5m"});
  CHECK(two_triggers.exit_code == 2);
  CHECK(two_triggers.err.find("at most one of --cron") != std::string::npos);
  auto missing = cli({"update", "no-such", "--every", "5m"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("no-such") != std::string::npos);
  auto bad_cron = cli({"update", "nightly", "--cron", "61 * * * *"});
  CHECK(bad_cron.exit_code == 2);
  CHECK(cli({"show", "nightly", "--json"}).out.find("\"version\":2") != std::string::npos);  // unchanged
  // A schedule in UTC lists its fire times once, not as "(UTC | UTC)".
  REQUIRE(cli({"add", "hourly", "--job", "append-line", "--cron", "0 0 * * * ?", "file=h.txt", "line=x"}).exit_code == 0);
  auto show_utc = cli({"show", "hourly"});
  INFO(show_utc.out);
  CHECK(show_utc.out.find("next fire times (UTC):") != std::string::npos);
  CHECK(show_utc.out.find("| UTC") == std::string::npos);
  CHECK(show_utc.out.find(":00:00Z") != std::string::npos);
  REQUIRE(cli({"rm", "hourly"}).exit_code == 0);
  auto ls = cli({"ls"});
  CHECK(ls.out.find("nightly") != std::string::npos);
  CHECK(cli({"pause", "nightly", "--note", "freeze"}).out.find("PAUSED: freeze") != std::string::npos);
  CHECK(cli({"resume", "nightly"}).exit_code == 0);
  auto trig = cli({"trigger", "nightly"});
  CHECK(trig.out.find("schedule nightly fired: execution") != std::string::npos);
  auto dry = cli({"backfill", "nightly", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-03T00:00:00Z", "--dry-run"});
  CHECK(dry.out.find("would run 2 slot(s)") != std::string::npos);
  auto bad = cli({"add", "x", "--job", "append-line", "--every", "5m", "--cron", "* * * * *"});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("exactly one") != std::string::npos);
  CHECK(cli({"rm", "nightly"}).out.find("deleted schedule nightly") != std::string::npos);
  auto gone = cli({"show", "nightly"});
  CHECK(gone.exit_code != 0);
  CHECK(gone.err.find("no schedule named 'nightly'") != std::string::npos);
}

// Exactly once under crashes: 20 every-second fire_all schedules of append-line, the node killed
// with -9 at random moments and restarted for about a minute. Afterwards each schedule's file must
// hold every slot from its first to its last exactly once: none twice (run keys), none lost
// (slots are computed from committed state; downtime stays under the misfire threshold).
TEST_CASE("schedules: every slot fires exactly once across kill -9 and restarts", "[process][node][schedule][kill]") {
  temp_dir dir;
  constexpr int schedules = 20;
  const double kill_seconds = [] {
    const char* env = std::getenv("KILN_SCHEDULE_KILL_SECONDS");
    return env ? std::atof(env) : 60.0;
  }();
  std::mt19937 rng(42);
  auto node = std::make_unique<node_proc>(dir, std::vector<std::string>{"--max-concurrent-jobs", "8"});
  for (int i = 0; i < schedules; ++i) {
    const std::string name = std::string("s").append(std::to_string(i));
    auto r = node->http().post("/api/v1/schedules",
                               every_second(name, dir / (name + ".txt"), R"( "misfire": "fire_all", "overlap": "allow",)"));
    INFO(r.body);
    REQUIRE(r.status == 201);
  }
  int kills = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(kill_seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(700, 4000)(rng)));
    node->process().kill(SIGKILL);
    node->process().wait(10);
    ++kills;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
    node = std::make_unique<node_proc>(dir, std::vector<std::string>{"--max-concurrent-jobs", "8"});
  }
  // Settle: pause every schedule, then wait until nothing is queued or running.
  auto h = node->http();
  pause_all_and_settle(h, "s", schedules);
  INFO("kills: " << kills);
  std::int64_t total = 0;
  for (int i = 0; i < schedules; ++i) {
    const std::string name = std::string("s").append(std::to_string(i));
    const auto lines = lines_of(dir / (name + ".txt"));
    std::set<std::string> unique(lines.begin(), lines.end());
    INFO(name << ": " << lines.size() << " lines");
    CHECK(unique.size() == lines.size());  // no slot twice
    // No slot lost: consecutive seconds from the first to the last.
    std::vector<std::int64_t> secs;
    for (const auto& l : unique) {
      REQUIRE(l.rfind(name + "@", 0) == 0);
      std::tm tm{};
      const auto when = l.substr(name.size() + 1);
      REQUIRE(strptime(when.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
      secs.push_back(static_cast<std::int64_t>(timegm(&tm)));
    }
    std::sort(secs.begin(), secs.end());
    REQUIRE(!secs.empty());
    CHECK(secs.back() - secs.front() + 1 == static_cast<std::int64_t>(secs.size()));
    CHECK(secs.size() >= static_cast<std::size_t>(kill_seconds * 0.8));
    const auto s = get_ok(h, "/api/v1/schedules/" + name);
    const auto& counts = s.at("counts").as_object();
    CHECK(num(counts, "fired") == static_cast<std::int64_t>(lines.size()));
    CHECK(num(counts, "misfired_skipped") == 0);
    CHECK(num(counts, "failed") == 0);
    total += static_cast<std::int64_t>(lines.size());
  }
  CHECK(kills >= 5);
  WARN("exactly-once: " << schedules << " schedules, " << total << " slots, " << kills << " kill -9 restarts");
  node->process().kill(SIGTERM);
  node->process().wait(30);
}

// Downtime longer than the misfire threshold: on restart fire_once_now runs the latest missed slot
// once and counts the others; skip runs none of them. Both are visible in counts and /metrics.
TEST_CASE("schedules: slots missed while the node was down follow the misfire policy", "[process][node][schedule]") {
  temp_dir dir;
  auto node = std::make_unique<node_proc>(dir);
  const std::string policy = R"( "misfire_threshold_ms": 500,)";
  REQUIRE(node->http().post("/api/v1/schedules", every_second("once_now", dir / "a.txt", policy)).status == 201);
  REQUIRE(node->http().post("/api/v1/schedules",
                            every_second("skipper", dir / "b.txt", policy + R"( "misfire": "skip",)")).status == 201);
  REQUIRE(eventually([&] { return lines_of(dir / "a.txt").size() >= 1 && lines_of(dir / "b.txt").size() >= 1; }, 10));
  node->process().kill(SIGKILL);
  node->process().wait(10);
  const auto a_before = lines_of(dir / "a.txt").size();
  const auto b_before = lines_of(dir / "b.txt").size();
  std::this_thread::sleep_for(std::chrono::seconds(4));
  node = std::make_unique<node_proc>(dir);
  auto h = node->http();
  REQUIRE(eventually([&] {
    return num(get_ok(h, "/api/v1/schedules/once_now").at("counts").as_object(), "misfired_fired") == 1 &&
           num(get_ok(h, "/api/v1/schedules/skipper").at("counts").as_object(), "misfired_skipped") >= 3;
  }, 10));
  const auto a = get_ok(h, "/api/v1/schedules/once_now").at("counts").as_object();
  CHECK(num(a, "misfired_skipped") >= 2);
  const auto b = get_ok(h, "/api/v1/schedules/skipper").at("counts").as_object();
  CHECK(num(b, "misfired_fired") == 0);
  REQUIRE(h.post("/api/v1/schedules/once_now/pause", "{}").status == 200);
  REQUIRE(h.post("/api/v1/schedules/skipper/pause", "{}").status == 200);
  REQUIRE(eventually([&] { return num(get_ok(h, "/api/v1/status"), "queued") == 0 && num(get_ok(h, "/api/v1/status"), "running") == 0; }, 20));
  // Every firing left its line, and no slot was written twice.
  for (const auto* name : {"once_now", "skipper"}) {
    const auto lines = lines_of(dir / (std::string(name) == "once_now" ? "a.txt" : "b.txt"));
    CHECK(static_cast<std::int64_t>(lines.size()) ==
          num(get_ok(h, std::string("/api/v1/schedules/") + name).at("counts").as_object(), "fired"));
    CHECK(std::set<std::string>(lines.begin(), lines.end()).size() == lines.size());
  }
  CHECK(lines_of(dir / "a.txt").size() > a_before);
  CHECK(lines_of(dir / "b.txt").size() >= b_before);
  auto metrics = h.get("/metrics").body;
  CHECK(metrics.find(R"(kiln_schedule_misfires_total{policy="fire_once_now",result="fired"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(kiln_schedule_misfires_total{policy="skip",result="skipped"})") != std::string::npos);
}

// Firing ahead: 100 schedules due at the same instants, so each slot is recorded well before it
// (the lead grows with the slots due together). Every execution a firing created ahead must have
// been claimed and started at or after its slot's instant (not_before), never before.
TEST_CASE("schedules: a slot fired ahead of its instant runs at the instant, not before", "[process][node][schedule]") {
  temp_dir dir;
  constexpr int schedules = 100;
  node_proc node(dir, {"--max-concurrent-jobs", "8"});
  auto h = node.http();
  for (int i = 0; i < schedules; ++i) {
    const std::string name = std::string("a").append(std::to_string(i));
    auto r = h.post("/api/v1/schedules", R"({"name": ")" + name +
                                             R"(", "job": "noop", "trigger": {"every": "2s"}, "parameters": {"tag": "{schedule}@{scheduled_time}"}})");
    INFO(r.body);
    REQUIRE(r.status == 201);
  }
  REQUIRE(eventually([&] { return num(get_ok(h, "/api/v1/schedules/a0").at("counts").as_object(), "fired") >= 3; }, 30));
  pause_all_and_settle(h, "a", schedules);
  const auto page = get_ok(h, "/api/v1/executions?limit=1000");
  const auto& list = page.at("executions").as_array();
  REQUIRE(list.size() >= static_cast<std::size_t>(2 * schedules));
  std::size_t ahead = 0, completed = 0;
  std::map<std::int64_t, std::int64_t> first_claim;  // not_before -> earliest claim of those waiting for it
  for (const auto& v : list) {
    const auto& e = v.as_object();
    INFO(json::serialize(e));
    const auto nb = e.contains("not_before") ? num(e, "not_before") : 0;
    if (str(e, "status") == "COMPLETED") {
      ++completed;
      if (nb > 0) {
        ++ahead;
        CHECK(num(e, "create_time") < nb);
        CHECK(num(e, "claim_time") >= nb);
        CHECK(num(e, "start_time") >= nb);
        auto [it, fresh] = first_claim.emplace(nb, num(e, "claim_time"));
        if (!fresh) it->second = std::min(it->second, num(e, "claim_time"));
      }
    } else {
      // Only a firing withdrawn by the pause (its slot had not come) ends otherwise.
      CHECK(str(e, "status") == "STOPPED");
      CHECK(str(e, "exit_code") == "CANCELLED");
      CHECK(str(e, "exit_description").find("paused before its slot") != std::string::npos);
      CHECK(nb > num(e, "end_time"));
    }
  }
  CHECK(completed >= static_cast<std::size_t>(2 * schedules));
  // The dispatcher wakes at not_before (one timer), not at the next unrelated event: the first of
  // each slot's executions is claimed right at the slot (the next firing is 2 s later).
  for (const auto& [nb, claimed] : first_claim) {
    INFO("slot " << nb);
    CHECK(claimed - nb < 500);
  }
  CHECK(ahead >= completed / 2);  // most slots went ahead
  std::int64_t fired = 0, withdrawn = 0;
  for (int i = 0; i < schedules; ++i) {
    const auto s = get_ok(h, std::string("/api/v1/schedules/a").append(std::to_string(i)));
    fired += num(s.at("counts").as_object(), "fired");
    withdrawn += num(s.at("counts").as_object(), "withdrawn");
  }
  CHECK(fired == static_cast<std::int64_t>(completed));
  CHECK(fired + withdrawn == static_cast<std::int64_t>(list.size()));
}
