// The query and operation commands: `jobs`, `executions`, `show`, `abandon` work on the local data
// dir (read-only for queries, so they work while a job runs) or, with --server, on a node's REST
// API; `submit`, `status`, `stop`, `kill`, `cancel`, `restart` talk to a node. Both paths produce
// the same JSON views (kiln/views.hpp) and print them the same way.

#include "commands.hpp"
#include "rest_client.hpp"

#include <kiln/command_log.hpp>
#include <kiln/progress.hpp>
#include <kiln/state_store.hpp>
#include <kiln/views.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace kiln::cli {

namespace json = boost::json;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kiln: %s\n", message.c_str());
  return static_cast<int>(exit_code::usage);
}

int code_for(batch_status s) {
  switch (s) {
    case batch_status::completed: return static_cast<int>(exit_code::completed);
    case batch_status::stopped: return static_cast<int>(exit_code::stopped);
    default: return static_cast<int>(exit_code::failed);
  }
}

std::string format_count(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string format_duration_ms(std::int64_t ms) {
  if (ms < 10'000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  const auto s = ms / 1000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
}

namespace {

std::int64_t i64(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return 0;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string when(std::int64_t ms) { return ms == 0 ? "-" : format_timestamp(ms); }

std::string took(const json::object& e) {
  const auto start = i64(e, "start_time");
  if (start == 0) return "-";
  const auto end = i64(e, "end_time") ? i64(e, "end_time") : i64(e, "last_updated");
  return format_duration_ms(end - start);
}

std::string params_text(const json::object& e) {
  auto params = job_parameters::from_json(e.contains("parameters") ? e.at("parameters") : json::value());
  if (!params) return "";
  std::string s;
  for (const auto& [name, v] : params->all()) {
    s += fmt::format("{}{}{}={}", s.empty() ? "" : " ", v.identifying ? "" : "-", name, v.text());
  }
  return s;
}

std::string default_server() {
  if (const char* env = std::getenv("KILN_SERVER"); env && *env) return env;
  return "http://127.0.0.1:8080";
}

rest_client client_for(const target& t) { return rest_client(t.server.empty() ? default_server() : t.server, t.token); }

expected<std::unique_ptr<state_store>> open_read_only(const target& t) {
  return state_store::open(t.data_dir, store_access::read_only);
}

}  // namespace

void print_jobs(const json::array& jobs) {
  for (const auto& jv : jobs) {
    const auto& j = jv.as_object();
    const auto description = str(j, "description");
    std::cout << str(j, "name") << (description.empty() ? "" : "  -- " + description) << "\n";
    std::string steps;
    for (const auto& s : j.at("steps").as_array()) {
      steps += (steps.empty() ? "" : " -> ") + str(s.as_object(), "name") + " (" + str(s.as_object(), "kind") + ")";
    }
    std::cout << "  steps: " << steps << "\n";
    for (const auto& pv : j.at("parameters").as_array()) {
      const auto& p = pv.as_object();
      std::string extra;
      if (p.at("required").as_bool()) extra = ", required";
      if (p.contains("default")) extra += ", default " + str(p, "default");
      if (!p.at("identifying").as_bool()) extra += ", non-identifying";
      const auto desc = str(p, "description");
      std::cout << fmt::format("  {}=<{}{}>{}\n", str(p, "name"), str(p, "type"), extra,
                               desc.empty() ? "" : "  " + desc);
    }
    if (str(j, "concurrency") == "forbid") std::cout << "  concurrency: forbid\n";
    if (str(j, "recovery") == "none") std::cout << "  recovery: none\n";
  }
}

void print_executions(const json::array& list) {
  std::cout << fmt::format("{:>6}  {:<20} {:<10} {:<24} {:>8}  {}\n", "ID", "JOB", "STATUS", "STARTED", "TOOK",
                           "PARAMETERS");
  for (const auto& ev : list) {
    const auto& e = ev.as_object();
    const auto start = i64(e, "start_time") ? i64(e, "start_time") : i64(e, "create_time");
    std::string status = str(e, "status");
    if (status == "STARTING" && str(e, "node").empty() && !str(e, "queue").empty()) status = "QUEUED";
    std::cout << fmt::format("{:>6}  {:<20} {:<10} {:<24} {:>8}  {}\n", i64(e, "id"), str(e, "job"), status,
                             when(start), took(e), params_text(e));
  }
}

void print_execution(const json::object& e) {
  std::cout << fmt::format("execution {}  job {}  instance {}\n", i64(e, "id"), str(e, "job"), i64(e, "instance_id"));
  std::cout << fmt::format("  status      {} (exit {})\n", str(e, "status"), str(e, "exit_code"));
  if (const auto nb = i64(e, "not_before"); nb > 0 && str(e, "node").empty() && str(e, "status") == "STARTING") {
    std::cout << fmt::format("  queued      not before {}{}\n", format_timestamp(nb),
                             nb > now_ms() ? " (fired ahead of its slot; no node claims it before then)" : "");
  }
  if (!str(e, "exit_description").empty()) {
    // Only a failure's description is an error; a STOPPED or COMPLETED one says why it ended so.
    const bool failed = str(e, "status") == "FAILED";
    std::cout << fmt::format("  {}{}\n", failed ? "error       " : "exit note   ", str(e, "exit_description"));
  }
  std::cout << fmt::format("  parameters  {}\n", params_text(e));
  if (!str(e, "queue").empty()) {
    std::cout << fmt::format("  queue       {} (priority {}){}\n", str(e, "queue"), i64(e, "priority"),
                             str(e, "node").empty() ? "" : ", node " + str(e, "node"));
  }
  std::cout << fmt::format("  created     {}\n  started     {}\n  ended       {}\n  took        {}\n",
                           when(i64(e, "create_time")), when(i64(e, "start_time")), when(i64(e, "end_time")), took(e));
  if (const auto* p = e.if_contains("progress"); p && p->is_object()) {
    const auto& pr = p->as_object();
    std::cout << fmt::format("  live        step {}  read {}  written {}  skipped {}  {}/s\n", str(pr, "step"),
                             format_count(i64(pr, "read")), format_count(i64(pr, "written")),
                             format_count(i64(pr, "skipped")), format_count(i64(pr, "items_per_second")));
  }
  if (!e.contains("steps")) return;
  for (const auto& sv : e.at("steps").as_array()) {
    const auto& st = sv.as_object();
    const auto c = step_counts_from_json(st.at("counts")).value_or(step_counts{});
    std::cout << fmt::format("  step {} (#{})  {}  exit {}\n", str(st, "step"), i64(st, "id"), str(st, "status"),
                             str(st, "exit_code"));
    std::cout << fmt::format(
        "    read {}  written {}  filtered {}  skipped {} (read {}, process {}, write {})  commits {}  rollbacks {}  "
        "retries {}\n",
        format_count(c.read), format_count(c.write), format_count(c.filter), format_count(c.skip()),
        format_count(c.read_skip), format_count(c.process_skip), format_count(c.write_skip), format_count(c.commit),
        format_count(c.rollback), format_count(c.retry));
    if (const auto* log = st.if_contains("skip_log"); log && log->is_object()) {
      const auto n = i64(log->as_object(), "lines");
      std::cout << fmt::format("    skip log {} ({} {})\n", str(log->as_object(), "path"), format_count(n),
                               n == 1 ? "line" : "lines");
    }
    if (!str(st, "exit_description").empty() && str(st, "status") != "COMPLETED") {
      std::cout << (str(st, "status") == "FAILED" ? "    error   " : "    note    ") << str(st, "exit_description") << "\n";
    }
    if (const auto* ctx = st.if_contains("context"); ctx && ctx->is_object() && !ctx->as_object().empty()) {
      std::cout << "    context " << json::serialize(*ctx) << "\n";
    }
  }
}

int list_jobs(const registry& jobs, const target& where, bool as_json) {
  json::array out;
  if (where.remote()) {
    auto r = client_for(where).get("/api/v1/jobs");
    if (!r) return usage_error(r.error().message());
    out = r->as_object().at("jobs").as_array();
  } else {
    for (const auto& [_, j] : jobs.jobs()) out.push_back(job_view(j));
  }
  if (as_json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    print_jobs(out);
  }
  return 0;
}

int list_executions(const query_options& o) {
  json::array list;
  if (o.where.remote()) {
    std::string path = fmt::format("/api/v1/executions?limit={}", o.limit == 0 ? 1000 : o.limit);
    if (o.job) path += "&job=" + *o.job;
    if (o.status) path += "&status=" + *o.status;
    auto r = client_for(o.where).get(path);
    if (!r) return usage_error(r.error().message());
    list = r->as_object().at("executions").as_array();
  } else {
    auto store = open_read_only(o.where);
    if (!store) {
      if (store.error().code() == errc::not_found && !o.json) {
        std::cout << "no executions yet (" << store.error().message() << ")\n";
        return 0;
      }
      return usage_error(store.error().message());
    }
    execution_filter filter;
    filter.job = o.job;
    filter.limit = o.limit;
    if (o.status) {
      auto s = parse_batch_status(*o.status);
      if (!s) return usage_error(fmt::format("unknown status '{}'; use STARTING, STARTED, STOPPING, STOPPED, FAILED, "
                                             "COMPLETED or ABANDONED",
                                             *o.status));
      filter.status = *s;
    }
    for (const auto& e : (*store)->executions(filter)) list.push_back(to_json(e));
  }
  if (o.json) {
    std::cout << json::serialize(list) << "\n";
    return 0;
  }
  if (list.empty()) {
    std::cout << "no executions" << (o.job ? " of job '" + *o.job + "'" : "") << "\n";
    return 0;
  }
  print_executions(list);
  return 0;
}

int show_execution(const query_options& o) {
  json::object detail;
  if (o.where.remote()) {
    auto r = client_for(o.where).get(fmt::format("/api/v1/executions/{}", o.execution_id));
    if (!r) return usage_error(r.error().message());
    detail = r->as_object();
  } else {
    auto store = open_read_only(o.where);
    if (!store) return usage_error(store.error().message());
    auto d = execution_detail(**store, o.execution_id);
    if (!d) return usage_error(d.error().message());
    detail = std::move(*d);
  }
  if (o.json) {
    std::cout << json::serialize(detail) << "\n";
  } else {
    print_execution(detail);
  }
  return 0;
}

int abandon_execution(const query_options& o) {
  if (o.where.remote()) return operate(o, "abandon");
  auto store = state_store::open(o.where.data_dir, store_access::read_write);
  if (!store) {
    if (store.error().code() == errc::data_dir_locked) {
      return usage_error(store.error().message() + "; if a node owns it, use --server (or KILN_SERVER)");
    }
    return usage_error(store.error().message());
  }
  auto log = make_standalone_log(**store);
  auto r = log->propose(abandon_cmd{o.execution_id, now_ms()});
  if (!r) return usage_error(r.error().message());
  std::cout << "execution " << o.execution_id << " ABANDONED; its instance will not be restarted\n";
  return 0;
}

int operate(const query_options& o, const std::string& action) {
  auto r = client_for(o.where).post(fmt::format("/api/v1/executions/{}/{}", o.execution_id, action));
  if (!r) return usage_error(r.error().message());
  const auto& e = r->as_object();
  if (o.json) {
    std::cout << json::serialize(e) << "\n";
    return 0;
  }
  if (action == "restart") {
    std::cout << fmt::format("execution {} queued as a restart of execution {}\n", i64(e, "id"), o.execution_id);
  } else if (action == "stop") {
    std::cout << fmt::format("execution {} {}: it stops after its current chunk\n", o.execution_id, str(e, "status"));
  } else {
    std::cout << fmt::format("execution {} {} (exit {})\n", o.execution_id, str(e, "status"), str(e, "exit_code"));
  }
  return 0;
}

int node_status(const target& where, bool as_json) {
  auto r = client_for(where).get("/api/v1/status");
  if (!r) return usage_error(r.error().message());
  const auto& s = r->as_object();
  if (as_json) {
    std::cout << json::serialize(s) << "\n";
    return 0;
  }
  std::string queues;
  for (const auto& q : s.at("queues").as_array()) queues += (queues.empty() ? "" : ", ") + std::string(q.as_string());
  std::cout << fmt::format("node {}  kiln {}  up {}\n  running {} of {}  queued {}  serving {}{}\n", str(s, "node"),
                           str(s, "version"), format_duration_ms(i64(s, "uptime_ms")), i64(s, "running"),
                           i64(s, "capacity"), i64(s, "queued"), queues.empty() ? "every queue" : queues,
                           s.at("accepting").as_bool() ? "" : "  (shutting down)");
  return 0;
}

int submit(const submit_cli_options& o) {
  auto client = client_for(o.where);
  json::array params(o.parameters.begin(), o.parameters.end());
  auto r = client.post("/api/v1/executions", json::object{{"job", o.job},
                                                          {"parameters", std::move(params)},
                                                          {"priority", o.priority},
                                                          {"queue", o.queue}});
  if (!r) return usage_error(r.error().message());
  const auto id = i64(r->as_object(), "id");
  std::printf("execution %lld\n", static_cast<long long>(id));
  std::fflush(stdout);
  if (!o.wait) return 0;

  // Follow the execution until it ends: a redrawn line on a terminal, a log line otherwise.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto last_log = std::chrono::steady_clock::now();
  json::object e;
  for (;;) {
    auto d = client.get(fmt::format("/api/v1/executions/{}", id));
    if (!d) return usage_error(d.error().message());
    e = d->as_object();
    const auto status = parse_batch_status(str(e, "status")).value_or(batch_status::failed);
    if (!is_running(status)) break;
    std::string line = str(e, "node").empty() ? fmt::format("queued in '{}'", str(e, "queue")) : str(e, "status");
    if (const auto nb = i64(e, "not_before"); str(e, "node").empty() && nb > now_ms()) {
      line += fmt::format(", not before {}", format_timestamp(nb));
    }
    if (const auto* p = e.if_contains("progress"); p && p->is_object()) {
      const auto& pr = p->as_object();
      line = fmt::format("[{}] read {}  written {}  skipped {}  {}/s", str(pr, "step"), format_count(i64(pr, "read")),
                         format_count(i64(pr, "written")), format_count(i64(pr, "skipped")),
                         format_count(i64(pr, "items_per_second")));
    }
    const auto now = std::chrono::steady_clock::now();
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else if (std::chrono::duration<double>(now - last_log).count() >= o.progress_interval) {
      spdlog::info("execution {}: {}", id, line);
      last_log = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (tty) std::fputs("\r\033[K", stderr);
  const auto status = parse_batch_status(str(e, "status")).value_or(batch_status::failed);
  std::printf("execution %lld %s (exit %s)%s%s\n", static_cast<long long>(id), str(e, "status").c_str(),
              str(e, "exit_code").c_str(), str(e, "exit_description").empty() ? "" : ": ",
              str(e, "exit_description").c_str());
  return code_for(status);
}

}  // namespace kiln::cli
