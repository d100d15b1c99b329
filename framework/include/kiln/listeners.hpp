#pragma once
// Listeners (Spring Batch's JobExecutionListener, StepExecutionListener, ChunkListener,
// ItemRead/Process/WriteListener and SkipListener). Each is a struct of optional callbacks, so a
// listener is written with designated initializers and lambdas:
//
//   .listener(kiln::chunk_listener{.after_chunk = [](kiln::step_context& c) { ... }})
//
// Callbacks run on the step's thread (job callbacks on the job's), never concurrently.
// Errors: an exception thrown by a before_job callback fails the job before its first step; one
// thrown by after_job is logged and changes nothing (the job has ended). An exception thrown by
// any step-level callback (step, chunk, item or skip listener) fails the step, naming the
// callback; it is never skipped or retried.

#include <kiln/batch_status.hpp>
#include <kiln/item.hpp>
#include <kiln/job_parameters.hpp>
#include <kiln/records.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace kiln {

class step_context;

// What a job listener sees of its execution.
struct job_execution_info {
  std::string job_name;
  std::int64_t execution_id = 0;
  const job_parameters* parameters = nullptr;
  batch_status status = batch_status::started;  // after_job: how the job ended
  exit_status exit;                             // after_job: may be changed (code and description)
};

struct job_listener {
  std::function<void(job_execution_info&)> before_job;
  // Called once the job's end is decided, before it is recorded; may change `exit`.
  std::function<void(job_execution_info&)> after_job;
};

// How a step ended, as after_step sees it.
struct step_result {
  batch_status status = batch_status::completed;
  exit_status exit;
  step_counts counts;
};

struct step_listener {
  // Before the step's streams are opened.
  std::function<void(step_context&)> before_step;
  // After the step ended, before its end is recorded. A returned exit status is combined with the
  // step's as Spring Batch's ExitStatus.and() does: the more severe code wins (EXECUTING <
  // COMPLETED < NOOP < STOPPED < FAILED < UNKNOWN < any custom code), e.g. "COMPLETED WITH SKIPS"
  // replaces COMPLETED. The batch status does not change, except that a throwing after_step
  // makes the step FAILED.
  std::function<std::optional<exit_status>(step_context&, const step_result&)> after_step;
};

struct chunk_listener {
  // Before the chunk's first read.
  std::function<void(step_context&)> before_chunk;
  // After the chunk's commit was handed to the command log.
  std::function<void(step_context&)> after_chunk;
  // After each rollback of the chunk (a retry, a skip in process, a write failure), and when the
  // chunk fails the step; with the error that caused it.
  std::function<void(step_context&, const std::exception_ptr&)> after_chunk_error;
};

template <class I>
struct item_read_listener {
  std::function<void()> before_read;
  // After each item read (not at the end of the input).
  std::function<void(const I&)> after_read;
  std::function<void(const std::exception_ptr&)> on_read_error;
};

template <class I, class O>
struct item_process_listener {
  std::function<void(const I&)> before_process;
  // nullopt: the processor filtered the item.
  std::function<void(const I&, const std::optional<O>&)> after_process;
  std::function<void(const I&, const std::exception_ptr&)> on_process_error;
};

template <class O>
struct item_write_listener {
  std::function<void(const chunk<O>&)> before_write;
  std::function<void(const chunk<O>&)> after_write;
  std::function<void(const chunk<O>&, const std::exception_ptr&)> on_write_error;
};

// Called once per skipped item, just before the commit of the chunk the skip belongs to (as in
// Spring Batch), so a skip of a chunk that is rolled back and redone is reported once.
template <class I, class O>
struct skip_listener {
  std::function<void(const std::exception_ptr&)> on_skip_in_read;
  std::function<void(const I&, const std::exception_ptr&)> on_skip_in_process;
  std::function<void(const O&, const std::exception_ptr&)> on_skip_in_write;
};

// Spring Batch's ExitStatus.and(): the exit status with the more severe code; on a tie, `a`
// keeps its code and the descriptions are joined.
exit_status combine_exit(const exit_status& a, const exit_status& b);

// Thrown by the chunk loop when a listener callback throws; fails the step.
class listener_failed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Calls `fn(args...)` if set; an exception becomes listener_failed naming `what`.
template <class F, class... A>
void notify(const F& fn, const char* what, A&&... args) {
  if (!fn) return;
  try {
    fn(std::forward<A>(args)...);
  } catch (const std::exception& e) {
    throw listener_failed(std::string("listener ") + what + " failed: " + e.what());
  } catch (...) {
    throw listener_failed(std::string("listener ") + what + " failed: unknown error");
  }
}
}  // namespace detail

}  // namespace kiln
