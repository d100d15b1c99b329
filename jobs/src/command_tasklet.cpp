#include <kiln/jobs/command_tasklet.hpp>

#include "child_process.hpp"
#include "tasklet_support.hpp"

#include <boost/json/array.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

extern char** environ;  // NOLINT(readability-redundant-declaration): no standard header must declare it

namespace kiln {

namespace {

constexpr std::size_t error_hint_bytes = 400;

// The end of stderr for an error message: its last lines, at most error_hint_bytes.
std::string stderr_hint(const std::string& tail) {
  std::string_view s(tail);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (s.empty()) return {};
  std::size_t start = s.size() > error_hint_bytes ? s.size() - error_hint_bytes : 0;
  while (start > 0 && start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
  std::string text(s.substr(start));
  std::replace(text.begin(), text.end(), '\n', ' ');
  return "; stderr ends: " + std::string(start > 0 ? "..." : "") + text;
}

std::vector<std::string> environment_with(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    const bool replaced =
        std::any_of(extra.begin(), extra.end(), [&](const auto& kv) { return kv.first == name; });
    if (!replaced) out.emplace_back(entry);
  }
  for (const auto& [name, value] : extra) out.push_back(name + "=" + value);
  return out;
}

}  // namespace

command_tasklet::command_tasklet(std::string program, std::vector<std::string> args)
    : program_(std::move(program)), args_(std::move(args)) {
  if (program_.empty()) throw std::invalid_argument("command_tasklet: the program is empty");
}

command_tasklet& command_tasklet::arg(std::string a) {
  args_.push_back(std::move(a));
  return *this;
}

command_tasklet& command_tasklet::args_from(args_function fn) {
  args_from_ = std::move(fn);
  return *this;
}

command_tasklet& command_tasklet::env(std::string name, std::string value) {
  if (name.empty() || name.find('=') != std::string::npos) {
    throw std::invalid_argument("command_tasklet: invalid environment variable name '" + name + "'");
  }
  env_.emplace_back(std::move(name), std::move(value));
  return *this;
}

command_tasklet& command_tasklet::working_directory(std::string dir) {
  working_directory_ = std::move(dir);
  return *this;
}

command_tasklet& command_tasklet::timeout(std::chrono::milliseconds t) {
  timeout_ = std::max(t, std::chrono::milliseconds(0));
  return *this;
}

command_tasklet& command_tasklet::kill_grace(std::chrono::milliseconds t) {
  kill_grace_ = std::max(t, std::chrono::milliseconds(0));
  return *this;
}

command_tasklet& command_tasklet::map_exit_code(int code, batch_status status, std::string exit_status) {
  if (status != batch_status::completed && status != batch_status::failed) {
    throw std::invalid_argument("command_tasklet: exit code " + std::to_string(code) +
                                " must map to COMPLETED or FAILED, not " + std::string(to_string(status)));
  }
  exit_codes_[code] = {status, std::move(exit_status)};
  return *this;
}

command_tasklet& command_tasklet::map_exit_code(int code, std::string exit_status) {
  const auto status = exit_status == "COMPLETED" ? batch_status::completed : batch_status::failed;
  return map_exit_code(code, status, std::move(exit_status));
}

command_tasklet& command_tasklet::tail_bytes(std::size_t n) {
  tail_bytes_ = n;
  return *this;
}

repeat_status command_tasklet::operator()(step_context& ctx) const {
  detail::raise_recorded_failure(ctx);
  const auto& params = ctx.parameters();

  detail::spawn_spec spec;
  spec.argv.push_back(detail::resolve_placeholders(params, program_, "the program"));
  for (const auto& a : args_)
    spec.argv.push_back(detail::resolve_placeholders(params, a, "argument '" + a + "'"));
  if (args_from_) {
    for (auto& a : args_from_(params)) spec.argv.push_back(std::move(a));
  }
  std::vector<std::pair<std::string, std::string>> extra;
  for (const auto& [name, value] : env_) {
    extra.emplace_back(name, detail::resolve_placeholders(params, value, "environment variable " + name));
  }
  spec.envp = environment_with(extra);
  if (!working_directory_.empty()) {
    spec.working_directory =
        detail::resolve_placeholders(params, working_directory_, "the working directory");
    std::error_code ec;
    if (!std::filesystem::is_directory(spec.working_directory, ec)) {
      throw std::runtime_error("working directory '" + spec.working_directory + "' is not a directory");
    }
  }

  auto& c = ctx.context();
  for (const char* key :
       {"command", "exit_code", "signal", "timed_out", "stdout_tail", "stderr_tail", "duration_ms"}) {
    c.erase(key);
  }
  boost::json::array command;
  for (const auto& a : spec.argv) command.emplace_back(detail::to_valid_utf8(a));
  c["command"] = std::move(command);

  const std::string what = "command " + detail::display_command(spec.argv);
  detail::run_result r;
  try {
    r = detail::run_program(spec, ctx, {timeout_, kill_grace_, tail_bytes_});
  } catch (const detail::spawn_failure& e) {
    detail::record_failure(ctx, "FAILED", e.what());
    return repeat_status::continuable;
  }
  c["duration_ms"] = r.duration.count();
  c["stdout_tail"] = r.out_tail;
  c["stderr_tail"] = r.err_tail;
  if (r.exit_code) c["exit_code"] = *r.exit_code;
  if (r.signal) c["signal"] = *r.signal;

  if (r.stopped) {
    // Committed with its output; the step then sees the stop and ends STOPPED.
    spdlog::info("step '{}': the command ended after a stop request", ctx.step_name());
    return repeat_status::continuable;
  }
  if (r.timed_out) {
    c["timed_out"] = true;
    detail::record_failure(ctx, "FAILED",
                           what + " timed out after " + detail::format_duration(timeout_) + " and was " +
                               (r.killed ? "killed (SIGKILL)" : "terminated (SIGTERM)") +
                               stderr_hint(r.err_tail));
    return repeat_status::continuable;
  }
  if (r.signal) {
    detail::record_failure(ctx, "FAILED",
                           what + " was killed by signal " + std::to_string(*r.signal) + " (" +
                               ::strsignal(*r.signal) + ")" + stderr_hint(r.err_tail));
    return repeat_status::continuable;
  }
  const int code = r.exit_code.value_or(-1);
  auto status = code == 0 ? batch_status::completed : batch_status::failed;
  std::string exit = code == 0 ? "COMPLETED" : "EXIT_CODE_" + std::to_string(code);
  if (auto it = exit_codes_.find(code); it != exit_codes_.end()) {
    status = it->second.first;
    exit = it->second.second;
  }
  const std::string ended = what + " exited with code " + std::to_string(code);
  if (status == batch_status::completed) {
    spdlog::info("step '{}': exited with code {} in {} ms", ctx.step_name(), code, r.duration.count());
    if (exit != "COMPLETED") ctx.set_exit_status({exit, ended});
    return repeat_status::finished;
  }
  detail::record_failure(ctx, exit, ended + stderr_hint(r.err_tail));
  return repeat_status::continuable;
}

}  // namespace kiln
