#pragma once
// Private: the CLI's subcommands.

#include <kiln/job.hpp>
#include <kiln/main.hpp>

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

struct query_options {
  std::filesystem::path data_dir;
  bool json = false;
  std::optional<std::string> job;
  std::size_t limit = 50;
  std::int64_t execution_id = 0;
};

int run(const registry& jobs, const run_options& o);
int list_jobs(const registry& jobs, bool json);
int list_executions(const query_options& o);
int show_execution(const query_options& o);
int abandon_execution(const query_options& o);

// Prints "kiln: <message>" on stderr and returns exit_code::usage.
int usage_error(const std::string& message);

std::string format_duration_ms(std::int64_t ms);
std::string format_count(std::int64_t n);  // 1234567 -> "1,234,567"

}  // namespace kiln::cli
