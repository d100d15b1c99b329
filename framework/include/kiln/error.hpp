#pragma once
// The one error vocabulary of Kiln: a code from `errc` and a message a user can act on.
// Fallible calls return `kiln::expected<T>`; across actors an error travels as a caf::error.

#include <expected>
#include <string>
#include <string_view>

namespace kiln {

enum class errc {
  bad_parameter,         // a job parameter is missing, malformed or invalid
  bad_usage,             // a command line or API call is malformed
  unknown_job,           // no job of that name is registered
  not_found,             // no execution, step or instance with that id
  already_running,       // the instance has a running execution
  instance_complete,     // the instance is COMPLETED or ABANDONED; change identifying parameters
  not_restartable,       // the job is declared non-restartable and has run before
  start_limit_exceeded,  // a step has been started as often as its start_limit allows
  invalid_transition,    // a status change that the model does not allow
  data_dir_locked,       // another process owns the data directory
  storage,               // the state store failed (I/O, corruption)
  io,                    // reading or writing a user file failed
  parse,                 // an item could not be parsed (file, line and field in the message)
  skip_limit_exceeded,   // more skippable errors than the step's skip limit
  step_failed,           // user code in a step threw a non-skippable error
  stopped,               // the work was stopped on request
  bad_command,           // a state-machine command is malformed
};

inline constexpr errc all_errc[] = {
    errc::bad_parameter,        errc::bad_usage,         errc::unknown_job,
    errc::not_found,            errc::already_running,   errc::instance_complete,
    errc::not_restartable,      errc::start_limit_exceeded, errc::invalid_transition,
    errc::data_dir_locked,      errc::storage,           errc::io,
    errc::parse,                errc::skip_limit_exceeded, errc::step_failed,
    errc::stopped,              errc::bad_command,
};

// Stable lower-case name, used in JSON output and REST error codes.
std::string_view to_string(errc code);

class error {
 public:
  error(errc code, std::string message) : code_(code), message_(std::move(message)) {}
  [[nodiscard]] errc code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }
  // "code: message", for logs.
  [[nodiscard]] std::string describe() const;

 private:
  errc code_;
  std::string message_;
};

template <class T>
using expected = std::expected<T, error>;

inline std::unexpected<error> fail(errc code, std::string message) {
  return std::unexpected<error>(error(code, std::move(message)));
}

}  // namespace kiln
