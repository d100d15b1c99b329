#pragma once
// Fault tolerance of chunk steps, after Spring Batch's FaultTolerantStepBuilder: which errors are
// skipped (and how many), which are retried (how often, with what backoff), and which do not roll
// the chunk back. The chunk step holds one fault_tolerance; the chunk loop (step.hpp) applies it:
//
// - read: a skippable error skips the record (read_skip); reads are never retried.
// - process: a retryable error rolls the chunk back and processes it again from the buffered
//   items (the reader is not read again), after a backoff, until the item has failed
//   `retry_limit` times; then, or at once for an error that is not retryable, a skippable error
//   skips the item (process_skip) after one more rollback. An error of a no-rollback class is
//   skipped in place, without a rollback (it must be skippable).
// - write: a retryable error rolls back and processes and writes the chunk again; once retries
//   are exhausted (or for a skippable error that is not retryable) the chunk is rolled back and
//   scanned: each item processed and written alone, so that only the failing items are skipped
//   (write_skip).
// - the skip limit is shared by the three phases and counts the whole step execution: the
//   (limit+1)-th skippable error fails the step with skip_limit_exceeded.

#include <kiln/execution_context.hpp>
#include <kiln/job_parameters.hpp>

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace kiln {

namespace detail {
// The std::exception inside `e`, or nullptr when it holds another type (or nothing). Finding it
// rethrows the exception, which costs tens of thousands of instructions; the last one found on
// the calling thread is remembered, so classifying, describing and logging one skipped error
// rethrows it once.
const std::exception* std_exception_of(const std::exception_ptr& e);
}  // namespace detail

// A set of exception classes: an exception matches when it is of one of them or derived from one.
class exception_classes {
 public:
  template <class E>
  void add() {
    entry en;
    if constexpr (std::is_base_of_v<std::exception, E>) {
      en.std_match = [](const std::exception& x) { return dynamic_cast<const E*>(&x) != nullptr; };
    }
    en.match = [](const std::exception_ptr& e) {
      try {
        std::rethrow_exception(e);
      } catch (const E&) {
        return true;
      } catch (...) {
        return false;
      }
    };
    entries_.push_back(std::move(en));
  }
  [[nodiscard]] bool matches(const std::exception_ptr& e) const;
  [[nodiscard]] bool empty() const { return entries_.empty(); }

 private:
  struct entry {
    bool (*std_match)(const std::exception&) = nullptr;  // for classes derived from std::exception
    bool (*match)(const std::exception_ptr&) = nullptr;  // for any class, by rethrowing
  };
  std::vector<entry> entries_;
};

// Which exceptions a chunk step skips instead of failing, and how many (Spring Batch's
// LimitCheckingItemSkipPolicy: the (limit+1)-th skippable error fails the step). An exception of
// a no_skip class is never skipped, even when it also matches a skip class (Spring Batch picks
// the closer class in the hierarchy; C++ cannot tell the distance, so exclusion wins).
class skip_policy {
 public:
  template <class E>
  void add() {
    skip_.add<E>();
  }
  template <class E>
  void exclude() {
    no_skip_.add<E>();
  }
  void limit(std::int64_t n) {
    limit_ = [n](const job_parameters&) { return n; };
  }
  void limit(std::function<std::int64_t(const job_parameters&)> fn) { limit_ = std::move(fn); }
  [[nodiscard]] bool skippable(const std::exception_ptr& e) const;
  [[nodiscard]] bool any() const { return !skip_.empty(); }
  [[nodiscard]] std::int64_t limit_for(const job_parameters& p) const { return limit_ ? limit_(p) : 0; }

 private:
  exception_classes skip_;
  exception_classes no_skip_;
  std::function<std::int64_t(const job_parameters&)> limit_;
};

// How long to wait before retrying (Spring Batch's BackOffPolicy).
namespace backoff {
// Retry at once. The default.
struct none {};
// The same pause before every retry.
struct fixed {
  std::chrono::milliseconds period{1000};  // Default: 1 s
};
// initial, initial*multiplier, initial*multiplier^2 ... capped at max. With jitter, each pause is
// a random multiple between 1 and `multiplier` of that value, capped at max (Spring Batch's
// ExponentialRandomBackOffPolicy), so that many workers do not retry in step.
struct exponential {
  std::chrono::milliseconds initial{100};  // Default: 100 ms
  double multiplier = 2.0;                 // Default: 2
  std::chrono::milliseconds max{30000};    // Default: 30 s
  bool jitter = false;                     // Default: false
};
}  // namespace backoff
using backoff_policy = std::variant<backoff::none, backoff::fixed, backoff::exponential>;

// The pause before retry number `retry` (1 = the first retry).
std::chrono::milliseconds backoff_delay(const backoff_policy& p, std::int64_t retry, std::mt19937_64& rng);

// Which exceptions are retried, how often and with what pause (Spring Batch's SimpleRetryPolicy).
// `limit` counts attempts, not retries, as Spring Batch's retryLimit does: 3 = the first try and
// two retries; 0 and 1 both mean no retry.
struct retry_policy {
  exception_classes retryable;
  std::int64_t limit = 0;  // Default: 0 (no retry)
  backoff_policy pause;    // Default: backoff::none
  [[nodiscard]] bool can_retry(const std::exception_ptr& e, std::int64_t failures) const {
    return failures < limit && retryable.matches(e);
  }
};

// Everything a chunk step needs to decide what an error means.
struct fault_tolerance {
  skip_policy skips;
  retry_policy retries;
  // Exceptions of these classes thrown by the processor do not roll the chunk back: the item is
  // skipped in place (Spring Batch's noRollback). A write failure always rolls back.
  exception_classes no_rollback;

  // True when an error can lead to a rollback and a second pass over the buffered items, so the
  // chunk loop must keep each input until the chunk commits.
  [[nodiscard]] bool keeps_inputs() const { return skips.any() || !retries.retryable.empty(); }
};

// The exception's what(), or "unknown error".
std::string describe_exception(const std::exception_ptr& e);

class state_store;
class step_context;

// The skip log of one step execution: a JSON Lines file with one record per skipped item,
// {"execution_id", "step", "phase": "read"|"process"|"write", "error", "item"} ("item" is absent
// for read skips, whose record could not be read; the error names it). It lives at
// <data-dir>/skips/<execution-id>/<step-execution-id>.jsonl and is created at the first skip.
// The commit of a chunk records the file's size with the chunk's records ("kiln.skip_log.file",
// "kiln.skip_log.offset" in the step context), and the records reach the file before that commit
// goes to the command log (flush(), with the writer's, item_stream::flush); when the step starts
// again (a restart), every earlier attempt's file of the same step and job instance is truncated
// to the size its last commit recorded, so a chunk that is redone is not logged twice.
class skip_log {
 public:
  static std::filesystem::path path_for(const std::filesystem::path& data_dir, std::int64_t execution_id,
                                        std::int64_t step_execution_id);
  // Truncates earlier attempts' files (see above) and records this attempt's file in ctx.
  // Throws io_error when a file cannot be truncated.
  void open(const state_store& store, step_context& ctx);
  // Queues one record; written by flush().
  void add(std::string_view phase, const std::exception_ptr& error, const boost::json::value* item);
  // Saves the file's size with the queued records into ctx.
  void update(execution_context& ctx);
  // Writes the queued records (to the kernel, not synced). Throws io_error when it cannot.
  void flush();
  // Drops the queued records (their commits never went to the log) and closes the file.
  void close() noexcept;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::string step_;
  std::int64_t execution_id_ = 0;
  std::ofstream out_;
  std::string pending_;
  std::int64_t size_ = 0;
  bool open_ = false;
};

namespace detail {
// An item as the skip log shows it: JSON when boost::json::value_from knows the type, text when
// fmt can format it, else a note saying how to make it loggable.
template <class T>
boost::json::value item_json(const T& item) {
  try {
    if constexpr (boost::json::has_value_from<T>::value) {
      return boost::json::value_from(item);
    } else if constexpr (fmt::is_formattable<T>::value) {
      return boost::json::string(fmt::format("{}", item));
    } else {
      return boost::json::string(
          "(an item Kiln cannot print: give its type a boost::json tag_invoke value_from)");
    }
  } catch (const std::exception& e) {
    return boost::json::string(std::string("(the item could not be printed: ") + e.what() + ")");
  }
}
}  // namespace detail

}  // namespace kiln
