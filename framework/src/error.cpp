#include <kiln/batch_status.hpp>
#include <kiln/error.hpp>

#include <array>

namespace kiln {

std::string_view to_string(errc code) {
  switch (code) {
    case errc::bad_parameter: return "bad_parameter";
    case errc::bad_usage: return "bad_usage";
    case errc::unknown_job: return "unknown_job";
    case errc::not_found: return "not_found";
    case errc::already_running: return "already_running";
    case errc::instance_complete: return "instance_complete";
    case errc::not_restartable: return "not_restartable";
    case errc::start_limit_exceeded: return "start_limit_exceeded";
    case errc::invalid_transition: return "invalid_transition";
    case errc::data_dir_locked: return "data_dir_locked";
    case errc::storage: return "storage";
    case errc::io: return "io";
    case errc::parse: return "parse";
    case errc::skip_limit_exceeded: return "skip_limit_exceeded";
    case errc::step_failed: return "step_failed";
    case errc::stopped: return "stopped";
    case errc::bad_command: return "bad_command";
  }
  return "unknown";
}

std::string error::describe() const { return std::string(to_string(code_)) + ": " + message_; }

namespace {
constexpr std::array<std::pair<batch_status, std::string_view>, 7> status_names{{
    {batch_status::starting, "STARTING"},
    {batch_status::started, "STARTED"},
    {batch_status::stopping, "STOPPING"},
    {batch_status::stopped, "STOPPED"},
    {batch_status::failed, "FAILED"},
    {batch_status::completed, "COMPLETED"},
    {batch_status::abandoned, "ABANDONED"},
}};
}  // namespace

std::string_view to_string(batch_status s) {
  for (const auto& [v, name] : status_names) {
    if (v == s) return name;
  }
  return "UNKNOWN";
}

std::optional<batch_status> parse_batch_status(std::string_view s) {
  for (const auto& [v, name] : status_names) {
    if (name.size() == s.size() &&
        std::equal(name.begin(), name.end(), s.begin(),
                   [](char a, char b) { return a == (b >= 'a' && b <= 'z' ? b - 32 : b); })) {
      return v;
    }
  }
  return std::nullopt;
}

}  // namespace kiln
