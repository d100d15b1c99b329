#pragma once
// Step definitions: a tasklet step (a function called until it says finished) and a chunk step
// (reader -> processor -> writer, committed every `commit_interval` items). A definition is
// immutable once built into a job and makes a fresh step_worker for every step execution, so one
// job definition serves any number of concurrent executions.

#include <kiln/exceptions.hpp>
#include <kiln/fault_tolerance.hpp>
#include <kiln/item.hpp>
#include <kiln/listeners.hpp>
#include <kiln/parallel_process.hpp>
#include <kiln/step_worker.hpp>

#include <cstdint>
#include <algorithm>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace kiln {

class step {
 public:
  explicit step(std::string name) : name_(std::move(name)) {}
  virtual ~step() = default;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool allow_start_if_complete() const { return allow_start_if_complete_; }
  [[nodiscard]] std::int64_t start_limit() const { return start_limit_; }
  [[nodiscard]] virtual std::string kind() const = 0;  // "tasklet", "chunk"
  [[nodiscard]] const std::vector<step_listener>& step_listeners() const { return step_listeners_; }
  [[nodiscard]] virtual std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const = 0;

 protected:
  std::string name_;
  bool allow_start_if_complete_ = false;  // Default: a COMPLETED step is skipped on restart
  std::int64_t start_limit_ = 0;          // Default: 0 = unlimited starts per instance
  std::vector<step_listener> step_listeners_;
};

// Derived step definitions expose the common settings fluently with their own type.
template <class Self>
class step_settings : public step {
 public:
  using step::step;
  Self& allow_start_if_complete(bool v = true) {
    allow_start_if_complete_ = v;
    return static_cast<Self&>(*this);
  }
  Self& start_limit(std::int64_t n) {
    start_limit_ = n;
    return static_cast<Self&>(*this);
  }
  // Adds a step listener (listeners.hpp); listeners run in the order added.
  Self& listener(step_listener l) {
    step_listeners_.push_back(std::move(l));
    return static_cast<Self&>(*this);
  }
};

// ---------------------------------------------------------------------------------------------
// Tasklet steps

enum class repeat_status { continuable, finished };
using tasklet = std::function<repeat_status(step_context&)>;

class tasklet_step : public step_settings<tasklet_step> {
 public:
  tasklet_step(std::string name, tasklet fn) : step_settings(std::move(name)), fn_(std::move(fn)) {}
  [[nodiscard]] std::string kind() const override { return "tasklet"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const override;

 private:
  tasklet fn_;
};

namespace detail {

// Logs the n-th skip of a step: the first few as warnings, the rest at debug level.
void log_skip(const std::string& step_name, const std::exception_ptr& e, std::int64_t n);
// Logs that a write behind failed and the step goes on in line.
void log_write_behind_failure(const std::string& step_name, const std::exception_ptr& e);

template <class T, class F>
class function_reader final : public item_reader<T> {
 public:
  explicit function_reader(F f) : f_(std::move(f)) {}
  std::optional<T> read() override { return f_(); }

 private:
  F f_;
};

// Calls an in-place processor: true unless it returned false (a void one keeps every item).
template <class P, class I>
bool keeps(P& p, I& item) {
  if constexpr (std::is_void_v<std::invoke_result_t<P&, I&>>) {
    p(item);
    return true;
  } else {
    return static_cast<bool>(p(item));
  }
}

template <class T, class F>
class function_writer final : public item_writer<T> {
 public:
  explicit function_writer(F f) : f_(std::move(f)) {}
  void write(const chunk<T>& items) override { f_(items); }

 private:
  F f_;
};


}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Chunk steps

template <class I, class O = I>
class chunk_step : public step_settings<chunk_step<I, O>> {
 public:
  using reader_factory = std::function<std::unique_ptr<item_reader<I>>()>;
  // Processing runs through one std::function per step execution; a lambda is called directly,
  // an item_processor through its virtual process(). Items are moved, never copied.
  using process_fn = std::function<std::optional<O>(I&&)>;
  // Made once per step execution, from its context (parameters, ids).
  using processor_factory = std::function<process_fn(step_context&)>;
  // An in-place processor (process_in_place): changes the item where it is; false filters it.
  using in_place_fn = std::function<bool(I&)>;
  using writer_factory = std::function<std::unique_ptr<item_writer<O>>()>;

  explicit chunk_step(std::string name) : step_settings<chunk_step<I, O>>(std::move(name)) {}

  // An item_reader<I> (copied for each step execution) or a callable returning std::optional<I>.
  template <class R>
  chunk_step& reader(R r) {
    if constexpr (std::is_base_of_v<item_reader<I>, R>) {
      reader_ = [r] { return std::make_unique<R>(r); };
    } else {
      reader_ = [r] { return std::make_unique<detail::function_reader<I, R>>(r); };
    }
    return *this;
  }
  chunk_step& reader_factory_fn(reader_factory f) {
    reader_ = std::move(f);
    return *this;
  }

  // An item_processor<I,O> or a callable taking I and returning std::optional<O> (nullopt filters).
  template <class P>
  chunk_step& processor(P p) {
    if constexpr (std::is_base_of_v<item_processor<I, O>, P>) {
      processor_ = [p](step_context&) -> process_fn {
        return [proc = std::make_shared<P>(p)](I&& item) { return proc->process(std::move(item)); };
      };
    } else {
      processor_ = [p](step_context&) -> process_fn { return p; };
    }
    in_place_ = nullptr;
    return *this;
  }
  // Processing in place, for steps whose output type is their input type: a callable taking I&
  // that changes the item where it is and returns void (the item is kept) or bool (false filters
  // it). Where processor() takes each item and returns a new one (two moves per item), the step
  // processes the items in the chunk it read and writes that same chunk. Replaces processor().
  template <class P>
    requires std::is_same_v<I, O>
  chunk_step& process_in_place(P p) {
    in_place_ = [p](step_context&) -> in_place_fn {
      return [p](I& item) mutable { return detail::keeps(p, item); };
    };
    // The same processing through the process_fn path, for threads(n), whose every thread makes
    // its own processor; the step's thread uses its in_place_fn for both paths.
    processor_ = [make = in_place_](step_context& ctx) { return as_process_fn(make(ctx)); };
    return *this;
  }
  // A processor made for each step execution from its context, for processing that depends on
  // the job parameters: `[](step_context& c) -> process_fn { ... return [..](I&& item) {...}; }`.
  chunk_step& processor_from(processor_factory f) {
    processor_ = std::move(f);
    in_place_ = nullptr;
    return *this;
  }

  // An item_writer<O> or a callable taking const chunk<O>&.
  template <class W>
  chunk_step& writer(W w) {
    if constexpr (std::is_base_of_v<item_writer<O>, W>) {
      writer_ = [w] { return std::make_unique<W>(w); };
    } else {
      writer_ = [w] { return std::make_unique<detail::function_writer<O, W>>(w); };
    }
    return *this;
  }
  chunk_step& writer_factory_fn(writer_factory f) {
    writer_ = std::move(f);
    return *this;
  }

  // Items per commit. Default: 100.
  chunk_step& commit_interval(std::int64_t n) {
    commit_interval_ = [n](const job_parameters&) { return n; };
    return *this;
  }
  // The commit interval computed from the job parameters, e.g. from a `commit_interval` parameter.
  chunk_step& commit_interval_from(std::function<std::int64_t(const job_parameters&)> fn) {
    commit_interval_ = std::move(fn);
    return *this;
  }
  // Fault tolerance (fault_tolerance.hpp has the rules).
  // Errors of type E (or derived) thrown by read, process or write are skipped, up to the skip
  // limit shared by the three phases. Default: no error is skippable.
  template <class E>
  chunk_step& skip() {
    ft_.skips.template add<E>();
    return *this;
  }
  // Errors of type E (or derived) are never skipped, even when a skip class matches them.
  template <class E>
  chunk_step& no_skip() {
    ft_.skips.template exclude<E>();
    return *this;
  }
  // Default: 0.
  chunk_step& skip_limit(std::int64_t n) {
    ft_.skips.limit(n);
    return *this;
  }
  // The skip limit computed from the job parameters, e.g. from a `skip_limit` parameter.
  chunk_step& skip_limit(std::function<std::int64_t(const job_parameters&)> fn) {
    ft_.skips.limit(std::move(fn));
    return *this;
  }
  // Errors of type E (or derived) thrown by process or write are retried (reads never are).
  template <class E>
  chunk_step& retry() {
    ft_.retries.retryable.template add<E>();
    return *this;
  }
  // Attempts per item (process) or chunk (write), the first one included. Default: 0 (no retry).
  chunk_step& retry_limit(std::int64_t n) {
    ft_.retries.limit = n;
    return *this;
  }
  // The pause before each retry: kiln::backoff::fixed{...} or kiln::backoff::exponential{...}.
  // Default: kiln::backoff::none{}.
  chunk_step& backoff(backoff_policy p) {
    ft_.retries.pause = p;
    return *this;
  }
  // Errors of type E (or derived) thrown by the processor are skipped without a rollback; they
  // must also be skippable, or they fail the step.
  template <class E>
  chunk_step& no_rollback() {
    ft_.no_rollback.template add<E>();
    return *this;
  }
  // Whether skipped items go to the skip log file (fault_tolerance.hpp). Default: true.
  chunk_step& skip_log(bool v) {
    skip_log_ = v;
    return *this;
  }

  // Listeners (listeners.hpp), called in the order added.
  using step_settings<chunk_step<I, O>>::listener;
  chunk_step& listener(chunk_listener l) {
    chunk_listeners_.push_back(std::move(l));
    return *this;
  }
  chunk_step& listener(item_read_listener<I> l) {
    read_listeners_.push_back(std::move(l));
    return *this;
  }
  chunk_step& listener(item_process_listener<I, O> l) {
    process_listeners_.push_back(std::move(l));
    return *this;
  }
  chunk_step& listener(item_write_listener<O> l) {
    write_listeners_.push_back(std::move(l));
    return *this;
  }
  chunk_step& listener(skip_listener<I, O> l) {
    skip_listeners_.push_back(std::move(l));
    return *this;
  }

  // Parallel processing: the items of each chunk are processed on n threads (each with its own
  // processor, made by the processor factory), while reading and writing stay on the step's
  // thread and items are written in input order. For CPU-heavy processors. Default: 1.
  chunk_step& threads(std::int64_t n) {
    threads_ = [n](const job_parameters&) { return n; };
    return *this;
  }
  // The thread count computed from the job parameters, e.g. from a `threads` parameter.
  chunk_step& threads_from(std::function<std::int64_t(const job_parameters&)> fn) {
    threads_ = std::move(fn);
    return *this;
  }

  // Write-behind: each chunk is written and committed on a second thread while the next chunk
  // is read and processed, so reading and processing overlap writing (two cores instead of one).
  // Commits, their order and restarts are those of the step in line, and memory holds at most two
  // chunks. Not with chunk, item or skip listeners (they expect each chunk read, processed and
  // written in turn), and with skip or retry only for a repeatable reader. After a failed write
  // the step goes on in line (chunk_loop.hpp). Default: off.
  chunk_step& write_behind(bool on = true) {
    write_behind_ = [on](const job_parameters&) { return on; };
    return *this;
  }
  // Write-behind on or off from the job parameters, e.g. from a `write_behind` parameter.
  chunk_step& write_behind_from(std::function<bool(const job_parameters&)> fn) {
    write_behind_ = std::move(fn);
    return *this;
  }

  [[nodiscard]] std::string kind() const override { return "chunk"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const override;

 private:
  class worker;
  // An in-place processor as a process_fn: the item it keeps, moved into the result.
  template <class F>
  static process_fn as_process_fn(F in_place) {
    return [in_place = std::move(in_place)](I&& item) mutable -> std::optional<O> {
      if (!in_place(item)) return std::nullopt;
      return std::optional<O>(std::move(item));
    };
  }

  reader_factory reader_;
  processor_factory processor_;
  std::function<in_place_fn(step_context&)> in_place_;  // set by process_in_place()
  writer_factory writer_;
  std::function<std::int64_t(const job_parameters&)> commit_interval_ = [](const job_parameters&) {
    return std::int64_t{100};
  };
  fault_tolerance ft_;
  bool skip_log_ = true;
  std::vector<chunk_listener> chunk_listeners_;
  std::vector<item_read_listener<I>> read_listeners_;
  std::vector<item_process_listener<I, O>> process_listeners_;
  std::vector<item_write_listener<O>> write_listeners_;
  std::vector<skip_listener<I, O>> skip_listeners_;
  std::function<std::int64_t(const job_parameters&)> threads_;
  std::function<bool(const job_parameters&)> write_behind_;
};

}  // namespace kiln

// The chunk loop (chunk_step<I,O>::worker and make_worker) lives in its own header.
#include <kiln/chunk_loop.hpp>
