// `kiln jobs`, `executions`, `show`, `abandon`: read the state store (read-only, so they work while
// a job runs) or, for abandon, propose a command (needs the data-dir lock).

#include "commands.hpp"

#include <kiln/command_log.hpp>
#include <kiln/progress.hpp>
#include <kiln/state_store.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

namespace kiln::cli {

namespace json = boost::json;

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kiln: %s\n", message.c_str());
  return static_cast<int>(exit_code::usage);
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

std::string when(std::int64_t ms) { return ms == 0 ? "-" : format_timestamp(ms); }

std::string duration_of(const job_execution_record& e) {
  if (e.start_time == 0) return "-";
  const auto end = e.end_time ? e.end_time : e.last_updated;
  return format_duration_ms(end - e.start_time);
}

std::string params_text(const job_parameters& p) {
  std::string s;
  for (const auto& [name, v] : p.all()) {
    s += fmt::format("{}{}{}={}", s.empty() ? "" : " ", v.identifying ? "" : "-", name, v.text());
  }
  return s;
}

expected<std::unique_ptr<state_store>> open_read_only(const query_options& o) {
  return state_store::open(o.data_dir, store_access::read_only);
}

}  // namespace

int list_jobs(const registry& jobs, bool as_json) {
  if (as_json) {
    json::array out;
    for (const auto& [name, j] : jobs.jobs()) {
      json::array params, steps;
      for (const auto& p : j.parameter_specs()) {
        json::object po{{"name", p.name}, {"type", to_string(p.type)}, {"required", p.required},
                        {"identifying", p.identifying}, {"description", p.description}};
        if (p.default_value) po["default"] = job_parameter{*p.default_value, p.identifying}.text();
        params.push_back(std::move(po));
      }
      for (const auto& s : j.steps()) steps.push_back(json::object{{"name", s->name()}, {"kind", s->kind()}});
      out.push_back(json::object{{"name", name}, {"description", j.description()}, {"parameters", params},
                                 {"steps", steps}, {"restartable", j.restartable()}});
    }
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  for (const auto& [name, j] : jobs.jobs()) {
    std::cout << name << (j.description().empty() ? "" : "  -- " + j.description()) << "\n";
    std::string steps;
    for (const auto& s : j.steps()) steps += (steps.empty() ? "" : " -> ") + s->name() + " (" + s->kind() + ")";
    std::cout << "  steps: " << steps << "\n";
    for (const auto& p : j.parameter_specs()) {
      std::string extra;
      if (p.required) extra = ", required";
      if (p.default_value) extra += ", default " + job_parameter{*p.default_value, p.identifying}.text();
      if (!p.identifying) extra += ", non-identifying";
      std::cout << fmt::format("  {}=<{}{}>{}\n", p.name, to_string(p.type), extra,
                               p.description.empty() ? "" : "  " + p.description);
    }
  }
  return 0;
}

int list_executions(const query_options& o) {
  auto store = open_read_only(o);
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
  auto list = (*store)->executions(filter);
  if (o.json) {
    json::array out;
    for (const auto& e : list) out.push_back(to_json(e));
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  if (list.empty()) {
    std::cout << "no executions" << (o.job ? " of job '" + *o.job + "'" : "") << "\n";
    return 0;
  }
  std::cout << fmt::format("{:>6}  {:<20} {:<10} {:<24} {:>8}  {}\n", "ID", "JOB", "STATUS", "STARTED", "TOOK",
                           "PARAMETERS");
  for (const auto& e : list) {
    std::cout << fmt::format("{:>6}  {:<20} {:<10} {:<24} {:>8}  {}\n", e.id, e.job_name, to_string(e.status),
                             when(e.start_time ? e.start_time : e.create_time), duration_of(e),
                             params_text(e.parameters));
  }
  return 0;
}

int show_execution(const query_options& o) {
  auto store = open_read_only(o);
  if (!store) return usage_error(store.error().message());
  auto e = (*store)->execution(o.execution_id);
  if (!e) return usage_error(e.error().message());
  auto steps = (*store)->step_executions(e->id);
  if (o.json) {
    json::object out = to_json(*e).as_object();
    json::array sa;
    for (const auto& st : steps) {
      json::object so = to_json(st).as_object();
      so["context"] = (*store)->step_context(st.id);
      sa.push_back(std::move(so));
    }
    out["steps"] = std::move(sa);
    std::cout << json::serialize(out) << "\n";
    return 0;
  }
  std::cout << fmt::format("execution {}  job {}  instance {}\n", e->id, e->job_name, e->instance_id);
  std::cout << fmt::format("  status      {} (exit {})\n", to_string(e->status), e->exit.code);
  if (!e->exit.description.empty()) std::cout << fmt::format("  error       {}\n", e->exit.description);
  std::cout << fmt::format("  parameters  {}\n", params_text(e->parameters));
  std::cout << fmt::format("  created     {}\n  started     {}\n  ended       {}\n  took        {}\n",
                           when(e->create_time), when(e->start_time), when(e->end_time), duration_of(*e));
  for (const auto& st : steps) {
    const auto& c = st.counts;
    std::cout << fmt::format("  step {} (#{})  {}  exit {}\n", st.step_name, st.id, to_string(st.status), st.exit.code);
    std::cout << fmt::format(
        "    read {}  written {}  filtered {}  skipped {} (read {}, process {}, write {})  commits {}  rollbacks {}\n",
        format_count(c.read), format_count(c.write), format_count(c.filter), format_count(c.skip()),
        format_count(c.read_skip), format_count(c.process_skip), format_count(c.write_skip), format_count(c.commit),
        format_count(c.rollback));
    if (!st.exit.description.empty() && st.status != batch_status::completed) {
      std::cout << "    error   " << st.exit.description << "\n";
    }
    auto ctx = (*store)->step_context(st.id);
    if (!ctx.empty()) std::cout << "    context " << json::serialize(ctx) << "\n";
  }
  return 0;
}

int abandon_execution(const query_options& o) {
  auto store = state_store::open(o.data_dir, store_access::read_write);
  if (!store) return usage_error(store.error().message());
  auto log = make_standalone_log(**store);
  auto r = log->propose(abandon_cmd{o.execution_id, now_ms()});
  if (!r) return usage_error(r.error().message());
  std::cout << "execution " << o.execution_id << " ABANDONED; its instance will not be restarted\n";
  return 0;
}

}  // namespace kiln::cli
