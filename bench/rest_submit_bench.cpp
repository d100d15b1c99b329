// Benchmark: N no-op executions submitted over REST to a real `kiln node` on the embedded default,
// end to end (submission until the last one ends). Prints executions/s, the dispatch latency
// (submission -> claim, from the execution records) p50/p99, and the submit round-trip p50/p99.
//
//   ./build/bench/rest_submit_bench --kiln ./build/examples/kiln [--executions 10000] [--clients 8]
//       [--max-concurrent 16] [--runs 3] [--rate 0]
//
// --rate R paces the submissions at R per second in all (0: as fast as the clients go). Unpaced, the
// queue grows whenever submissions outrun executions, and the dispatch latency then measures time
// spent waiting in the queue; paced below capacity, it measures the dispatcher itself.

#include <boost/json.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string kiln = "./build/examples/kiln";
  int executions = 10000;
  int clients = 8;
  int max_concurrent = 16;
  int runs = 3;
  double rate = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

struct node_process {
  pid_t pid = -1;
  int port = 0;
  std::filesystem::path dir;

  node_process(const options& o, const std::filesystem::path& data) : dir(data) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const std::string max = std::to_string(o.max_concurrent);
    const std::string data_dir = data.string();
    std::vector<std::string> args{o.kiln, "--log-level", "warn", "node", "--listen", "127.0.0.1:0",
                                  "--data-dir", data_dir, "--max-concurrent-jobs", max, "--name", "bench"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, o.kiln.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + o.kiln);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    auto colon = line.rfind(':');
    if (line.rfind("listening on", 0) != 0 || colon == std::string::npos) {
      throw std::runtime_error("the node did not start: " + line);
    }
    port = std::stoi(line.substr(colon + 1));
  }
  // The node's user + system CPU time so far, from /proc: unlike wall-clock figures, it hardly
  // moves when other processes share the machine.
  double cpu_seconds() const {
    std::FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
    if (!f) return 0;
    char buf[4096];
    const auto n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const char* p = std::strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  ~node_process() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

struct run_result {
  double executions_per_s = 0;
  double dispatch_p50_ms = 0, dispatch_p99_ms = 0;
  double submit_p50_ms = 0, submit_p99_ms = 0;
  double node_cpu_s = 0;
  int completed = 0;
};

run_result run_once(const options& o, int run) {
  const auto data = std::filesystem::temp_directory_path() / fmt::format("kiln-rest-bench-{}-{}", getpid(), run);
  std::filesystem::remove_all(data);
  run_result r;
  {
    node_process node(o, data);
    std::atomic<int> next{0};
    std::vector<std::vector<double>> submit_ms(static_cast<std::size_t>(o.clients));
    const auto start = clock_type::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < o.clients; ++c) {
      clients.emplace_back([&, c] {
        httplib::Client cli("127.0.0.1", node.port);
        cli.set_keep_alive(true);
        cli.set_tcp_nodelay(true);
        for (int i = next++; i < o.executions; i = next++) {
          if (o.rate > 0) {
            std::this_thread::sleep_until(start + std::chrono::duration_cast<clock_type::duration>(
                                                      std::chrono::duration<double>(i / o.rate)));
          }
          const auto body = fmt::format(R"({{"job":"noop","parameters":{{"n":"{}"}}}})", i);
          const auto t0 = clock_type::now();
          auto res = cli.Post("/api/v1/executions", body, "application/json");
          submit_ms[static_cast<std::size_t>(c)].push_back(
              std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
          if (!res || res->status != 201) {
            std::fprintf(stderr, "submit failed: %s\n", res ? res->body.c_str() : "no response");
            std::exit(1);
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    // Wait until every execution has ended.
    httplib::Client cli("127.0.0.1", node.port);
    for (;;) {
      auto res = cli.Get("/api/v1/status");
      auto st = json::parse(res->body).as_object();
      if (st.at("running").as_int64() == 0 && st.at("queued").as_int64() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    r.node_cpu_s = node.cpu_seconds();
    r.executions_per_s = o.executions / elapsed;
    std::vector<double> all_submits;
    for (auto& v : submit_ms) all_submits.insert(all_submits.end(), v.begin(), v.end());
    r.submit_p50_ms = percentile(all_submits, 0.5);
    r.submit_p99_ms = percentile(all_submits, 0.99);
    // Dispatch latency from the records: claim_time - create_time.
    std::vector<double> dispatch;
    std::string before;
    for (;;) {
      auto res = cli.Get("/api/v1/executions?limit=1000" + before);
      auto page = json::parse(res->body).as_object();
      for (const auto& ev : page.at("executions").as_array()) {
        const auto& e = ev.as_object();
        if (e.at("status").as_string() == "COMPLETED") ++r.completed;
        dispatch.push_back(static_cast<double>(e.at("claim_time").as_int64() - e.at("create_time").as_int64()));
      }
      if (!page.contains("next_before")) break;
      before = fmt::format("&before={}", page.at("next_before").as_int64());
    }
    r.dispatch_p50_ms = percentile(dispatch, 0.5);
    r.dispatch_p99_ms = percentile(dispatch, 0.99);
    std::printf("run %d: %.0f executions/s end to end, %d COMPLETED; dispatch p50 %.1f ms p99 %.1f ms; submit "
                "round trip p50 %.2f ms p99 %.2f ms; node CPU %.2f s (%.0f us per execution)\n",
                run + 1, r.executions_per_s, r.completed, r.dispatch_p50_ms, r.dispatch_p99_ms, r.submit_p50_ms,
                r.submit_p99_ms, r.node_cpu_s, r.node_cpu_s * 1e6 / o.executions);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(data);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app("submitting noop executions over REST to a kiln node (docs/benchmarks.md)");
  app.add_option("--kiln", o.kiln, "the kiln binary")->capture_default_str();
  app.add_option("--executions", o.executions, "executions per run")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--clients", o.clients, "concurrent HTTP clients")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-concurrent", o.max_concurrent, "the node's max_concurrent_jobs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--runs", o.runs, "runs; the medians are reported")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--rate", o.rate, "submissions per second in all (0: as fast as the node answers)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::printf("REST submit benchmark: %d noop executions, %d clients, max_concurrent_jobs %d, %d runs, %s\n",
              o.executions, o.clients, o.max_concurrent, o.runs,
              o.rate > 0 ? fmt::format("paced at {:.0f}/s", o.rate).c_str() : "unpaced");
  std::vector<double> rate, d50, d99, s50, s99, cpu;
  for (int run = 0; run < o.runs; ++run) {
    auto r = run_once(o, run);
    if (r.completed != o.executions) {
      std::fprintf(stderr, "only %d of %d executions COMPLETED\n", r.completed, o.executions);
      return 1;
    }
    rate.push_back(r.executions_per_s);
    d50.push_back(r.dispatch_p50_ms);
    d99.push_back(r.dispatch_p99_ms);
    s50.push_back(r.submit_p50_ms);
    s99.push_back(r.submit_p99_ms);
    cpu.push_back(r.node_cpu_s);
  }
  std::printf("median: %.0f executions/s (target >= 2000); dispatch p50 %.1f ms, p99 %.1f ms (target <= 20); submit "
              "p50 %.2f ms, p99 %.2f ms; node CPU %.2f s\n",
              percentile(rate, 0.5), percentile(d50, 0.5), percentile(d99, 0.5), percentile(s50, 0.5),
              percentile(s99, 0.5), percentile(cpu, 0.5));
  return 0;
}
