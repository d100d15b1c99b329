// Benchmark: the speed-up of running a step on two threads instead of one, through the real
// framework (run_job over a RocksDB folder, durable checkpoints):
//   1. csv-to-jsonl partitions=2 against partitions=1 (two line ranges converted at once, then
//      merged), on the same generated input; once with the default write_behind=false, where each
//      partition is one thread, and once with write_behind=true, where even one partition keeps
//      two threads busy (it writes chunk k while it reads chunk k+1);
//   2. a chunk step with a CPU-heavy processor, threads(2) against threads(1).
// Each measurement is repeated --runs times and the median wall time reported with the ratio.
//
//   parallel_bench [--rows 2000000] [--items 200000] [--work 2000] [--interval 1000] [--runs 3]
//                  [--dir /tmp/kiln-pbench]
// --interval is the commit interval of the CPU-heavy step: each chunk ends with a barrier (the
// step waits for its slowest item), so on a loaded machine, larger chunks lose less to it.

#include "example_jobs.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>
#include <kiln/views.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <vector>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace kiln;
using clock_type = std::chrono::steady_clock;

namespace {

// CPU seconds (user + system) this process has used so far, all threads.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double last_cpu = 0;     // CPU seconds of the last timed_run
std::string last_steps;  // the last timed_run's steps: "name start-end ms" from the job's start

// Runs `j` with `args` on a fresh store in `data`; the wall time in seconds.
// Each timed run starts from the same disk: `leftovers` (the outputs of earlier runs) and the data
// dir removed, and the removal synced. This machine's root file system is mounted with `discard`,
// so the first fsync after a large file was freed waits for the journal commit to trim its blocks
// (up to 0.25 s for a 230 MB output), whichever run freed it.
double timed_run(const job& j, const std::vector<std::string>& args, const fs::path& data,
                 const std::vector<fs::path>& leftovers = {}) {
  for (const auto& p : leftovers) fs::remove_all(p);
  fs::remove_all(data);
  ::sync();
  auto store = state_store::open(data, store_access::read_write).value();
  auto log = make_standalone_log(*store);
  auto params = j.parameters_from(args).value();
  const double c0 = cpu_seconds();
  const auto t0 = clock_type::now();
  auto r = run_job(j, params, *log).value();
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  last_cpu = cpu_seconds() - c0;
  last_steps.clear();
  if (auto detail = execution_detail(*store, r.execution_id)) {
    const auto t0_ms = detail->at("start_time").as_int64();
    for (const auto& s : detail->at("steps").as_array()) {
      const auto& o = s.as_object();
      last_steps += fmt::format(" {} {}-{}", o.at("step").as_string().c_str(), o.at("start_time").as_int64() - t0_ms,
                                o.at("end_time").as_int64() - t0_ms);
    }
  }
  if (r.status != batch_status::completed) {
    std::fprintf(stderr, "%s ended %s: %s\n", j.name().c_str(), std::string(to_string(r.status)).c_str(),
                 r.exit.description.c_str());
    std::exit(1);
  }
  return s;
}

// A deterministic, CPU-bound transform: `work` rounds of an xorshift-multiply mix.
std::uint64_t burn(std::uint64_t x, std::int64_t work) {
  for (std::int64_t i = 0; i < work; ++i) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 29;
  }
  return x;
}

// Counts 0..items-1, restartably.
class counter_reader final : public item_reader<std::int64_t> {
 public:
  void open(step_context& ctx) override {
    end_ = ctx.parameters().get_int64("items");
    if (const auto* p = ctx.context().if_contains("next")) next_ = p->as_int64();
  }
  std::optional<std::int64_t> read() override {
    if (next_ >= end_) return std::nullopt;
    return next_++;
  }
  void update(execution_context& ctx) override { ctx["next"] = next_; }

 private:
  std::int64_t next_ = 0;
  std::int64_t end_ = 0;
};

// items=N threads=T: N numbers through burn(x, work), the results summed by the writer.
job cpu_job(std::int64_t work, std::int64_t interval) {
  return job_builder("cpu-heavy")
      .parameter(param("items", param_type::int64).required())
      .parameter(param("threads", param_type::int64).required())
      .step(chunk_step<std::int64_t, std::uint64_t>("burn")
                .reader(counter_reader())
                .processor([work](std::int64_t i) -> std::optional<std::uint64_t> {
                  return burn(static_cast<std::uint64_t>(i) + 1, work);
                })
                .writer([sum = std::uint64_t{0}](const chunk<std::uint64_t>& items) mutable {
                  for (auto v : items) sum += v;
                  if (sum == 42) std::puts("");  // keeps the work observable
                })
                .commit_interval(interval)
                .threads_from([](const job_parameters& p) { return p.get_int64("threads"); }))
      .build();
}

void generate(const fs::path& file, std::int64_t rows, const fs::path& data) {
  auto g = examples::generate_csv();
  (void)timed_run(g, {"output=" + file.string(), "rows=" + std::to_string(rows), "bad_every=1000"}, data);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rows = 2'000'000, items = 200'000, work = 2000, interval = 1000;
  int runs = 3;
  fs::path dir = fs::temp_directory_path() / "kiln-pbench";
  CLI::App app("partitions=2 and threads=2 against one of each, on csv-to-jsonl (docs/benchmarks.md)");
  app.add_option("--rows", rows, "rows of the partitioned run's input")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--items", items, "items of the threads run")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--work", work, "work units per item of the CPU-heavy processor")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--interval", interval, "commit interval")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--runs", runs, "runs of each; the medians are reported")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dir", dir, "where the files go")->capture_default_str();
  bool no_write_behind = false;
  app.add_flag("--no-write-behind", no_write_behind, "skip the write_behind=true runs");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::err);
  fs::create_directories(dir);
  std::printf("load average before: %s", [] {
    std::FILE* f = std::fopen("/proc/loadavg", "r");
    static char buf[128] = "?\n";
    if (f) {
      if (!std::fgets(buf, sizeof buf, f)) buf[0] = '\0';
      std::fclose(f);
    }
    return buf;
  }());
  generate(dir / "in.csv", rows, dir / "gen-data");

  auto csv = examples::csv_to_jsonl();
  // [write_behind][variant]: wall times of partitions=1, partitions=2, partitions=2 rebalance=false.
  std::vector<double> p[2][3];
  for (int r = 0; r < runs; ++r) {
    for (int behind : {0, 1}) {
      if (behind && no_write_behind) continue;
      for (int variant : {0, 1, 2}) {
        const int parts = variant == 0 ? 1 : 2;
        const bool rebalance = variant != 2;
        const auto out = dir / fmt::format("out{}.jsonl", parts);
        const double s = timed_run(csv,
                                   {"input=" + (dir / "in.csv").string(), "output=" + out.string(),
                                    "skip_limit=1000000", fmt::format("partitions={}", parts),
                                    fmt::format("rebalance={}", rebalance ? "true" : "false"),
                                    fmt::format("write_behind={}", behind ? "true" : "false")},
                                   dir / "data", {dir / "out1.jsonl", dir / "out2.jsonl"});
        p[behind][variant].push_back(s);
        std::printf("csv-to-jsonl %lld rows, write_behind=%s, partitions=%d%s: %.2f s wall, %.2f s CPU; steps (ms):%s\n",
                    static_cast<long long>(rows), behind ? "true" : "false", parts,
                    variant == 2 ? " rebalance=false" : "", s, last_cpu, last_steps.c_str());
      }
    }
  }
  auto cpu = cpu_job(work, interval);
  std::vector<double> t1, t2;
  for (int r = 0; r < runs; ++r) {
    for (int threads : {1, 2}) {
      const double s =
          timed_run(cpu, {fmt::format("items={}", items), fmt::format("threads={}", threads)}, dir / "data");
      (threads == 1 ? t1 : t2).push_back(s);
      std::printf("cpu-heavy %lld items x %lld rounds, threads=%d: %.2f s wall, %.2f s CPU\n",
                  static_cast<long long>(items), static_cast<long long>(work), threads, s, last_cpu);
    }
  }
  for (int behind : {0, 1}) {
    if (p[behind][0].empty()) continue;
    const double one = median(p[behind][0]);
    std::printf("median csv-to-jsonl write_behind=%s: partitions=1 %.2f s, partitions=2 %.2f s, speed-up %.2fx; "
                "rebalance=false %.2f s, speed-up %.2fx\n",
                behind ? "true" : "false", one, median(p[behind][1]), one / median(p[behind][1]), median(p[behind][2]),
                one / median(p[behind][2]));
  }
  std::printf("median cpu-heavy: threads=1 %.2f s, threads=2 %.2f s, speed-up %.2fx\n", median(t1),
              median(t2), median(t1) / median(t2));
  return 0;
}
