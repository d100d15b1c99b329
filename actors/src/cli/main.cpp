#include "commands.hpp"

#include <kiln/main.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace kiln {

namespace {

std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("KILN_DATA_DIR"); env && *env) return env;
  return "kiln-data";
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("kiln");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^%Y-%m-%d %H:%M:%S.%e %l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv, const registry& jobs) {
  CLI::App app{"Kiln: batch jobs with checkpointed chunk steps, restartable from the last commit."};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show help for every command");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  cli::run_options run_opts;
  run_opts.data_dir = default_data_dir();
  run_opts.program = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "kiln";
  auto* run = app.add_subcommand("run", "Run a job in this process (exit 0 COMPLETED, 1 FAILED, 2 refused, 3 STOPPED)");
  run->add_option("job", run_opts.job, "Job name (see `jobs`)")->required();
  run->add_option("parameters", run_opts.parameters,
                  "Job parameters: name=value, name(long)=42, name(double)=1.5, name(date)=2026-01-31; "
                  "a leading '-' (after --) makes one non-identifying");
  run->add_option("--data-dir", run_opts.data_dir, "State folder (RocksDB); env KILN_DATA_DIR")->capture_default_str();
  run->add_option("--progress-interval", run_opts.progress_interval,
                  "Seconds between progress log lines when stderr is not a terminal")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  bool jobs_json = false;
  auto* jobs_cmd = app.add_subcommand("jobs", "List the registered jobs and their parameters");
  jobs_cmd->add_flag("--json", jobs_json, "JSON output");

  cli::query_options q;
  q.data_dir = default_data_dir();
  auto* execs = app.add_subcommand("executions", "List job executions, newest first");
  std::string job_filter;
  execs->add_option("job", job_filter, "Only this job");
  execs->add_option("--limit", q.limit, "At most this many (0 = all)")->capture_default_str();
  execs->add_flag("--json", q.json, "JSON output");
  execs->add_option("--data-dir", q.data_dir, "State folder")->capture_default_str();

  auto* show = app.add_subcommand("show", "Show one execution: status, steps, counts, context, error");
  show->add_option("execution", q.execution_id, "Execution id")->required();
  show->add_flag("--json", q.json, "JSON output");
  show->add_option("--data-dir", q.data_dir, "State folder")->capture_default_str();

  auto* abandon = app.add_subcommand("abandon", "Mark a STOPPED or FAILED execution ABANDONED (never restarted)");
  abandon->add_option("execution", q.execution_id, "Execution id")->required();
  abandon->add_option("--data-dir", q.data_dir, "State folder")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(exit_code::usage);
  }
  setup_logging(log_level);
  if (!job_filter.empty()) q.job = job_filter;
  try {
    if (*run) return cli::run(jobs, run_opts);
    if (*jobs_cmd) return cli::list_jobs(jobs, jobs_json);
    if (*execs) return cli::list_executions(q);
    if (*show) return cli::show_execution(q);
    if (*abandon) return cli::abandon_execution(q);
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return static_cast<int>(exit_code::failed);
  }
  return static_cast<int>(exit_code::usage);
}

}  // namespace kiln
