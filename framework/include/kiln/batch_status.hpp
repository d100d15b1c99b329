#pragma once
// BatchStatus and ExitStatus with Spring Batch's meaning.

#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class batch_status { starting, started, stopping, stopped, failed, completed, abandoned };
inline constexpr batch_status all_batch_statuses[] = {
    batch_status::starting, batch_status::started,   batch_status::stopping, batch_status::stopped,
    batch_status::failed,   batch_status::completed, batch_status::abandoned};

// "STARTING", "STARTED", ... as Spring Batch spells them.
std::string_view to_string(batch_status s);
std::optional<batch_status> parse_batch_status(std::string_view s);

// True for STARTING, STARTED and STOPPING: an execution some process is (or was) working on.
constexpr bool is_running(batch_status s) {
  return s == batch_status::starting || s == batch_status::started || s == batch_status::stopping;
}

// A free-form exit code plus description. Standard codes mirror Spring Batch's ExitStatus.
struct exit_status {
  std::string code = "UNKNOWN";
  std::string description;

  static exit_status completed() { return {"COMPLETED", {}}; }
  static exit_status failed(std::string why = {}) { return {"FAILED", std::move(why)}; }
  static exit_status stopped(std::string why = {}) { return {"STOPPED", std::move(why)}; }
  static exit_status noop(std::string why = {}) { return {"NOOP", std::move(why)}; }
  static exit_status executing() { return {"EXECUTING", {}}; }
  friend bool operator==(const exit_status&, const exit_status&) = default;
};

}  // namespace kiln
