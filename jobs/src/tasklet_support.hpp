#pragma once
// What the ready-made tasklets (command_tasklet, http_tasklet) share: lenient placeholders, text
// that is safe to keep in a JSON context, a bounded tail of a stream, and failures that are
// committed with the context before the step fails.

#include <kiln/job_parameters.hpp>
#include <kiln/step_context.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::detail {

// Replaces every `{name}` whose name is a parameter-like identifier (letters, digits, '_', '.',
// '-'; not starting with a digit or '-') by the parameter's text; other braces, as in a JSON
// body, stay as they are. An unknown name throws std::invalid_argument naming it and `what`.
std::string resolve_placeholders(const job_parameters& params, std::string_view text, std::string_view what);

// "300 ms", "2 s": a duration for messages.
std::string format_duration(std::chrono::milliseconds d);

// `bytes` as valid UTF-8: invalid sequences become U+FFFD. Contexts are JSON, which must be UTF-8.
std::string to_valid_utf8(std::string_view bytes);

// The last `limit` bytes written to it (a little more until the next trim), in bounded memory.
class tail_buffer {
 public:
  explicit tail_buffer(std::size_t limit) : limit_(limit) {}
  void append(std::string_view bytes);
  // The last `limit` bytes, starting at a character boundary, as valid UTF-8.
  [[nodiscard]] std::string text() const;

 private:
  std::size_t limit_;
  std::string data_;
};

// A tasklet that fails but wants the context it has written so far (a program's output, an HTTP
// response) to be committed does so in two calls: the first records the failure and returns
// `continuable` (the context, failure included, is committed); the next raises it. A restart
// (another step execution) ignores a failure recorded by an earlier one.
//
// Records the failure under "failure" (step execution id, exit code, message).
void record_failure(step_context& ctx, std::string exit_code, std::string message);
// If this step execution recorded a failure: sets the step's exit status and throws it as a
// std::runtime_error. Otherwise removes a stale record and returns.
void raise_recorded_failure(step_context& ctx);

}  // namespace kiln::detail
