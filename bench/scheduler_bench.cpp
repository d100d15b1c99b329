// Benchmark: N schedules due in the same second on the embedded default (RocksDB, standalone log).
// The real scheduler actor fires them; the bench records, for every firing, when it became
// durable, and reports the firing delay (durable - nominal slot) p50/p99/max and the sustained
// firings/s. It then checks that every schedule fired exactly once (one execution per schedule,
// counts.fired == 1, a fire record per run key). Baseline in the same run: the same number of
// plain create_execution commands proposed through the same log.
//
//   ./build/bench/scheduler_bench [--schedules 10000] [--runs 3] [--dir /tmp/kiln-sched-bench]

#include "example_jobs.hpp"

#include <kiln/actors/scheduler.hpp>
#include <kiln/command_log.hpp>
#include <kiln/progress.hpp>
#include <kiln/state_store.hpp>

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
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "kiln-sched-bench";
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct run_result {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
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
  std::vector<std::int64_t> durable;
  durable.reserve(static_cast<std::size_t>(o.schedules));
  standalone_log_options lo;
  lo.on_durable = [&](const command& c, std::chrono::nanoseconds) {
    if (!std::holds_alternative<fire_cmd>(c)) return;
    std::lock_guard lock(mu);
    durable.push_back(now_ms());
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
    auto scheduler = actors::spawn_scheduler(sys, jobs, *log, sc);
    caf::anon_send(scheduler, actors::leader_atom::value, true);
    std::unique_lock lock(mu);
    done.wait_for(lock, std::chrono::seconds(120), [&] { return durable.size() == static_cast<std::size_t>(o.schedules); });
    lock.unlock();
    caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  }
  std::vector<double> delays;
  for (auto t : durable) delays.push_back(static_cast<double>(t - slot));
  out.p50_ms = percentile(delays, 0.5);
  out.p99_ms = percentile(delays, 0.99);
  out.max_ms = delays.empty() ? 0 : *std::max_element(delays.begin(), delays.end());
  if (!durable.empty()) {
    const auto span = std::max<std::int64_t>(1, *std::max_element(durable.begin(), durable.end()) - slot);
    out.firings_per_s = static_cast<double>(durable.size()) * 1000.0 / static_cast<double>(span);
  }

  // Exactly once: one execution per schedule, each schedule fired once, its run key recorded.
  std::size_t ok = 0;
  for (const auto& s : store->schedules()) {
    if (s.counts.fired == 1 && store->fire_outcome_of(s.name, slot, 1) == std::string("fired")) ++ok;
  }
  out.exactly_once = ok == static_cast<std::size_t>(o.schedules) &&
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
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--schedules") o.schedules = std::atoi(next().c_str());
    else if (a == "--runs") o.runs = std::atoi(next().c_str());
    else if (a == "--dir") o.dir = next();
    else {
      std::fprintf(stderr, "usage: scheduler_bench [--schedules N] [--runs R] [--dir DIR]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  kiln::registry jobs;
  kiln::examples::register_all(jobs);
  std::vector<run_result> results;
  for (int r = 0; r < o.runs; ++r) {
    auto res = run_once(o, jobs, r);
    std::printf("run %d: %d schedules due at one instant: firing delay p50 %.0f ms  p99 %.0f ms  max %.0f ms  "
                "%.0f firings/s  exactly once: %s  | baseline create_execution: %.0f/s\n",
                r + 1, o.schedules, res.p50_ms, res.p99_ms, res.max_ms, res.firings_per_s,
                res.exactly_once ? "yes" : "NO", res.baseline_per_s);
    std::fflush(stdout);
    results.push_back(res);
  }
  auto median = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    return percentile(v, 0.5);
  };
  std::printf("median of %d: delay p50 %.0f ms  p99 %.0f ms  %.0f firings/s  baseline %.0f creates/s\n", o.runs,
              median([](const run_result& r) { return r.p50_ms; }), median([](const run_result& r) { return r.p99_ms; }),
              median([](const run_result& r) { return r.firings_per_s; }),
              median([](const run_result& r) { return r.baseline_per_s; }));
  const bool all = std::all_of(results.begin(), results.end(), [](const run_result& r) { return r.exactly_once; });
  return all ? 0 : 1;
}
