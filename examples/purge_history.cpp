// purge-history: housekeeping of the job repository. Deletes the history (executions, step
// executions, contexts, instances) that ended more than `older_than` ago, and the schedules' fire
// records decided before then, through purge commands,
// so a cluster deletes the same on every node. Running and queued work is never touched.

#include "example_jobs.hpp"
#include "log_tasklet.hpp"

#include <kiln/progress.hpp>
#include <kiln/trigger.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <set>
#include <stdexcept>

namespace kiln::examples {

namespace {

// Instances purged per command: bounds the size of one WriteBatch.
constexpr std::int64_t instances_per_command = 200;

std::optional<std::string> check_duration(const job_parameter& p) {
  const auto* text = std::get_if<std::string>(&p.value);
  if (!text) return "must be a duration such as 30d";
  auto d = parse_duration_ms(*text);
  if (!d) return d.error().message();
  return std::nullopt;
}

std::optional<std::string> check_bool(const job_parameter& p) {
  const auto* text = std::get_if<std::string>(&p.value);
  if (text && (*text == "true" || *text == "false")) return std::nullopt;
  return "must be true or false";
}

// The cutoff is fixed at the first call and kept in the context, so a restart purges up to the
// same instant.
std::int64_t cutoff(step_context& ctx) {
  auto& c = ctx.context();
  if (const auto* saved = c.if_contains("cutoff_ms"); saved && saved->is_int64()) return saved->as_int64();
  const auto older_than = *parse_duration_ms(ctx.parameters().get_string("older_than"));
  const auto value = now_ms() - older_than;
  c["cutoff_ms"] = value;
  c["cutoff"] = format_utc(value);
  return value;
}

// Lists what a purge with this cutoff would delete, reading the executions a page at a time.
repeat_status dry_run(step_context& ctx, const state_store& store, std::int64_t before) {
  std::set<std::int64_t> seen_instances;
  std::int64_t count = 0;
  execution_filter page_filter;
  page_filter.limit = 500;
  while (true) {
    const auto page = store.executions(page_filter);
    if (page.empty()) break;
    for (const auto& e : page) {
      if (!seen_instances.insert(e.instance_id).second) continue;
      const auto execs = store.instance_executions(e.instance_id);
      if (!purge_selects(execs, before)) continue;
      for (const auto& x : execs) {
        fmt::print("would delete execution {} ({} {}, ended {})\n", x.id, x.job_name, to_string(x.status),
                   format_utc(x.end_time != 0 ? x.end_time : x.last_updated));
        ++count;
      }
    }
    page_filter.before = page.back().id;
  }
  std::fflush(stdout);
  const auto fires = store.fire_records_before(before);
  spdlog::info("dry run: {} executions ended and {} schedule fire records decided before {} would be deleted", count,
               fires, format_utc(before));
  ctx.context()["would_delete"] = count;
  ctx.context()["would_delete_fire_records"] = fires;
  return repeat_status::finished;
}

}  // namespace

job purge_history() {
  return job_builder("purge-history")
      .describe("deletes executions that ended more than older_than ago (never running or queued ones)")
      .parameter(param("older_than").required().check(check_duration).describe("a duration: 30d, 12h, 90m"))
      .parameter(param("dry_run").default_value(std::string("false")).check(check_bool).describe(
          "true: only list what would be deleted"))
      .parameter(param("tag").default_value(std::string("")).describe(
          "any text, to run again with the same older_than (e.g. the date)"))
      .step(log_tasklet_step("purge", [](step_context& ctx, command_log& log, const std::atomic<bool>&,
                                          step_counts& counts) {
        const auto before = cutoff(ctx);
        if (ctx.parameters().get_string("dry_run") == "true") return dry_run(ctx, log.state(), before);
        auto r = log.propose(purge_cmd{before, now_ms(), instances_per_command});
        if (!r) throw std::runtime_error("purge refused: " + r.error().message());
        counts.write += r->affected;
        auto& c = ctx.context();
        const auto add = [&c](const char* key, std::int64_t n) {
          c[key] = (c.contains(key) ? c.at(key).as_int64() : 0) + n;
        };
        add("deleted", r->affected);
        add("deleted_fire_records", r->fire_records);
        for (auto id : r->executions) spdlog::info("deleted execution {}", id);
        if (r->affected > 0 || r->fire_records > 0) return repeat_status::continuable;
        spdlog::info("purge: {} executions ended and {} schedule fire records decided before {} deleted",
                     c.at("deleted").as_int64(), c.at("deleted_fire_records").as_int64(), format_utc(before));
        return repeat_status::finished;
      }))
      .build();
}

}  // namespace kiln::examples
