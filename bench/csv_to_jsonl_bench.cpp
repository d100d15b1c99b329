// Benchmark: csv-to-jsonl through Kiln (durable checkpoints every commit_interval rows) against a
// hand-written single-threaded loop doing the same parse, transform and write with no framework
// and no checkpoints, in the same run. Each measurement runs in a forked child so its peak RSS is
// its own. Prints items/s for both, the ratio, the chunk commit latency p50/p99, and peak memory
// for a small and the full input.
//
//   csv_to_jsonl_bench [--rows 5000000] [--interval 1000] [--runs 3] [--dir /tmp/kiln-bench]
//                      [--data-dir DIR]  (Kiln's data dir; default DIR/kiln-data, next to the files)
//                      [--write-behind true|false]  (the job parameter; default false, as the job's)

#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <ctime>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;
using clock_type = std::chrono::steady_clock;

namespace {

struct measurement {
  double seconds = 0;
  std::int64_t items = 0;
  double commit_p50_ms = 0;
  double commit_p99_ms = 0;
  double thread_cpu_s = 0;   // CPU time of the thread that ran the loop
  double thread_sys_s = 0;   // of which in the kernel
  double process_cpu_s = 0;  // CPU time of all threads during the loop
  long minflt = 0;           // minor page faults of the loop's thread
  long peak_rss_kb = 0;
};

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double thread_sys_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
}

// Wall time and CPU time of `fn`, the thread's own and the whole process's.
template <class F>
void timed(measurement& m, F fn) {
  const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID), p0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double s0 = thread_sys_seconds();
  rusage r0{};
  ::getrusage(RUSAGE_THREAD, &r0);
  const auto w0 = clock_type::now();
  fn();
  rusage r1{};
  ::getrusage(RUSAGE_THREAD, &r1);
  m.minflt = r1.ru_minflt - r0.ru_minflt;
  m.thread_sys_s = thread_sys_seconds() - s0;
  m.seconds = std::chrono::duration<double>(clock_type::now() - w0).count();
  m.thread_cpu_s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  m.process_cpu_s = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - p0;
}

// Splits one CSV line (RFC 4180 quoting, no embedded newlines) into fields.
void split_csv(std::string_view line, std::vector<std::string_view>& fields, std::string& scratch) {
  fields.clear();
  scratch.clear();
  scratch.reserve(line.size());
  std::size_t i = 0;
  while (true) {
    if (i < line.size() && line[i] == '"') {
      const std::size_t start = scratch.size();
      ++i;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            scratch += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        scratch += line[i++];
      }
      fields.emplace_back(scratch.data() + start, scratch.size() - start);
      if (i < line.size() && line[i] == ',') ++i; else break;
    } else {
      const auto comma = line.find(',', i);
      fields.push_back(line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
      if (comma == std::string_view::npos) break;
      i = comma + 1;
    }
  }
}

// The baseline: read, parse, transform, write, with plain stdio and no checkpoints. Returns the
// rows written.
std::int64_t convert_by_hand(const fs::path& in, const fs::path& out) {
  std::int64_t items = 0;
  std::FILE* fin = std::fopen(in.c_str(), "rb");
  std::FILE* fout = std::fopen(out.c_str(), "wb");
  std::vector<char> buf(1 << 20);
  std::string carry, outbuf, scratch;
  std::vector<std::string_view> fields;
  bool header = true;
  auto handle = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    if (header) {
      header = false;
      return;
    }
    split_csv(line, fields, scratch);
    if (fields.size() != 3) return;
    double amount = 0;
    auto a = fields[2];
    auto [p, ec] = std::from_chars(a.data(), a.data() + a.size(), amount);
    if (ec != std::errc() || p != a.data() + a.size()) return;  // skipped row
    examples::sale_row row{std::string(fields[0]), std::string(fields[1]), amount};
    examples::trim_in_place(row.name);
    examples::write_sale_json(row, outbuf);
    outbuf += '\n';
    ++items;
    if (outbuf.size() > (1 << 20)) {
      std::fwrite(outbuf.data(), 1, outbuf.size(), fout);
      outbuf.clear();
    }
  };
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), fin)) > 0) {
    std::string_view chunk(buf.data(), n);
    std::size_t start = 0;
    for (std::size_t nl = chunk.find('\n'); nl != std::string_view::npos; nl = chunk.find('\n', start)) {
      if (!carry.empty()) {
        carry.append(chunk.substr(start, nl - start));
        handle(carry);
        carry.clear();
      } else {
        handle(chunk.substr(start, nl - start));
      }
      start = nl + 1;
    }
    carry.append(chunk.substr(start));
  }
  if (!carry.empty()) handle(carry);
  std::fwrite(outbuf.data(), 1, outbuf.size(), fout);
  std::fclose(fout);
  std::fclose(fin);
  return items;
}

measurement hand_written(const fs::path& in, const fs::path& out) {
  measurement m;
  timed(m, [&] { m.items = convert_by_hand(in, out); });
  return m;
}

measurement with_kiln(const fs::path& in, const fs::path& out, const fs::path& data, std::int64_t interval,
                      const std::string& write_behind) {
  measurement m;
  fs::remove_all(data);
  auto store = state_store::open(data, store_access::read_write).value();
  std::mutex mu;
  std::vector<double> latencies;
  standalone_log_options opts;
  opts.on_durable = [&](const command& c, std::chrono::nanoseconds d) {
    if (!std::holds_alternative<commit_chunk_cmd>(c)) return;
    std::lock_guard lock(mu);
    latencies.push_back(std::chrono::duration<double, std::milli>(d).count());
  };
  auto log = make_standalone_log(*store, opts);
  auto j = examples::csv_to_jsonl();
  auto params = j.parameters_from({"input=" + in.string(), "output=" + out.string(),
                                   "commit_interval=" + std::to_string(interval), "skip_limit=1000000",
                                   "write_behind=" + write_behind})
                    .value();
  run_result r;
  timed(m, [&] { r = run_job(j, params, *log).value(); });
  if (r.status != batch_status::completed) {
    std::fprintf(stderr, "kiln run ended %s: %s\n", std::string(to_string(r.status)).c_str(), r.exit.description.c_str());
    std::exit(1);
  }
  m.items = store->step_executions(r.execution_id).at(0).counts.write;
  log.reset();
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    m.commit_p50_ms = latencies[latencies.size() / 2];
    m.commit_p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  }
  return m;
}

// Runs `fn` in a child process; returns its measurement with the child's peak RSS.
// Each measurement starts from the same disk: the output of the run before removed and the removal
// synced. Otherwise the first fsync of a run (Kiln's; the hand-written loop has none) also commits
// the file system's journal for the earlier run's 230 MB output, which stalled it for up to 0.25 s.
void fresh_disk(const std::vector<fs::path>& leftovers) {
  for (const auto& p : leftovers) fs::remove_all(p);
  ::sync();
}

template <class F>
measurement in_child(F fn) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    measurement m = fn();
    if (::write(pipefd[1], &m, sizeof m) != static_cast<ssize_t>(sizeof m)) ::_exit(1);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  measurement m;
  if (::read(pipefd[0], &m, sizeof m) != static_cast<ssize_t>(sizeof m)) {
    std::fprintf(stderr, "benchmark child failed\n");
    std::exit(1);
  }
  ::close(pipefd[0]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  m.peak_rss_kb = ru.ru_maxrss;
  return m;
}

void generate(const fs::path& file, std::int64_t rows, const fs::path& data) {
  fs::remove_all(data);
  auto store = state_store::open(data, store_access::read_write).value();
  auto log = make_standalone_log(*store);
  auto j = examples::generate_csv();
  auto params = j.parameters_from({"output=" + file.string(), "rows=" + std::to_string(rows), "bad_every=1000"}).value();
  auto r = run_job(j, params, *log).value();
  if (r.status != batch_status::completed) std::exit(1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rows = 5'000'000, interval = 1000;
  int runs = 3;
  fs::path dir = fs::temp_directory_path() / "kiln-bench";
  fs::path data_dir;
  std::string write_behind = "false";
  CLI::App app("csv-to-jsonl through Kiln against a hand-written loop (docs/benchmarks.md)");
  app.add_option("--rows", rows, "rows of the input")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--interval", interval, "commit interval")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--runs", runs, "runs of each; the medians are reported")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--dir", dir, "where the files go")->capture_default_str();
  app.add_option("--data-dir", data_dir, "Kiln's data dir (default: DIR/kiln-data)");
  app.add_option("--write-behind", write_behind, "the job's write_behind parameter")
      ->check(CLI::IsMember({"true", "false"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::err);
  if (data_dir.empty()) data_dir = dir / "kiln-data";
  fs::create_directories(dir);
  const auto small_rows = std::max<std::int64_t>(1, rows / 10);
  std::printf(
      "csv-to-jsonl benchmark: %lld rows (and %lld for the memory check), commit interval %lld, write_behind=%s, "
      "%d runs\n",
      static_cast<long long>(rows), static_cast<long long>(small_rows), static_cast<long long>(interval),
      write_behind.c_str(), runs);
  generate(dir / "in.csv", rows, dir / "gen-data");
  generate(dir / "small.csv", small_rows, dir / "gen-data");

  std::vector<double> base_rate, kiln_rate, ratio, p50, p99;
  measurement base_last, kiln_last;
  for (int r = 0; r < runs; ++r) {
    fresh_disk({dir / "hand.jsonl"});
    auto b = in_child([&] { return hand_written(dir / "in.csv", dir / "hand.jsonl"); });
    fresh_disk({dir / "kiln.jsonl", data_dir});
    auto k = in_child([&] { return with_kiln(dir / "in.csv", dir / "kiln.jsonl", data_dir, interval, write_behind); });
    const double br = static_cast<double>(b.items) / b.seconds, kr = static_cast<double>(k.items) / k.seconds;
    std::printf("run %d: hand-written %.0f items/s (%.2fs), kiln %.0f items/s (%.2fs), ratio %.3f, commit p50 %.2f ms p99 %.2f ms\n",
                r + 1, br, b.seconds, kr, k.seconds, kr / br, k.commit_p50_ms, k.commit_p99_ms);
    std::printf("       cpu: hand-written %.2fs (kernel %.2fs); kiln %.2fs on the loop's thread (kernel %.2fs), %.2fs in all threads\n",
                b.process_cpu_s, b.thread_sys_s, k.thread_cpu_s, k.thread_sys_s, k.process_cpu_s);
    std::printf("       minor page faults: hand-written %ld, kiln's loop thread %ld\n", b.minflt, k.minflt);
    base_rate.push_back(br);
    kiln_rate.push_back(kr);
    ratio.push_back(kr / br);
    p50.push_back(k.commit_p50_ms);
    p99.push_back(k.commit_p99_ms);
    base_last = b;
    kiln_last = k;
    if (b.items != k.items) {
      std::fprintf(stderr, "item counts differ: hand-written %lld, kiln %lld\n", static_cast<long long>(b.items),
                   static_cast<long long>(k.items));
      return 1;
    }
  }
  const bool identical = [&] {
    std::FILE* a = std::fopen((dir / "hand.jsonl").c_str(), "rb");
    std::FILE* b = std::fopen((dir / "kiln.jsonl").c_str(), "rb");
    std::vector<char> ba(1 << 16), bb(1 << 16);
    bool same = a && b;
    while (same) {
      auto na = std::fread(ba.data(), 1, ba.size(), a), nb = std::fread(bb.data(), 1, bb.size(), b);
      if (na != nb || std::memcmp(ba.data(), bb.data(), na) != 0) same = false;
      if (na == 0) break;
    }
    if (a) std::fclose(a);
    if (b) std::fclose(b);
    return same;
  }();
  auto small = in_child([&] { return with_kiln(dir / "small.csv", dir / "small.jsonl", data_dir, interval, write_behind); });

  std::printf("\nmedian of %d runs:\n", runs);
  std::printf("  hand-written loop : %.0f items/s\n", median(base_rate));
  std::printf("  kiln              : %.0f items/s\n", median(kiln_rate));
  std::printf("  ratio kiln/hand   : %.3f  (target >= 0.85)\n", median(ratio));
  std::printf("  chunk commit      : p50 %.2f ms, p99 %.2f ms (proposal to durable, fsync included)\n", median(p50),
              median(p99));
  std::printf("  outputs identical : %s\n", identical ? "yes" : "NO");
  std::printf("  peak RSS          : kiln %ld KiB at %lld rows, %ld KiB at %lld rows; hand-written %ld KiB\n",
              small.peak_rss_kb, static_cast<long long>(small_rows), kiln_last.peak_rss_kb, static_cast<long long>(rows),
              base_last.peak_rss_kb);
  fs::remove_all(dir);
  return identical ? 0 : 1;
}
