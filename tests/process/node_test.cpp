// Process-level tests of `kiln node`: a real node on 127.0.0.1 driven over REST and by the remote
// CLI, killed with -9 and stopped with SIGTERM. Jobs are the example `noop`, `sleep` and
// `exclusive-sleep` with short sleeps; every wait polls with a timeout instead of assuming timings.

#include "support/http_client.hpp"
#include "support/node_process.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

using namespace kiln::test;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string kiln_bin = KILN_BINARY;



json::object get_json(const http_client& h, const std::string& path) {
  auto r = h.get(path);
  INFO("GET " << path << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return r.json().as_object();
}

std::string sleep_body(const std::string& job, std::int64_t ms, const std::string& tag,
                       std::int64_t priority = 0, const std::string& queue = "default") {
  return json::serialize(json::object{{"job", job},
                                      {"parameters", json::object{{"ms", ms}, {"tag", tag}}},
                                      {"priority", priority},
                                      {"queue", queue}});
}

std::int64_t submit(const http_client& h, const std::string& body) {
  auto r = h.post("/api/v1/executions", body);
  INFO("POST " << body << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 201);
  return r.json().as_object().at("id").as_int64();
}

json::object execution(const http_client& h, std::int64_t id) {
  return get_json(h, "/api/v1/executions/" + std::to_string(id));
}

std::vector<json::object> executions(const http_client& h, const std::string& query = "") {
  std::vector<json::object> out;
  const auto page = get_json(h, "/api/v1/executions?limit=1000" + query);
  for (const auto& e : page.at("executions").as_array()) {
    out.push_back(e.as_object());
  }
  return out;
}

std::vector<std::int64_t> queued_ids(const http_client& h) {
  std::vector<std::int64_t> out;
  const auto queues = get_json(h, "/api/v1/queues");
  for (const auto& e : queues.at("queued").as_array()) out.push_back(num(e.as_object(), "id"));
  return out;
}

bool reaches(const http_client& h, std::int64_t id, const std::string& status, double timeout_s = 20) {
  const bool ok = eventually([&] { return str(execution(h, id), "status") == status; }, timeout_s);
  if (!ok) UNSCOPED_INFO("execution " << id << " stayed " << json::serialize(execution(h, id)));
  return ok;
}

json::object last_step(const json::object& detail) {
  const auto& steps = detail.at("steps").as_array();
  REQUIRE(!steps.empty());
  return steps.back().as_object();
}

// The sleep jobs keep the time slept in their step context, one committed tick of 50 ms at a time.
std::int64_t slept_ms(const json::object& detail) {
  if (detail.at("steps").as_array().empty()) return 0;
  return num(last_step(detail).at("context").as_object(), "slept_ms");
}

std::int64_t commits(const json::object& detail) {
  if (detail.at("steps").as_array().empty()) return 0;
  return num(last_step(detail).at("counts").as_object(), "commit");
}

// "s" and 2 -> "s2". Appending, because GCC 12 reports a false -Wrestrict for a literal plus a
// std::to_string temporary.
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

std::string tag_of(const json::object& e) {
  return str(e.at("parameters").at("tag").as_object(), "value");
}

// The most executions that held a slot at once, from their claim and end times.
int max_at_once(const std::vector<json::object>& list) {
  std::vector<std::pair<std::int64_t, int>> events;
  for (const auto& e : list) {
    if (num(e, "claim_time") <= 0 || num(e, "end_time") <= 0) continue;
    events.emplace_back(num(e, "claim_time"), +1);
    events.emplace_back(num(e, "end_time"), -1);
  }
  std::sort(events.begin(), events.end());  // at equal times an end (-1) sorts before a start
  int now = 0, most = 0;
  for (const auto& [_, d] : events) most = std::max(most, now += d);
  return most;
}

std::int64_t id_from_out(const std::string& out) {
  const auto pos = out.find("execution ");
  REQUIRE(pos != std::string::npos);
  return std::stoll(out.substr(pos + 10));
}

std::string post_without_body(const std::string& path) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

}  // namespace

TEST_CASE("node REST contract - every endpoint - status codes - JSON shape - Location",
          "[process][node][rest]") {
  temp_dir dir;
  node_proc node(dir, {"--name", "contract-node", "--max-concurrent-jobs", "3", "--queues", "default"});
  const auto h = node.http();

  auto health = h.get("/healthz");
  CHECK(health.status == 200);
  CHECK(health.header("Content-Type") == "application/json");
  CHECK(health.json() == json::parse(R"({"status":"ok"})"));
  auto ready = h.get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.json() == json::parse(R"({"ready":true})"));
  auto dashboard = h.get("/");
  CHECK(dashboard.status == 200);
  CHECK_THAT(dashboard.header("Content-Type"), Catch::StartsWith("text/html"));

  auto st = get_json(h, "/api/v1/status");
  CHECK(st.size() == 9);
  CHECK(str(st, "node") == "contract-node");
  CHECK_FALSE(str(st, "version").empty());
  CHECK(num(st, "started_at") > 0);
  CHECK(num(st, "uptime_ms") >= 0);
  CHECK(num(st, "running") == 0);
  CHECK(num(st, "queued") == 0);
  CHECK(num(st, "capacity") == 3);
  CHECK(st.at("queues") == json::parse(R"(["default"])"));
  CHECK(st.at("accepting") == json::value(true));

  std::map<std::string, json::object> jobs;
  const auto listed = get_json(h, "/api/v1/jobs");
  for (const auto& j : listed.at("jobs").as_array()) jobs[str(j.as_object(), "name")] = j.as_object();
  CHECK(jobs.size() >= 6);  // the example jobs, more as examples grow
  for (const auto* name :
       {"noop", "sleep", "exclusive-sleep", "csv-to-jsonl", "generate-csv", "count-lines"}) {
    CHECK(jobs.contains(name));
  }
  const auto& sleep = jobs["sleep"];
  CHECK(str(sleep, "concurrency") == "allow");
  CHECK(str(sleep, "recovery") == "restart");
  CHECK(sleep.at("restartable") == json::value(true));
  CHECK(sleep.at("steps") == json::parse(R"([{"name":"sleep","kind":"tasklet"}])"));
  const auto& ms = sleep.at("parameters").as_array().at(0).as_object();
  CHECK(str(ms, "name") == "ms");
  CHECK(str(ms, "type") == "long");
  CHECK(ms.at("required") == json::value(true));
  CHECK(str(jobs["exclusive-sleep"], "concurrency") == "forbid");
  CHECK(str(jobs["exclusive-sleep"], "recovery") == "none");

  // POST /api/v1/executions: 201, the execution as queued, and where to find it.
  auto created = h.post("/api/v1/executions", R"({"job":"noop","parameters":{"tag":"c1"}})");
  INFO(created.body);
  REQUIRE(created.status == 201);
  CHECK(created.header("Content-Type") == "application/json");
  const auto first = created.json().as_object();
  const auto id1 = num(first, "id");
  CHECK(created.header("Location") == "/api/v1/executions/" + std::to_string(id1));
  for (const auto* key :
       {"id", "instance_id", "job", "parameters", "status", "exit_code", "exit_description", "create_time",
        "start_time", "end_time", "last_updated", "queue", "priority", "node", "claim_time"}) {
    CHECK(first.contains(key));
  }
  CHECK(str(first, "job") == "noop");
  CHECK(str(first, "status") == "STARTING");
  CHECK(str(first, "queue") == "default");
  CHECK(num(first, "priority") == 0);
  CHECK(first.at("parameters") ==
        json::parse(R"({"tag":{"type":"string","identifying":true,"value":"c1"}})"));

  REQUIRE(reaches(h, id1, "COMPLETED"));
  const auto detail = get_json(h, created.header("Location"));
  CHECK(str(detail, "exit_code") == "COMPLETED");
  CHECK(str(detail, "node") == "contract-node");
  CHECK(num(detail, "claim_time") >= num(detail, "create_time"));
  CHECK(num(detail, "start_time") >= num(detail, "claim_time"));
  CHECK(num(detail, "end_time") >= num(detail, "start_time"));
  REQUIRE(detail.at("steps").as_array().size() == 1);
  const auto step = last_step(detail);
  CHECK(str(step, "step") == "noop");
  CHECK(str(step, "status") == "COMPLETED");
  CHECK(num(step, "execution_id") == id1);
  CHECK(step.at("counts").is_object());
  CHECK(step.at("context").is_object());

  // GET /api/v1/executions: newest first, filters, pages by id.
  const auto id2 = submit(h, R"({"job":"noop","parameters":["tag=c2"]})");
  auto third = h.post("/api/v1/executions", R"({"job":"noop","parameters":{"tag":"c3"},"priority":7})");
  REQUIRE(third.status == 201);
  CHECK(num(third.json().as_object(), "priority") == 7);
  const auto id3 = num(third.json().as_object(), "id");
  REQUIRE(reaches(h, id2, "COMPLETED"));
  REQUIRE(reaches(h, id3, "COMPLETED"));
  auto ids = [&](const std::string& query) {
    std::vector<std::int64_t> out;
    const auto page = get_json(h, "/api/v1/executions" + query);
    for (const auto& e : page.at("executions").as_array()) {
      out.push_back(num(e.as_object(), "id"));
    }
    return out;
  };
  CHECK(ids("") == std::vector<std::int64_t>{id3, id2, id1});
  CHECK_FALSE(get_json(h, "/api/v1/executions").contains("next_before"));
  const auto page1 = get_json(h, "/api/v1/executions?limit=2");
  CHECK(page1.at("executions").as_array().size() == 2);
  CHECK(num(page1, "next_before") == id2);
  const auto page2 = get_json(h, "/api/v1/executions?limit=2&before=" + std::to_string(id2));
  CHECK(page2.at("executions").as_array().size() == 1);
  CHECK_FALSE(page2.contains("next_before"));
  CHECK(ids("?before=1").empty());
  CHECK(ids("?before=0").empty());
  CHECK(ids("?job=noop").size() == 3);
  CHECK(ids("?job=sleep").empty());
  CHECK(ids("?status=COMPLETED").size() == 3);
  CHECK(ids("?status=FAILED").empty());
  CHECK(ids("?since=2000-01-01T00:00:00Z").size() == 3);
  CHECK(ids("?since=2999-01-01T00:00:00Z").empty());
  const auto t3 = num(execution(h, id3), "create_time");
  for (const auto& e : executions(h, "&since=" + std::to_string(t3))) CHECK(num(e, "create_time") >= t3);
  CHECK(ids("?since=" + std::to_string(t3)).at(0) == id3);
  for (const auto& e : executions(h, "&until=" + std::to_string(t3))) CHECK(num(e, "create_time") < t3);

  // GET /api/v1/queues: a queue this node does not serve keeps its submission waiting.
  const auto parked = submit(h, sleep_body("sleep", 10, "p", 3, "parked"));
  const auto queued = get_json(h, "/api/v1/queues").at("queued").as_array();
  REQUIRE(queued.size() == 1);
  const auto& waiting = queued.at(0).as_object();
  CHECK(num(waiting, "id") == parked);
  CHECK(str(waiting, "queue") == "parked");
  CHECK(num(waiting, "priority") == 3);
  CHECK(str(waiting, "status") == "STARTING");
  CHECK(str(waiting, "node").empty());
  CHECK(get_json(h, "/api/v1/queues?limit=1").at("queued").as_array().size() == 1);
  CHECK(num(get_json(h, "/api/v1/status"), "queued") == 1);

  // The node counts an ending just after the state store shows it.
  http_response metrics;
  CHECK(eventually([&] {
    metrics = h.get("/metrics");
    return metrics.body.find("kiln_executions_ended_total{status=\"COMPLETED\"} 3") != std::string::npos;
  }));
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.header("Content-Type"), Catch::StartsWith("text/plain"));
  CHECK_THAT(metrics.body, Catch::Contains("kiln_capacity 3") && Catch::Contains("kiln_queue_depth 1") &&
                               Catch::Contains("kiln_running_executions 0") &&
                               Catch::Contains("kiln_executions{status=\"COMPLETED\"} 3") &&
                               Catch::Contains("# TYPE kiln_chunk_commit_seconds histogram"));

  // The operations need no body: a bare `curl -X POST` (no Content-Length) is answered at once.
  const auto started = std::chrono::steady_clock::now();
  const auto raw =
      raw_http(node.port(), post_without_body("/api/v1/executions/" + std::to_string(parked) + "/cancel"), 4);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  CHECK_THAT(raw, Catch::StartsWith("HTTP/1.1 200") &&
                      Catch::Contains(R"("status":"STOPPED","exit_code":"CANCELLED")"));

  auto restarted = h.post("/api/v1/executions/" + std::to_string(parked) + "/restart", "");
  INFO(restarted.body);
  REQUIRE(restarted.status == 201);
  const auto again = restarted.json().as_object();
  CHECK(num(again, "id") > parked);
  CHECK(restarted.header("Location") == "/api/v1/executions/" + std::to_string(num(again, "id")));
  CHECK(num(again, "instance_id") == num(waiting, "instance_id"));
  CHECK(str(again, "queue") == "parked");
  CHECK(num(again, "priority") == 3);
  CHECK(h.post("/api/v1/executions/" + std::to_string(num(again, "id")) + "/cancel", "").status == 200);
  auto abandoned = h.post("/api/v1/executions/" + std::to_string(parked) + "/abandon", "");
  CHECK(abandoned.status == 200);
  CHECK(str(abandoned.json().as_object(), "status") == "ABANDONED");

  for (const auto* op : {"stop", "kill", "cancel", "restart", "abandon"}) {
    auto done = h.post("/api/v1/executions/" + std::to_string(id1) + "/" + op, "");
    INFO(op << ": " << done.body);
    CHECK(done.status == 409);
    CHECK(str(done.json().as_object(), "error") == "invalid_transition");
    auto missing = h.post(std::string("/api/v1/executions/999/") + op, "");
    CHECK(missing.status == 404);
    CHECK(str(missing.json().as_object(), "error") == "not_found");
  }
  auto missing = h.get("/api/v1/executions/999");
  CHECK(missing.status == 404);
  CHECK(str(missing.json().as_object(), "error") == "not_found");
  CHECK_FALSE(str(missing.json().as_object(), "message").empty());
  auto nowhere = h.get("/api/v1/nothing-here");
  CHECK(nowhere.status == 404);
  CHECK(str(nowhere.json().as_object(), "error") == "not_found");
}

TEST_CASE("node remote CLI - submit --wait exits 0 1 3 - refusals exit 2 - queries and operations",
          "[process][node][cli]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "1"});
  const auto h = node.http();
  const auto url = node.url();
  auto kiln = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--server", url});
    return run_process(kiln_bin, args, dir.path(), 60);
  };
  auto waiter = [&](const std::string& ms, const std::string& tag) {
    return std::make_unique<child_process>(
        kiln_bin,
        std::vector<std::string>{"submit", "sleep", "ms=" + ms, "tag=" + tag, "--wait", "--server", url},
        dir.path());
  };
  // The id of the queued execution whose tag is `tag`, once the CLI has submitted it.
  auto queued_with_tag = [&](const std::string& tag) {
    std::int64_t id = 0;
    REQUIRE(eventually([&] {
      const auto queues = get_json(h, "/api/v1/queues");
      for (const auto& e : queues.at("queued").as_array()) {
        if (tag_of(e.as_object()) == tag) id = num(e.as_object(), "id");
      }
      return id > 0;
    }));
    return id;
  };

  auto ok = kiln({"submit", "sleep", "ms=100", "tag=ok", "--wait"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Catch::Contains("COMPLETED (exit COMPLETED)"));
  const auto ok_id = id_from_out(ok.out);

  // A blocker holds the only slot, so what the CLI submits next waits in the queue.
  const auto blocker = submit(h, sleep_body("sleep", 20000, "block"));
  REQUIRE(reaches(h, blocker, "STARTED"));

  auto cancelled_waiter = waiter("100", "cancelled");
  const auto cancelled = queued_with_tag("cancelled");
  auto cancel = kiln({"cancel", std::to_string(cancelled)});
  CHECK(cancel.exit_code == 0);
  CHECK_THAT(cancel.out, Catch::Contains("STOPPED (exit CANCELLED)"));
  auto exit3 = cancelled_waiter->wait(30);
  CHECK(exit3.exit_code == 3);
  CHECK_THAT(exit3.out, Catch::Contains("STOPPED (exit CANCELLED)"));

  auto killed_waiter = waiter("20000", "killed");
  const auto killed = queued_with_tag("killed");
  auto stop = kiln({"stop", std::to_string(blocker)});
  CHECK(stop.exit_code == 0);
  CHECK_THAT(stop.out, Catch::Contains("stops after its current chunk"));
  REQUIRE(reaches(h, blocker, "STOPPED"));
  REQUIRE(reaches(h, killed, "STARTED"));
  auto kill = kiln({"kill", std::to_string(killed)});
  CHECK(kill.exit_code == 0);
  CHECK_THAT(kill.out, Catch::Contains("FAILED (exit KILLED)"));
  auto exit1 = killed_waiter->wait(30);
  CHECK(exit1.exit_code == 1);
  CHECK_THAT(exit1.out, Catch::Contains("FAILED (exit KILLED)"));

  auto restart = kiln({"restart", std::to_string(blocker)});
  CHECK(restart.exit_code == 0);
  CHECK_THAT(restart.out, Catch::Contains("queued as a restart of execution " + std::to_string(blocker)));
  const auto resumed = id_from_out(restart.out);
  CHECK(num(execution(h, resumed), "instance_id") == num(execution(h, blocker), "instance_id"));
  REQUIRE(reaches(h, resumed, "STARTED"));
  CHECK(kiln({"kill", std::to_string(resumed)}).exit_code == 0);
  REQUIRE(reaches(h, resumed, "FAILED"));
  auto abandon = kiln({"abandon", std::to_string(resumed)});
  CHECK(abandon.exit_code == 0);
  CHECK(str(execution(h, resumed), "status") == "ABANDONED");

  auto status = kiln({"status", "--json"});
  REQUIRE(status.exit_code == 0);
  CHECK(num(json::parse(status.out).as_object(), "capacity") == 1);
  auto status_text = kiln({"status"});
  CHECK(status_text.exit_code == 0);
  CHECK_THAT(status_text.out, Catch::Contains("of 1"));
  auto list = kiln({"executions", "--json"});
  REQUIRE(list.exit_code == 0);
  const auto count = executions(h).size();
  CHECK(json::parse(list.out).as_array().size() == count);
  auto show = kiln({"show", std::to_string(ok_id), "--json"});
  REQUIRE(show.exit_code == 0);
  const auto shown = json::parse(show.out).as_object();
  CHECK(str(shown, "status") == "COMPLETED");
  CHECK(slept_ms(shown) == 100);
  auto jobs = kiln({"jobs", "--json"});
  REQUIRE(jobs.exit_code == 0);
  CHECK(json::parse(jobs.out).as_array().size() >= 6);

  // Refusals exit 2 with the node's message, and change nothing.
  struct refusal {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<refusal> refusals{
      {{"submit", "no-such-job"}, "unknown job 'no-such-job'"},
      {{"submit", "sleep", "ms=soon"}, "parameter 'ms'"},
      {{"submit", "sleep", "ms=100", "tag=ok"}, "already ran to COMPLETED"},
      {{"kill", "999"}, "no job execution with id 999"},
      {{"cancel", std::to_string(ok_id)}, "only a queued execution can be cancelled"},
      {{"restart", std::to_string(ok_id)}, "only a STOPPED or FAILED execution can be restarted"},
      {{"stop", std::to_string(ok_id)}, "not running"},
  };
  for (const auto& r : refusals) {
    auto done = kiln(r.args);
    INFO(r.message);
    CHECK(done.exit_code == 2);
    CHECK_THAT(done.err, Catch::Contains(r.message));
  }
  auto unreachable = run_process(kiln_bin, {"status", "--server", "http://127.0.0.1:1"}, dir.path(), 30);
  CHECK(unreachable.exit_code == 2);
  CHECK_THAT(unreachable.err, Catch::Contains("cannot reach"));
  CHECK(executions(h).size() == count);
}

TEST_CASE("node dispatch - higher priority first then submission order", "[process][node][dispatch]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "1"});
  const auto h = node.http();
  const auto blocker = submit(h, sleep_body("sleep", 20000, "block"));
  REQUIRE(reaches(h, blocker, "STARTED"));

  const std::vector<std::pair<std::string, std::int64_t>> submissions{{"a", 0},  {"b", 5}, {"c", 0},
                                                                      {"d", 10}, {"e", 5}, {"f", -1}};
  std::map<std::string, std::int64_t> id_of;
  for (const auto& [tag, priority] : submissions)
    id_of[tag] = submit(h, sleep_body("sleep", 20, tag, priority));
  std::vector<std::int64_t> expected;
  for (const auto* tag : {"d", "b", "e", "a", "c", "f"}) expected.push_back(id_of[tag]);
  CHECK(queued_ids(h) == expected);

  REQUIRE(h.post("/api/v1/executions/" + std::to_string(blocker) + "/stop", "").status == 200);
  for (auto id : expected) REQUIRE(reaches(h, id, "COMPLETED"));
  REQUIRE(reaches(h, blocker, "STOPPED"));

  // One slot: each claim follows the previous execution's end, in priority order.
  auto previous = execution(h, blocker);
  for (auto id : expected) {
    const auto e = execution(h, id);
    INFO("execution " << id << " (tag " << tag_of(e) << ")");
    CHECK(num(e, "claim_time") >= num(previous, "end_time"));
    CHECK(num(e, "start_time") >= num(e, "claim_time"));
    previous = e;
  }
  auto list = executions(h);
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::pair(num(a, "claim_time"), num(a, "id")) < std::pair(num(b, "claim_time"), num(b, "id"));
  });
  std::vector<std::int64_t> claimed;
  for (const auto& e : list) {
    if (num(e, "id") != blocker) claimed.push_back(num(e, "id"));
  }
  CHECK(claimed == expected);
}

TEST_CASE("node dispatch - never more than max-concurrent-jobs running at once",
          "[process][node][dispatch]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "2"});
  const auto h = node.http();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(submit(h, sleep_body("sleep", 300, numbered("c", i))));
  std::int64_t most_running = 0, most_queued = 0;
  REQUIRE(eventually(
      [&] {
        const auto st = get_json(h, "/api/v1/status");
        most_running = std::max(most_running, num(st, "running"));
        most_queued = std::max(most_queued, num(st, "queued"));
        return std::all_of(ids.begin(), ids.end(),
                           [&](auto id) { return str(execution(h, id), "status") == "COMPLETED"; });
      },
      30));
  CHECK(most_running == 2);
  CHECK(most_queued >= 1);
  CHECK(max_at_once(executions(h)) == 2);
  CHECK(eventually([&] { return num(get_json(h, "/api/v1/status"), "running") == 0; }));
}

TEST_CASE("node dispatch - per-queue limits and served queues", "[process][node][dispatch]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "3", "--queues", "default,slow", "--queue-limit", "slow=1"});
  const auto h = node.http();
  std::vector<std::int64_t> slow, all;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(submit(h, sleep_body("sleep", 400, numbered("s", i), 0, "slow")));
    all.push_back(slow.back());
    if (i < 2) all.push_back(submit(h, sleep_body("sleep", 400, numbered("d", i))));
  }
  const auto other = submit(h, sleep_body("sleep", 10, "o", 0, "other"));
  for (auto id : all) REQUIRE(reaches(h, id, "COMPLETED", 30));

  std::vector<json::object> slow_runs, runs;
  for (const auto& e : executions(h)) {
    if (std::find(all.begin(), all.end(), num(e, "id")) != all.end()) runs.push_back(e);
    if (str(e, "queue") == "slow") slow_runs.push_back(e);
  }
  CHECK(slow_runs.size() == 3);
  CHECK(max_at_once(slow_runs) == 1);
  CHECK(max_at_once(runs) >= 2);
  CHECK(max_at_once(runs) <= 3);

  // Nothing here serves queue 'other': its submission waits.
  const auto waiting = execution(h, other);
  CHECK(str(waiting, "status") == "STARTING");
  CHECK(str(waiting, "node").empty());
  CHECK(queued_ids(h) == std::vector<std::int64_t>{other});
  const auto st = get_json(h, "/api/v1/status");
  CHECK(num(st, "queued") == 1);
  CHECK(st.at("queues") == json::parse(R"(["default","slow"])"));
}

TEST_CASE("node dispatch - concurrency forbid runs one execution of the job at a time",
          "[process][node][dispatch]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "3"});
  const auto h = node.http();
  const auto x1 = submit(h, sleep_body("exclusive-sleep", 300, "x1"));
  const auto s1 = submit(h, sleep_body("sleep", 300, "s1"));
  const auto x2 = submit(h, sleep_body("exclusive-sleep", 300, "x2"));
  const auto x3 = submit(h, sleep_body("exclusive-sleep", 300, "x3"));
  REQUIRE(reaches(h, x1, "STARTED"));
  const auto held = execution(h, x2);
  if (str(execution(h, x1), "status") == "STARTED") CHECK(str(held, "node").empty());
  for (auto id : {x1, s1, x2, x3}) REQUIRE(reaches(h, id, "COMPLETED", 30));

  const auto exclusive = executions(h, "&job=exclusive-sleep");
  CHECK(exclusive.size() == 3);
  CHECK(max_at_once(exclusive) == 1);
  CHECK(max_at_once(executions(h)) == 2);  // the plain sleep ran alongside
  CHECK(num(execution(h, x2), "claim_time") < num(execution(h, x3), "claim_time"));
}

TEST_CASE("node operations - cancel - stop - restart resumes - kill - abandon",
          "[process][node][operations]") {
  temp_dir dir;
  node_proc node(dir, {"--max-concurrent-jobs", "1"});
  const auto h = node.http();
  auto op = [&](std::int64_t id, const std::string& action) {
    return h.post("/api/v1/executions/" + std::to_string(id) + "/" + action, "");
  };
  auto refused = [&](std::int64_t id, const std::string& action, const std::string& message) {
    auto r = op(id, action);
    INFO(action << " " << id << ": " << r.body);
    CHECK(r.status == 409);
    CHECK(str(r.json().as_object(), "error") == "invalid_transition");
    CHECK_THAT(str(r.json().as_object(), "message"), Catch::Contains(message));
  };

  const auto a = submit(h, sleep_body("sleep", 2000, "a"));
  REQUIRE(eventually([&] { return slept_ms(execution(h, a)) >= 200; }));
  const auto live = execution(h, a);
  REQUIRE(live.contains("progress"));
  CHECK(str(live.at("progress").as_object(), "step") == "sleep");
  CHECK(num(live.at("progress").as_object(), "commits") >= 4);
  const auto b = submit(h, sleep_body("sleep", 100, "b"));
  CHECK(queued_ids(h) == std::vector<std::int64_t>{b});
  CHECK_FALSE(execution(h, b).contains("progress"));

  // A queued execution is cancelled, not stopped or killed; a running one the other way round.
  refused(b, "stop", "cancel it instead");
  refused(b, "kill", "cancel it instead");
  refused(b, "abandon", "only a STOPPED or FAILED execution");
  refused(b, "restart", "only a STOPPED or FAILED execution");
  refused(a, "cancel", "stop or kill a running one");
  refused(a, "abandon", "stop it first");
  auto cancelled = op(b, "cancel");
  REQUIRE(cancelled.status == 200);
  CHECK(str(cancelled.json().as_object(), "status") == "STOPPED");
  CHECK(str(cancelled.json().as_object(), "exit_code") == "CANCELLED");
  refused(b, "cancel", "only a queued execution");
  CHECK(queued_ids(h).empty());

  // stop: ends STOPPED at a tick boundary with the time slept so far committed.
  auto stopping = op(a, "stop");
  REQUIRE(stopping.status == 200);
  CHECK(num(stopping.json().as_object(), "id") == a);
  REQUIRE(reaches(h, a, "STOPPED"));
  const auto stopped = execution(h, a);
  CHECK(str(stopped, "exit_code") == "STOPPED");
  CHECK_FALSE(stopped.contains("progress"));
  const auto slept_a = slept_ms(stopped);
  CHECK(slept_a >= 200);
  CHECK(slept_a < 2000);
  refused(a, "stop", "not running");

  // restart: a new execution of the same instance that starts from the committed context.
  auto restarted = op(a, "restart");
  REQUIRE(restarted.status == 201);
  const auto c = num(restarted.json().as_object(), "id");
  CHECK(num(restarted.json().as_object(), "instance_id") == num(stopped, "instance_id"));
  REQUIRE(eventually([&] { return commits(execution(h, c)) >= 2; }));
  auto killed = op(c, "kill");
  REQUIRE(killed.status == 200);
  CHECK(str(killed.json().as_object(), "status") == "FAILED");
  CHECK(str(killed.json().as_object(), "exit_code") == "KILLED");
  refused(c, "kill", "not running");
  // One kill, one log line: the execution's end with the kill's reason. The refused commands that
  // fence the runner afterwards are how a kill works, not errors.
  const auto ended = "execution " + std::to_string(c) + " ended";
  auto node_log = [&] { return node.process().out() + node.process().err(); };
  REQUIRE(eventually([&] { return node_log().find(ended) != std::string::npos; }));
  CHECK_THAT(node_log(), Catch::Contains(ended + " FAILED (exit KILLED): killed by an operator"));
  CHECK_THAT(node_log(), !Catch::Contains(" error "));
  const auto killed_detail = execution(h, c);
  CHECK(str(killed_detail, "status") == "FAILED");
  CHECK(str(last_step(killed_detail), "status") == "FAILED");
  CHECK(slept_ms(killed_detail) == slept_a + 50 * commits(killed_detail));

  // A killed execution restarts too, and completes what is left.
  auto restarted_again = op(c, "restart");
  REQUIRE(restarted_again.status == 201);
  const auto d = num(restarted_again.json().as_object(), "id");
  REQUIRE(reaches(h, d, "COMPLETED"));
  const auto done = execution(h, d);
  CHECK(slept_ms(done) == 2000);
  CHECK(commits(done) * 50 == 2000 - slept_ms(killed_detail));
  auto again = h.post("/api/v1/executions", sleep_body("sleep", 2000, "a"));
  CHECK(again.status == 409);
  CHECK(str(again.json().as_object(), "error") == "instance_complete");

  // abandon: a FAILED instance is retired for good.
  const auto e = submit(h, sleep_body("sleep", 20000, "e"));
  REQUIRE(reaches(h, e, "STARTED"));
  REQUIRE(op(e, "kill").status == 200);
  auto abandoned = op(e, "abandon");
  REQUIRE(abandoned.status == 200);
  CHECK(str(abandoned.json().as_object(), "status") == "ABANDONED");
  refused(e, "restart", "only a STOPPED or FAILED execution");
  auto resubmitted = h.post("/api/v1/executions", sleep_body("sleep", 20000, "e"));
  CHECK(resubmitted.status == 409);
  CHECK_THAT(str(resubmitted.json().as_object(), "message"), Catch::Contains("ABANDONED"));
}

TEST_CASE("node recovery after kill -9 - sleep resumes and completes - exclusive-sleep stays FAILED",
          "[process][node][recovery]") {
  temp_dir dir;
  std::int64_t r = 0, x = 0;
  {
    node_proc node(dir);
    const auto h = node.http();
    r = submit(h, sleep_body("sleep", 1500, "r"));
    x = submit(h, sleep_body("exclusive-sleep", 1500, "x"));
    REQUIRE(eventually([&] { return slept_ms(execution(h, r)) >= 150 && slept_ms(execution(h, x)) >= 150; }));
    node.process().kill(SIGKILL);
    CHECK(node.process().wait(10).signal == SIGKILL);
  }
  node_proc node(dir);
  const auto h = node.http();
  const auto dead_r = execution(h, r);
  const auto dead_x = execution(h, x);
  for (const auto& e : {dead_r, dead_x}) {
    CHECK(str(e, "status") == "FAILED");
    CHECK_THAT(str(e, "exit_description"), Catch::Contains("died"));
  }

  // recovery restart: queued again as a new execution of the instance, resuming from its checkpoint.
  const auto sleeps = executions(h, "&job=sleep");
  REQUIRE(sleeps.size() == 2);
  const auto r2 = num(sleeps.front(), "id");
  CHECK(r2 > x);
  CHECK(num(sleeps.front(), "instance_id") == num(dead_r, "instance_id"));
  REQUIRE(reaches(h, r2, "COMPLETED"));
  const auto resumed = execution(h, r2);
  CHECK(slept_ms(resumed) == 1500);
  CHECK(commits(resumed) * 50 == 1500 - slept_ms(dead_r));

  // recovery none: left FAILED, not queued again.
  const auto exclusive = executions(h, "&job=exclusive-sleep");
  REQUIRE(exclusive.size() == 1);
  CHECK(str(exclusive.front(), "status") == "FAILED");
  CHECK(queued_ids(h).empty());
  CHECK_THAT(node.process().err(), Catch::Contains("recovery is 'none'") &&
                                       Catch::Contains("restarting it from its last checkpoint"));
}

TEST_CASE("node SIGTERM - running sleep STOPPED - queued again - completes after restart",
          "[process][node][shutdown]") {
  auto run = [](bool resume) {
    temp_dir dir;
    const std::vector<std::string> args =
        resume ? std::vector<std::string>{} : std::vector<std::string>{"--no-resume-after-shutdown"};
    std::int64_t t = 0;
    {
      node_proc node(dir, args);
      const auto h = node.http();
      t = submit(h, sleep_body("sleep", 1500, "t"));
      REQUIRE(eventually([&] { return slept_ms(execution(h, t)) >= 150; }));
      node.process().kill(SIGTERM);
      auto ended = node.process().wait(20);
      INFO(ended.err);
      CHECK(ended.exit_code == 0);
      CHECK_THAT(ended.err, Catch::Contains("stopping 1 running execution(s) at a chunk boundary"));
      if (resume) CHECK_THAT(ended.err, Catch::Contains("queued again"));
    }
    node_proc node(dir, args);
    const auto h = node.http();
    const auto stopped = execution(h, t);
    CHECK(str(stopped, "status") == "STOPPED");
    CHECK(str(stopped, "exit_code") == "STOPPED");
    CHECK(slept_ms(stopped) > 0);
    CHECK(slept_ms(stopped) < 1500);
    const auto sleeps = executions(h, "&job=sleep");
    if (!resume) {
      CHECK(sleeps.size() == 1);
      CHECK(queued_ids(h).empty());
      return;
    }
    REQUIRE(sleeps.size() == 2);
    const auto t2 = num(sleeps.front(), "id");
    CHECK(num(sleeps.front(), "instance_id") == num(stopped, "instance_id"));
    REQUIRE(reaches(h, t2, "COMPLETED"));
    const auto done = execution(h, t2);
    CHECK(slept_ms(done) == 1500);
    CHECK(commits(done) * 50 == 1500 - slept_ms(stopped));
  };
  SECTION("resume after shutdown (the default)") {
    run(true);
  }
  SECTION("--no-resume-after-shutdown leaves it STOPPED") {
    run(false);
  }
}

TEST_CASE("node auth on loopback - token on mutating calls - reads and probes open",
          "[process][node][auth]") {
  ::unsetenv("KILN_TOKEN");
  temp_dir dir;
  node_proc node(dir, {"--token", "s3cret"});
  const auto h = node.http();
  const std::string body = R"({"job":"noop","parameters":{"tag":"auth"}})";

  auto none = h.post("/api/v1/executions", body);
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate") == "Bearer");
  CHECK(str(none.json().as_object(), "error") == "unauthorized");
  CHECK_THAT(str(none.json().as_object(), "message"), Catch::Contains("Authorization: Bearer"));
  for (const auto& header :
       {http_headers{{"Authorization", "Bearer wrong"}}, http_headers{{"Authorization", "Bearer "}},
        http_headers{{"Authorization", "Bearer s3cret2"}}, http_headers{{"Authorization", "Basic czNjcmV0"}},
        http_headers{{"Authorization", "s3cret"}}}) {
    auto wrong = h.post("/api/v1/executions", body, header);
    INFO(header.front().second);
    CHECK(wrong.status == 401);
    CHECK(str(wrong.json().as_object(), "error") == "unauthorized");
  }
  CHECK(executions(h).empty());

  auto right = h.post("/api/v1/executions", body, bearer("s3cret"));
  REQUIRE(right.status == 201);
  const auto id = num(right.json().as_object(), "id");
  REQUIRE(reaches(h, id, "COMPLETED"));

  // Operations need it too; a refused one changes nothing.
  auto op = h.post("/api/v1/executions/" + std::to_string(id) + "/abandon", "");
  CHECK(op.status == 401);
  CHECK(str(execution(h, id), "status") == "COMPLETED");
  CHECK(h.post("/api/v1/executions/" + std::to_string(id) + "/abandon", "", bearer("s3cret")).status == 409);

  // On loopback, reads and the probes need no token.
  for (const auto* path : {"/api/v1/status", "/api/v1/jobs", "/api/v1/queues", "/api/v1/executions",
                           "/api/v1/executions/1", "/metrics", "/", "/healthz", "/readyz"}) {
    INFO(path);
    CHECK(h.get(path).status == 200);
  }

  // The CLI sends --token as the bearer token.
  auto refused = run_process(kiln_bin, {"submit", "noop", "tag=cli", "--server", node.url()}, dir.path(), 60);
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("HTTP 401"));
  auto accepted = run_process(
      kiln_bin, {"submit", "noop", "tag=cli", "--wait", "--server", node.url(), "--token", "s3cret"},
      dir.path(), 60);
  INFO(accepted.err);
  CHECK(accepted.exit_code == 0);
  CHECK(run_process(kiln_bin, {"status", "--server", node.url()}, dir.path(), 60).exit_code == 0);
  CHECK(executions(h).size() == 2);
}

TEST_CASE("node auth off loopback - every call but the probes and the dashboard's files needs the token",
          "[process][node][auth]") {
  ::unsetenv("KILN_TOKEN");
  temp_dir dir;
  node_proc node(dir, {"--token", "s3cret"}, "0.0.0.0:0");
  const auto h = node.http();
  // The page holds no data and a browser cannot send a token with a page load; its API calls can.
  for (const auto* path : {"/", "/app.js", "/style.css"}) {
    INFO(path);
    auto page = h.get(path);
    CHECK(page.status == 200);
    CHECK_THAT(page.header("Content-Security-Policy"), Catch::Contains("script-src 'self'"));
  }
  CHECK(h.get("/nothing.js").status == 401);
  for (const auto* path : {"/api/v1/status", "/api/v1/jobs", "/api/v1/queues", "/api/v1/executions", "/metrics"}) {
    INFO(path);
    auto open = h.get(path);
    CHECK(open.status == 401);
    CHECK(str(open.json().as_object(), "error") == "unauthorized");
    CHECK(h.get(path, bearer("wrong")).status == 401);
    CHECK(h.get(path, bearer("s3cret")).status == 200);
  }
  CHECK(h.get("/healthz").status == 200);
  CHECK(h.get("/readyz").status == 200);
  CHECK(h.post("/api/v1/executions", R"({"job":"noop"})").status == 401);
  CHECK(h.post("/api/v1/executions", R"({"job":"noop"})", bearer("s3cret")).status == 201);
  auto status = run_process(kiln_bin, {"status", "--json", "--server", node.url(), "--token", "s3cret"},
                            dir.path(), 60);
  CHECK(status.exit_code == 0);
}

TEST_CASE("node refuses bad requests with 4xx and the JSON error - and changes nothing",
          "[process][node][rest]") {
  temp_dir dir;
  write_file(dir / "node.json",
             R"({"max_body_bytes": 1024, "max_concurrent_jobs": 2, "name": "from-config"})");
  node_proc node(dir, {"--config", "node.json"});
  const auto h = node.http();
  const auto st = get_json(h, "/api/v1/status");
  CHECK(str(st, "node") == "from-config");
  CHECK(num(st, "capacity") == 2);
  const auto kept = submit(h, R"({"job":"noop","parameters":{"tag":"kept"}})");
  REQUIRE(reaches(h, kept, "COMPLETED"));
  const auto before = json::serialize(json::value(get_json(h, "/api/v1/executions")));

  struct bad {
    std::string body;
    int status;
    std::string error;
    std::string message;
  };
  const std::string big = R"({"job":"noop","parameters":{"tag":")" + std::string(2000, 'x') + R"("}})";
  const std::vector<bad> cases{
      {"", 400, "bad_usage", "the body is empty"},
      {"not json", 400, "bad_usage", "not valid JSON"},
      {R"({"job":"noop")", 400, "bad_usage", "not valid JSON"},
      {"[1,2]", 400, "bad_usage", "must be a JSON object"},
      {R"({"job":5})", 400, "bad_usage", "'job' must be a job name"},
      {R"({"job":""})", 400, "bad_usage", "'job' must be a job name"},
      {R"({"job":"sleep","parameters":{"ms":10},"priority":"high"})", 400, "bad_usage",
       "'priority' must be an integer"},
      {R"({"job":"sleep","parameters":{"ms":10},"priority":1.5})", 400, "bad_usage",
       "'priority' must be an integer"},
      {R"({"job":"sleep","parameters":5})", 400, "bad_parameter", "'parameters' must be an object"},
      {R"({"job":"sleep","parameters":[10]})", 400, "bad_parameter", "\"name=value\" strings"},
      {R"({"job":"sleep","parameters":{"ms":[10]}})", 400, "bad_parameter", "string, number or boolean"},
      {R"({"job":"sleep","parameters":{"ms":10},"queue":"no spaces"})", 400, "bad_usage", "'queue' must be"},
      {R"({"job":"sleep","parameters":{"ms":10},"queue":7})", 400, "bad_usage", "'queue' must be"},
      {R"({"job":"sleep","parameters":{"ms":10},"colour":"red"})", 400, "bad_usage",
       "unknown field 'colour'"},
      {R"({"parameters":{"ms":10}})", 400, "bad_usage", "missing 'job'"},
      {R"({"job":"no-such-job"})", 404, "unknown_job", "unknown job 'no-such-job'"},
      {R"({"job":"sleep"})", 400, "bad_parameter", "missing required parameter 'ms'"},
      {R"({"job":"sleep","parameters":{"ms":"soon"}})", 400, "bad_parameter", "parameter 'ms'"},
      {R"({"job":"sleep","parameters":{"ms":1.5}})", 400, "bad_parameter", "'1.5' is not a whole number"},
      {R"({"job":"sleep","parameters":{"ms":-1}})", 400, "bad_parameter", "at least 0"},
      {R"({"job":"sleep","parameters":{"ms":10,"inptu":"x"}})", 400, "bad_parameter",
       "unknown parameter 'inptu'"},
      {R"({"job":"noop","parameters":{"tag":"kept"}})", 409, "instance_complete", "already ran to COMPLETED"},
      {big, 413, "payload_too_large", "larger than 1024 bytes"},
  };
  for (const auto& c : cases) {
    auto r = h.post("/api/v1/executions", c.body);
    INFO(c.body.substr(0, 80) << " -> " << r.status << " " << r.body);
    CHECK(r.status == c.status);
    const auto reply = r.json();
    REQUIRE(reply.is_object());
    const auto& o = reply.as_object();
    CHECK(str(o, "error") == c.error);
    CHECK_THAT(str(o, "message"), Catch::Contains(c.message));
  }

  // The limit holds for chunked bodies too, and a body-less POST is answered at once.
  auto chunked = h.post_chunked("/api/v1/executions", big);
  CHECK(chunked.status == 413);
  CHECK(h.post_chunked("/api/v1/executions", R"({"job":"noop","parameters":{"tag":"chunked"}})").status ==
        201);
  const auto raw = raw_http(node.port(), post_without_body("/api/v1/executions"), 4);
  CHECK_THAT(raw, Catch::StartsWith("HTTP/1.1 400") && Catch::Contains("the body is empty"));
  const auto chunked_id = num(executions(h).front(), "id");
  REQUIRE(reaches(h, chunked_id, "COMPLETED"));

  // Bad queries.
  for (const auto* query :
       {"/api/v1/executions?status=bogus", "/api/v1/executions?limit=0", "/api/v1/executions?limit=1001",
        "/api/v1/executions?limit=ten", "/api/v1/executions?before=x", "/api/v1/executions?since=yesterday",
        "/api/v1/executions?until=2026-13-45", "/api/v1/queues?limit=x"}) {
    auto r = h.get(query);
    INFO(query << " -> " << r.body);
    CHECK(r.status == 400);
    CHECK(str(r.json().as_object(), "error") == "bad_usage");
  }

  // Operations on executions that are not there.
  for (const auto* op : {"stop", "kill", "cancel", "restart", "abandon"}) {
    CHECK(h.post(std::string("/api/v1/executions/999/") + op, "").status == 404);
  }

  // Only the chunked submission got through; nothing else changed.
  auto list = get_json(h, "/api/v1/executions");
  auto& items = list.at("executions").as_array();
  REQUIRE(items.size() == 2);
  CHECK(num(items.front().as_object(), "id") == chunked_id);
  items.erase(items.begin());
  CHECK(json::serialize(json::value(list)) == before);
  CHECK(queued_ids(h).empty());
}

TEST_CASE("node refuses to start with exit 2 - bad config - no token off loopback - port or data dir in use",
          "[process][node][usage]") {
  ::unsetenv("KILN_TOKEN");
  temp_dir dir;
  write_file(dir / "broken.json", "{\"max_concurrent_jobs\": 2");
  write_file(dir / "unknown.json", R"({"max_concurent_jobs": 2})");
  write_file(dir / "type.json", R"({"max_concurrent_jobs": "four"})");
  write_file(dir / "small.json", R"({"max_body_bytes": 10})");
  write_file(dir / "lead.json", R"({"schedule_max_lead_ms": -1})");
  write_file(dir / "open.json", R"({"listen": "0.0.0.0:0"})");
  struct refusal {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<refusal> refusals{
      {{"--config", "broken.json"}, "is not valid JSON"},
      {{"--config", "unknown.json"}, "unknown config key 'max_concurent_jobs'"},
      {{"--config", "type.json"}, "'max_concurrent_jobs' must be an integer"},
      {{"--config", "small.json"}, "max_body_bytes must be at least 1024"},
      {{"--config", "lead.json"}, "schedule_max_lead_ms must be 0"},
      {{"--config", "missing.json"}, "missing.json"},
      {{"--config", "open.json"}, "refusing to listen on 0.0.0.0:0 without a token"},
      {{"--listen", "0.0.0.0:0"}, "refusing to listen on 0.0.0.0:0 without a token"},
      {{"--listen", "127.0.0.1"}, "must be host:port"},
      {{"--listen", "127.0.0.1:70000"}, "the port must be 0-65535"},
      {{"--listen", "::1:0"}, "write an IPv6 address in brackets"},
      {{"--listen", "[::]:0"}, "refusing to listen on [::]:0 without a token"},
      {{"--max-concurrent-jobs", "0"}, "max_concurrent_jobs must be at least 1"},
      {{"--queue-limit", "slow=0"}, "--queue-limit 'slow=0'"},
      {{"--queues", "no spaces"}, "queue name 'no spaces'"},
  };
  for (const auto& r : refusals) {
    std::vector<std::string> args{"node", "--data-dir", "refused"};
    args.insert(args.end(), r.args.begin(), r.args.end());
    auto done = run_process(kiln_bin, args, dir.path(), 20);
    INFO(r.message << ": " << done.err);
    CHECK(done.exit_code == 2);
    CHECK_THAT(done.err, Catch::Contains(r.message));
    CHECK(done.out.empty());
    CHECK_FALSE(fs::exists(dir / "refused"));
  }

  // A second node cannot take a running node's port or its data dir.
  node_proc running(dir);
  auto port = run_process(
      kiln_bin, {"node", "--listen", "127.0.0.1:" + std::to_string(running.port()), "--data-dir", "other"},
      dir.path(), 20);
  CHECK(port.exit_code == 2);
  CHECK_THAT(port.err, Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(running.port())));
  CHECK_FALSE(fs::exists(dir / "other"));  // refused before it touched its data dir
  auto data =
      run_process(kiln_bin, {"node", "--listen", "127.0.0.1:0", "--data-dir", "data"}, dir.path(), 20);
  CHECK(data.exit_code == 2);
  CHECK_THAT(data.err, Catch::Contains("in use by another Kiln process"));
  CHECK(running.process().running());
  CHECK(running.http().get("/healthz").status == 200);
}

TEST_CASE("node listens on IPv6 loopback - [::1]:port - no token needed there", "[process][node]") {
  ::unsetenv("KILN_TOKEN");
  temp_dir dir;
  node_proc node(dir, {}, "[::1]:0");
  CHECK(node.process().out().find("listening on http://[::1]:" + std::to_string(node.port())) != std::string::npos);
  httplib::Client ipv6("::1", node.port());
  auto health = ipv6.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto submitted = ipv6.Post("/api/v1/executions", R"({"job":"noop","parameters":{"tag":"v6"}})", "application/json");
  REQUIRE(submitted);
  CHECK(submitted->status == 201);
}
