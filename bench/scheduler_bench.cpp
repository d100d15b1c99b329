// Benchmark: N schedules due at the same instant on the embedded default (RocksDB, standalone
// log). The real scheduler actor fires them (ahead of the slot, by the lead it computes); the bench
// records, for every firing, when it became durable, and reports:
//   - the firing delay: max(durable, not_before) - slot, i.e. how long after the nominal slot the
//     execution became runnable (a firing recorded ahead of its slot cannot be claimed before it),
//     p50/p99/max;
//   - how early firings were recorded: slot - durable for those durable before the slot (p50, and
//     the largest and smallest lead), and how many were;
//   - the sustained firings/s: firings / (last durable - first proposal).
// It then checks that every schedule fired exactly once (one execution per schedule,
// counts.fired == 1, a fire record per run key) and that none of the executions could be claimed
// before the slot. Baseline in the same run: the same number of plain create_execution commands
// proposed through the same log.
//
//   ./build/bench/scheduler_bench [--schedules 10000] [--runs 3] [--dir /tmp/kiln-sched-bench]
//                                 [--max-lead MS]   (default: the scheduler's 2000; 0 = at the slot)

#include "example_jobs.hpp"

#include <kiln/actors/scheduler.hpp>
#include <kiln/command_log.hpp>
#include <kiln/progress.hpp>
#include <kiln/state_store.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct options {
  int schedules = 10000;
  int runs = 3;
  std::int64_t max_lead_ms = kiln::actors::scheduler_config{}.max_lead_ms;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "kiln-sched-bench";
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct run_result {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::size_t ahead = 0;                                  // firings durable before the slot
  double lead_p50_ms = 0, lead_max_ms = 0, lead_min_ms = 0;  // slot - durable, over those
  double firings_per_s = 0;
  double baseline_per_s = 0;
  bool exactly_once = false;
};

run_result run_once(const options& o, const kiln::registry& jobs, int run) {
  using namespace kiln;
  const auto dir = o.dir / fmt::format("run-{}", run);
  std::filesystem::remove_all(dir);
  auto store = state_store::open(dir, store_access::read_write).value();
  // Durable times come from the log's thread: when each firing's group reached the disk.
  std::mutex mu;
  std::condition_variable done;
  struct firing {
    std::int64_t durable = 0;
    std::int64_t proposed = 0;
    std::int64_t not_before = 0;
  };
  std::vector<firing> durable;
  durable.reserve(static_cast<std::size_t>(o.schedules));
  standalone_log_options lo;
  lo.on_durable = [&](const command& c, std::chrono::nanoseconds latency) {
    const auto* f = std::get_if<fire_cmd>(&c);
    if (!f) return;
    const auto t = now_ms();
    std::lock_guard lock(mu);
    durable.push_back({t, t - std::chrono::duration_cast<std::chrono::milliseconds>(latency).count(),
                       f->execution.not_before});
    if (durable.size() == static_cast<std::size_t>(o.schedules)) done.notify_all();
  };
  auto log = make_standalone_log(*store, lo);

  // Every schedule: hourly, anchored so that its next slot is the same instant, ~3 s from now.
  const auto now = now_ms();
  const auto slot = (now / 1000 + 8) * 1000;
  {
    std::vector<std::future<expected<apply_result>>> pending;
    for (int i = 0; i < o.schedules; ++i) {
      schedule_record s;
      s.name = fmt::format("s{:05}", i);
      s.job = "noop";
      s.trigger.kind = trigger_kind::interval;
      s.trigger.interval_ms = 3600 * 1000;
      s.trigger.start_ms = slot;
      s.parameters = {"tag={schedule}"};
      pending.push_back(log->propose_async(create_schedule_cmd{s, now}));
    }
    for (auto& p : pending) p.get().value();
  }
  if (now_ms() >= slot - 500) spdlog::warn("creating the schedules took until {} ms before the slot", slot - now_ms());

  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  run_result out;
  {
    caf::actor_system sys{cfg};
    actors::scheduler_config sc;
    sc.max_lead_ms = o.max_lead_ms;
    auto scheduler = actors::spawn_scheduler(sys, jobs, *log, sc);
    caf::anon_send(scheduler, actors::leader_atom::value, true);
    std::unique_lock lock(mu);
    done.wait_for(lock, std::chrono::seconds(120), [&] { return durable.size() == static_cast<std::size_t>(o.schedules); });
    lock.unlock();
    caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  }
  // Runnable from max(durable, not_before); not_before is the slot (no jitter) or 0 (at the slot).
  std::vector<double> delays;
  std::vector<double> leads;
  bool early_claimable = false;
  for (const auto& f : durable) {
    delays.push_back(static_cast<double>(std::max(f.durable, f.not_before) - slot));
    if (f.durable < slot) {
      leads.push_back(static_cast<double>(slot - f.durable));
      if (f.not_before != slot) early_claimable = true;
    }
  }
  out.p50_ms = percentile(delays, 0.5);
  out.p99_ms = percentile(delays, 0.99);
  out.max_ms = delays.empty() ? 0 : *std::max_element(delays.begin(), delays.end());
  out.ahead = leads.size();
  if (!leads.empty()) {
    out.lead_p50_ms = percentile(leads, 0.5);
    out.lead_max_ms = *std::max_element(leads.begin(), leads.end());
    out.lead_min_ms = *std::min_element(leads.begin(), leads.end());
  }
  if (!durable.empty()) {
    std::int64_t first = durable.front().proposed, last = durable.front().durable;
    for (const auto& f : durable) {
      first = std::min(first, f.proposed);
      last = std::max(last, f.durable);
    }
    out.firings_per_s = static_cast<double>(durable.size()) * 1000.0 / static_cast<double>(std::max<std::int64_t>(1, last - first));
  }

  // Exactly once: one execution per schedule, each schedule fired once, its run key recorded.
  std::size_t ok = 0;
  for (const auto& s : store->schedules()) {
    if (s.counts.fired == 1 && store->fire_outcome_of(s.name, slot, 1) == std::string("fired")) ++ok;
  }
  // Fired ahead, yet not claimable before the slot: a claim just before it takes nothing.
  if (store->queue_claimable(slot - 1) && out.ahead == durable.size()) early_claimable = true;
  if (early_claimable) spdlog::error("an execution fired ahead of its slot was claimable before it");
  out.exactly_once = !early_claimable && ok == static_cast<std::size_t>(o.schedules) &&
                     store->queue_depth() == static_cast<std::size_t>(o.schedules) &&
                     durable.size() == static_cast<std::size_t>(o.schedules);

  // Baseline: the same number of plain create_execution commands through the same log.
  {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::future<expected<apply_result>>> pending;
    for (int i = 0; i < o.schedules; ++i) {
      create_execution_cmd c;
      c.job = "noop";
      c.parameters.set("tag", {fmt::format("baseline-{}", i), true});
      c.time = now_ms();
      c.queue = "default";
      pending.push_back(log->propose_async(std::move(c)));
    }
    for (auto& p : pending) p.get().value();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.baseline_per_s = o.schedules / s;
  }
  log.reset();
  store.reset();
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app("schedules due at one instant on a kiln node (docs/benchmarks.md)");
  app.add_option("--schedules", o.schedules, "schedules due at once")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--runs", o.runs, "runs; the medians are reported")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dir", o.dir, "where the data dirs go")->capture_default_str();
  app.add_option("--max-lead", o.max_lead_ms, "the scheduler's max_lead_ms")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  kiln::registry jobs;
  kiln::examples::register_all(jobs);
  std::vector<run_result> results;
  for (int r = 0; r < o.runs; ++r) {
    auto res = run_once(o, jobs, r);
    std::printf("run %d: %d schedules due at one instant: firing delay p50 %.0f ms  p99 %.0f ms  max %.0f ms  "
                "| recorded ahead %zu, lead p50 %.0f ms (max %.0f, min %.0f)  | %.0f firings/s  exactly once: %s  "
                "| baseline create_execution: %.0f/s\n",
                r + 1, o.schedules, res.p50_ms, res.p99_ms, res.max_ms, res.ahead, res.lead_p50_ms, res.lead_max_ms,
                res.lead_min_ms, res.firings_per_s, res.exactly_once ? "yes" : "NO", res.baseline_per_s);
    std::fflush(stdout);
    results.push_back(res);
  }
  auto median = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return percentile(v, 0.5);
  };
  std::printf("median of %d: delay p50 %.0f ms  p99 %.0f ms  lead p50 %.0f ms (min %.0f)  %.0f firings/s  "
              "baseline %.0f creates/s\n",
              o.runs, median([](const run_result& r) { return r.p50_ms; }),
              median([](const run_result& r) { return r.p99_ms; }),
              median([](const run_result& r) { return r.lead_p50_ms; }),
              median([](const run_result& r) { return r.lead_min_ms; }),
              median([](const run_result& r) { return r.firings_per_s; }),
              median([](const run_result& r) { return r.baseline_per_s; }));
  const bool all = std::all_of(results.begin(), results.end(), [](const run_result& r) { return r.exactly_once; });
  return all ? 0 : 1;
}
