// `kiln run`: one job execution in this process, on the actor system, with live progress and
// graceful stop on the first SIGINT/SIGTERM (immediate exit on the second).

#include "commands.hpp"
#include "../signal_watcher.hpp"
#include "../system_config.hpp"

#include <kiln/actors/job_runner.hpp>
#include <kiln/command_log.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>
#include <unistd.h>

namespace kiln::cli {

namespace {

using clock = std::chrono::steady_clock;

// Live progress: a redrawn line on a terminal, a log line every few seconds otherwise.
class progress_display {
 public:
  progress_display(std::shared_ptr<run_progress> p, double log_interval_s)
      : progress_(std::move(p)), tty_(::isatty(STDERR_FILENO) == 1), log_interval_s_(log_interval_s),
        start_(clock::now()), thread_([this] { loop(); }) {}

  ~progress_display() {
    done_ = true;
    thread_.join();
    if (tty_ && drawn_) std::fputs("\n", stderr);
  }

 private:
  void loop() {
    auto last_log = clock::now();
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(tty_ ? 200 : 100));
      const auto now = clock::now();
      if (tty_) {
        std::fprintf(stderr, "\r\033[K%s", line(now).c_str());
        std::fflush(stderr);
        drawn_ = true;
      } else if (std::chrono::duration<double>(now - last_log).count() >= log_interval_s_) {
        spdlog::info("progress: {}", line(now));
        last_log = now;
      }
    }
  }

  std::string line(clock::time_point now) {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const auto read = progress_->read.load();
    const auto written = progress_->written.load();
    const double dt = std::chrono::duration<double>(now - last_sample_time_).count();
    if (dt >= 1.0 || last_sample_time_ == clock::time_point{}) {
      rate_ = last_sample_time_ == clock::time_point{} ? 0.0 : static_cast<double>(read - last_sample_read_) / dt;
      last_sample_read_ = read;
      last_sample_time_ = now;
    }
    std::string s = fmt::format("[{}] read {}  written {}  skipped {}  {}/s  chunks {}  elapsed {}",
                                progress_->step(), format_count(read), format_count(written),
                                format_count(progress_->skipped.load()),
                                format_count(static_cast<std::int64_t>(rate_)), format_count(progress_->commits.load()),
                                format_duration_ms(static_cast<std::int64_t>(elapsed * 1000)));
    const double f = progress_->fraction.load();
    if (f > 0.0 && f < 1.0 && elapsed > 1.0) {
      const double eta = elapsed * (1.0 - f) / f;
      s += fmt::format("  {:.0f}%  ETA {}", f * 100, format_duration_ms(static_cast<std::int64_t>(eta * 1000)));
    }
    return s;
  }

  std::shared_ptr<run_progress> progress_;
  bool tty_;
  double log_interval_s_;
  clock::time_point start_;
  std::atomic<bool> done_{false};
  bool drawn_ = false;
  double rate_ = 0.0;
  std::int64_t last_sample_read_ = 0;
  clock::time_point last_sample_time_{};
  std::thread thread_;
};

}  // namespace

int run(const registry& jobs, const run_options& o) {
  const job* j = jobs.find(o.job);
  if (!j) {
    std::string names;
    for (const auto& [name, _] : jobs.jobs()) names += (names.empty() ? "" : ", ") + name;
    return usage_error(fmt::format("unknown job '{}'; known jobs: {}", o.job, names));
  }
  auto params = j->parameters_from(o.parameters);
  if (!params) return usage_error(fmt::format("job '{}': {}", j->name(), params.error().message()));

  // Block the stop signals before any thread starts, so only the watcher receives them.
  signal_watcher::block_in_this_thread();

  auto store = state_store::open(o.data_dir, store_access::read_write);
  if (!store) return usage_error(store.error().message());
  auto log = make_standalone_log(**store);

  // We hold the data-dir lock, so whatever is still marked running belongs to a dead process.
  if (!(*store)->running_execution_ids().empty()) {
    auto r = log->propose(recover_dead_cmd{
        fmt::format("the process running it died (found running by pid {} holding the data-dir lock)", ::getpid()),
        now_ms()});
    if (r && r->affected > 0) spdlog::warn("marked {} execution(s) of a dead process FAILED", r->affected);
  }

  auto progress = std::make_shared<run_progress>();
  auto run = std::make_shared<job_run>(*j, *params, *log, progress);
  auto id = run->create();
  if (!id) return usage_error(id.error().message());
  std::printf("execution %lld\n", static_cast<long long>(*id));
  std::fflush(stdout);

  const auto started = clock::now();
  actors::outcome result;
  {
    caf::actor_system_config cfg;
    actors_detail::configure(cfg);
    caf::actor_system sys{cfg};
    auto runner = actors::spawn_job_runner(sys, run);
    signal_watcher signals([&] { caf::anon_send(runner, actors::stop_atom::value); });
    progress_display display(progress, o.progress_interval);
    caf::scoped_actor self{sys};
    self->request(runner, caf::infinite, actors::run_atom::value)
        .receive([&](const actors::outcome& r) { result = r; },
                 [&](const caf::error& e) {
                   result = {*id, "FAILED", "FAILED", "job runner failed: " + sys.render(e)};
                 });
  }
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();
  const auto status = parse_batch_status(result.status).value_or(batch_status::failed);
  std::int64_t read = 0, written = 0, skipped = 0, filtered = 0;
  for (const auto& st : (*store)->step_executions(*id)) {
    read += st.counts.read;
    written += st.counts.write;
    skipped += st.counts.skip();
    filtered += st.counts.filter;
  }
  std::printf("execution %lld %s in %s: read %s, written %s, filtered %s, skipped %s\n", static_cast<long long>(*id),
              result.status.c_str(), format_duration_ms(elapsed_ms).c_str(), format_count(read).c_str(),
              format_count(written).c_str(), format_count(filtered).c_str(), format_count(skipped).c_str());
  if (status == batch_status::failed) std::printf("error: %s\n", result.exit_description.c_str());
  if (status == batch_status::stopped) std::printf("run the same command again to resume from the last checkpoint\n");
  std::printf("record: %s show %lld --data-dir %s\n", o.program.c_str(), static_cast<long long>(*id), o.data_dir.c_str());
  return code_for(status);
}

}  // namespace kiln::cli
