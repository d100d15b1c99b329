#pragma once
// Private: the CLI's subcommands.

#include <kiln/job.hpp>
#include <kiln/main.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kiln::cli {

struct run_options {
  std::string program = "kiln";  // how the user called us, for hints
  std::string job;
  std::vector<std::string> parameters;
  std::filesystem::path data_dir;
  double progress_interval = 5.0;  // seconds between progress log lines when not on a terminal
};

// Where a query or an operation goes: a node's REST API (server set) or the local data dir.
struct target {
  std::filesystem::path data_dir;
  std::string server;  // empty = local
  std::string token;
  [[nodiscard]] bool remote() const { return !server.empty(); }
};

struct query_options {
  target where;
  bool json = false;
  std::optional<std::string> job;
  std::optional<std::string> status;
  std::size_t limit = 50;
  std::int64_t execution_id = 0;
};

struct submit_cli_options {
  target where;
  std::string job;
  std::vector<std::string> parameters;
  std::int64_t priority = 0;
  std::string queue = "default";
  bool wait = false;
  bool json = false;
  double progress_interval = 5.0;
};

int run(const registry& jobs, const run_options& o);
int list_jobs(const registry& jobs, const target& where, bool json);
int list_executions(const query_options& o);
int show_execution(const query_options& o);
int abandon_execution(const query_options& o);
// stop, kill, cancel, restart (remote only)
int operate(const query_options& o, const std::string& action);
int submit(const submit_cli_options& o);
int node_status(const target& where, bool json);

// Prints "kiln: <message>" on stderr and returns exit_code::usage.
int usage_error(const std::string& message);

std::string format_duration_ms(std::int64_t ms);
std::string format_count(std::int64_t n);  // 1234567 -> "1,234,567"
int code_for(batch_status s);

// Human-readable renderings of the JSON views (kiln/views.hpp), local and remote alike.
void print_jobs(const boost::json::array& jobs);
void print_executions(const boost::json::array& executions);
void print_execution(const boost::json::object& detail);

}  // namespace kiln::cli
