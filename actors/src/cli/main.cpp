#include "commands.hpp"
#include "schedule_commands.hpp"

#include <kiln/main.hpp>
#include <kiln/node.hpp>
#include <kiln/version.hpp>

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

std::string env_or(const char* name, std::string fallback = {}) {
  if (const char* env = std::getenv(name); env && *env) return env;
  return fallback;
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("kiln");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^%Y-%m-%d %H:%M:%S.%e %l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

// --server/--token on a command that talks to a node.
void add_remote(CLI::App* cmd, cli::target& t, bool required_server) {
  cmd->add_option("--server", t.server,
                  required_server ? "Node URL; env KILN_SERVER (default http://127.0.0.1:8080)"
                                  : "Ask a node's REST API instead of reading the data dir; env KILN_SERVER");
  cmd->add_option("--token", t.token, "Bearer token for the node; env KILN_TOKEN");
}

}  // namespace

int main(int argc, char** argv, const registry& jobs) {
  CLI::App app{"Kiln: batch jobs with checkpointed chunk steps, restartable from the last commit."};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string(kiln::version));
  app.set_help_all_flag("--help-all", "Show help for every command");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  const std::string program = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "kiln";
  cli::run_options run_opts;
  run_opts.data_dir = default_data_dir();
  run_opts.program = program;
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

  // kiln node
  node_options node_opts;
  std::string config_file;
  auto* node_cmd = app.add_subcommand("node", "Run a node: job queue, dispatcher, REST API, dashboard, metrics");
  node_cmd->add_option("--config", config_file, "JSON config file (flags override it)")->check(CLI::ExistingFile);
  auto* node_data_dir = node_cmd->add_option("--data-dir", node_opts.data_dir, "State folder; env KILN_DATA_DIR");
  auto* node_listen = node_cmd->add_option("--listen", node_opts.listen, "host:port (default 127.0.0.1:8080)");
  auto* node_name = node_cmd->add_option("--name", node_opts.name, "Node name (default node-1)");
  auto* node_max = node_cmd->add_option("--max-concurrent-jobs", node_opts.max_concurrent_jobs,
                                        "Executions running at once (default 4)");
  std::vector<std::string> node_queues;
  auto* node_queue_opt =
      node_cmd->add_option("--queues", node_queues, "Queues to serve (default: every queue)")->delimiter(',');
  std::vector<std::string> node_limits;
  auto* node_limit_opt =
      node_cmd->add_option("--queue-limit", node_limits, "QUEUE=N: at most N running from QUEUE (repeatable)");
  std::string node_token;
  node_cmd->add_option("--token", node_token, "Bearer token for mutating calls; env KILN_TOKEN");
  bool no_resume = false;
  node_cmd->add_flag("--no-resume-after-shutdown", no_resume,
                     "On SIGTERM, leave stopped executions STOPPED instead of queuing them again");

  cli::target where;
  where.data_dir = default_data_dir();
  where.token = env_or("KILN_TOKEN");

  bool jobs_json = false;
  auto* jobs_cmd = app.add_subcommand("jobs", "List the registered jobs and their parameters");
  jobs_cmd->add_flag("--json", jobs_json, "JSON output");
  add_remote(jobs_cmd, where, false);

  cli::query_options q;
  auto* execs = app.add_subcommand("executions", "List job executions, newest first");
  std::string job_filter, status_filter;
  execs->add_option("job", job_filter, "Only this job");
  execs->add_option("--status", status_filter, "Only this status (STARTED, FAILED, ...)");
  execs->add_option("--limit", q.limit, "At most this many (0 = all)")->capture_default_str();
  execs->add_flag("--json", q.json, "JSON output");
  execs->add_option("--data-dir", where.data_dir, "State folder")->capture_default_str();
  add_remote(execs, where, false);

  auto* show = app.add_subcommand("show", "Show one execution: status, steps, counts, context, error");
  show->add_option("execution", q.execution_id, "Execution id")->required();
  show->add_flag("--json", q.json, "JSON output");
  show->add_option("--data-dir", where.data_dir, "State folder")->capture_default_str();
  add_remote(show, where, false);

  auto* abandon = app.add_subcommand("abandon", "Mark a STOPPED or FAILED execution ABANDONED (never restarted)");
  abandon->add_option("execution", q.execution_id, "Execution id")->required();
  abandon->add_option("--data-dir", where.data_dir, "State folder")->capture_default_str();
  add_remote(abandon, where, false);

  cli::submit_cli_options sub;
  auto* submit = app.add_subcommand("submit", "Queue a job on a node (exit codes with --wait as for run)");
  submit->add_option("job", sub.job, "Job name")->required();
  submit->add_option("parameters", sub.parameters, "Job parameters, as for run");
  submit->add_option("--priority", sub.priority, "Higher runs first")->capture_default_str();
  submit->add_option("--queue", sub.queue, "Queue name")->capture_default_str();
  submit->add_flag("--wait", sub.wait, "Follow progress until the execution ends; exit with its code");
  submit->add_option("--progress-interval", sub.progress_interval,
                     "Seconds between progress log lines with --wait when stderr is not a terminal")
      ->check(CLI::PositiveNumber);
  add_remote(submit, where, true);

  bool status_json = false;
  auto* status = app.add_subcommand("status", "Show a node's status: running, queued, capacity");
  status->add_flag("--json", status_json, "JSON output");
  add_remote(status, where, true);

  struct operation {
    const char* name;
    const char* help;
    CLI::App* cmd = nullptr;
  };
  operation ops[] = {
      {"stop", "Stop a running execution after its current chunk (STOPPED, restartable)"},
      {"kill", "End a running execution now (FAILED, exit KILLED)"},
      {"cancel", "Remove a queued execution from its queue"},
      {"restart", "Queue a restart of a STOPPED or FAILED execution"},
  };
  for (auto& op : ops) {
    op.cmd = app.add_subcommand(op.name, op.help);
    op.cmd->add_option("execution", q.execution_id, "Execution id")->required();
    op.cmd->add_flag("--json", q.json, "JSON output");
    add_remote(op.cmd, where, true);
  }

  auto schedule = cli::add_schedule_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(exit_code::usage);
  }
  setup_logging(log_level);
  if (!job_filter.empty()) q.job = job_filter;
  if (!status_filter.empty()) q.status = status_filter;
  if (where.server.empty() && (*submit || *status || std::any_of(std::begin(ops), std::end(ops), [](const operation& op) {
                                 return op.cmd->parsed();
                               }))) {
    where.server = env_or("KILN_SERVER", "http://127.0.0.1:8080");
  } else if (where.server.empty()) {
    where.server = env_or("KILN_SERVER");
  }
  q.where = where;
  sub.where = where;
  try {
    if (*run) return cli::run(jobs, run_opts);
    if (*node_cmd) {
      node_options o;
      o.data_dir = default_data_dir();
      if (!config_file.empty()) {
        auto loaded = load_node_options(config_file, o);
        if (!loaded) return cli::usage_error(loaded.error().message());
        o = *loaded;
      }
      if (*node_data_dir) o.data_dir = node_opts.data_dir;
      if (*node_listen) o.listen = node_opts.listen;
      if (*node_name) o.name = node_opts.name;
      if (*node_max) o.max_concurrent_jobs = node_opts.max_concurrent_jobs;
      if (*node_queue_opt) o.queues = node_queues;
      if (*node_limit_opt) {
        for (const auto& l : node_limits) {
          const auto eq = l.find('=');
          long long n = 0;
          if (eq == std::string::npos || eq == 0 || (n = std::atoll(l.c_str() + eq + 1)) <= 0) {
            return cli::usage_error("--queue-limit '" + l + "': use QUEUE=N with N >= 1, e.g. --queue-limit reports=2");
          }
          o.queue_limits[l.substr(0, eq)] = n;
        }
      }
      if (!node_token.empty()) o.token = node_token;
      if (o.token.empty()) o.token = env_or("KILN_TOKEN");
      if (no_resume) o.resume_after_shutdown = false;
      return run_node(jobs, o);
    }
    if (cli::schedule_command_parsed(*schedule)) return cli::run_schedule_command(*schedule);
    if (*jobs_cmd) return cli::list_jobs(jobs, where, jobs_json);
    if (*execs) return cli::list_executions(q);
    if (*show) return cli::show_execution(q);
    if (*abandon) return cli::abandon_execution(q);
    if (*submit) return cli::submit(sub);
    if (*status) return cli::node_status(where, status_json);
    for (const auto& op : ops) {
      if (op.cmd->parsed()) return cli::operate(q, op.name);
    }
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return static_cast<int>(exit_code::failed);
  }
  return static_cast<int>(exit_code::usage);
}

}  // namespace kiln
