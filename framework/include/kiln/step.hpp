#pragma once
// Step definitions: a tasklet step (a function called until it says finished) and a chunk step
// (reader -> processor -> writer, committed every `commit_interval` items). A definition is
// immutable once built into a job and makes a fresh step_worker for every step execution, so one
// job definition serves any number of concurrent executions.

#include <kiln/exceptions.hpp>
#include <kiln/item.hpp>
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
  [[nodiscard]] virtual std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const = 0;

 protected:
  std::string name_;
  bool allow_start_if_complete_ = false;  // Default: a COMPLETED step is skipped on restart
  std::int64_t start_limit_ = 0;          // Default: 0 = unlimited starts per instance
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

// ---------------------------------------------------------------------------------------------
// Skip policy

// Which exceptions a chunk step skips instead of failing, and how many (Spring Batch's
// LimitCheckingItemSkipPolicy: the (limit+1)-th skippable error fails the step).
class skip_policy {
 public:
  template <class E>
  void add() {
    predicates_.push_back([](const std::exception_ptr& e) {
      try {
        std::rethrow_exception(e);
      } catch (const E&) {
        return true;
      } catch (...) {
        return false;
      }
    });
  }
  void limit(std::int64_t n) { limit_ = [n](const job_parameters&) { return n; }; }
  void limit(std::function<std::int64_t(const job_parameters&)> fn) { limit_ = std::move(fn); }
  [[nodiscard]] bool skippable(const std::exception_ptr& e) const;
  [[nodiscard]] std::int64_t limit_for(const job_parameters& p) const { return limit_ ? limit_(p) : 0; }

 private:
  std::vector<std::function<bool(const std::exception_ptr&)>> predicates_;
  std::function<std::int64_t(const job_parameters&)> limit_;
};

std::string describe_exception(const std::exception_ptr& e);

namespace detail {

// Logs the n-th skip of a step: the first few as warnings, the rest at debug level.
void log_skip(const std::string& step_name, const std::exception_ptr& e, std::int64_t n);

template <class T, class F>
class function_reader final : public item_reader<T> {
 public:
  explicit function_reader(F f) : f_(std::move(f)) {}
  std::optional<T> read() override { return f_(); }

 private:
  F f_;
};

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
  using processor_factory = std::function<process_fn()>;
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
      processor_ = [p]() -> process_fn {
        return [proc = std::make_shared<P>(p)](I&& item) { return proc->process(std::move(item)); };
      };
    } else {
      processor_ = [p]() -> process_fn { return p; };
    }
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
  // Errors of type E (or derived) thrown by read or process are skipped, up to the skip limit.
  template <class E>
  chunk_step& skip() {
    skips_.template add<E>();
    return *this;
  }
  chunk_step& skip_limit(std::int64_t n) {
    skips_.limit(n);
    return *this;
  }
  // The skip limit computed from the job parameters, e.g. from a `skip_limit` parameter.
  chunk_step& skip_limit(std::function<std::int64_t(const job_parameters&)> fn) {
    skips_.limit(std::move(fn));
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

  [[nodiscard]] std::string kind() const override { return "chunk"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const override;

 private:
  class worker;
  reader_factory reader_;
  processor_factory processor_;
  writer_factory writer_;
  std::function<std::int64_t(const job_parameters&)> commit_interval_ = [](const job_parameters&) {
    return std::int64_t{100};
  };
  skip_policy skips_;
  std::function<std::int64_t(const job_parameters&)> threads_;
};

template <class I, class O>
class chunk_step<I, O>::worker final : public step_worker {
 public:
  worker(const chunk_step& def, step_context ctx, command_log& log,
         std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)),
        def_(def),
        skip_limit_(def.skips_.limit_for(context().parameters())),
        interval_(std::max<std::int64_t>(1, def.commit_interval_(context().parameters()))) {}

 protected:
  void do_open() override {
    if (!def_.reader_) throw std::logic_error("chunk step '" + def_.name() + "' has no reader");
    if (!def_.writer_) throw std::logic_error("chunk step '" + def_.name() + "' has no writer");
    reader_ = def_.reader_();
    if (def_.processor_) processor_ = def_.processor_();
    writer_ = def_.writer_();
    if (def_.processor_ && def_.threads_) {
      const auto n = def_.threads_(context().parameters());
      if (n > 1) parallel_ = std::make_unique<detail::parallel_process<I, O>>(def_.processor_, static_cast<std::size_t>(n));
    }
    reader_->open(context());
    reader_open_ = true;
    writer_->open(context());
    writer_open_ = true;
    inputs_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(interval_, 65536)));
    outputs_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(interval_, 65536)));
  }

  step_outcome do_run_once() override {
    step_counts c = counts();
    inputs_.clear();
    outputs_.clear();
    bool end = false;
    while (static_cast<std::int64_t>(inputs_.size()) < interval_) {
      try {
        auto item = reader_->read();
        if (!item) {
          end = true;
          break;
        }
        inputs_.push_back(std::move(*item));
        ++c.read;
      } catch (...) {
        skip_or_rethrow(c, c.read_skip);
      }
    }
    if (parallel_) parallel_->process(inputs_);
    for (auto& in : inputs_) {
      if constexpr (std::is_same_v<I, O>) {
        if (!processor_) {
          outputs_.push_back(std::move(in));
          continue;
        }
      } else if constexpr (std::is_convertible_v<I, O>) {
        if (!processor_) {
          outputs_.push_back(O(std::move(in)));
          continue;
        }
      }
      try {
        if (!processor_) throw std::logic_error("chunk step '" + def_.name() + "' needs a processor");
        auto out = parallel_ ? parallel_->take() : processor_(std::move(in));
        if (out) {
          outputs_.push_back(std::move(*out));
        } else {
          ++c.filter;
        }
      } catch (...) {
        skip_or_rethrow(c, c.process_skip);
      }
    }
    writer_->write(outputs_);
    c.write += static_cast<std::int64_t>(outputs_.size());
    reader_->update(context().context());
    writer_->update(context().context());
    if (auto* p = progress()) {
      if (auto f = reader_->fraction_done()) p->fraction = *f;
    }
    commit(c);
    return end ? step_outcome::completed : step_outcome::continuing;
  }

  void do_close() override {
    if (writer_open_) close_quietly(*writer_);
    if (reader_open_) close_quietly(*reader_);
  }

 private:
  void skip_or_rethrow(step_counts& c, std::int64_t& counter) {
    auto e = std::current_exception();
    if (!def_.skips_.skippable(e)) throw;
    if (c.skip() >= skip_limit_) {
      throw skip_limit_exceeded("skip limit " + std::to_string(skip_limit_) +
                                " exceeded; last skippable error: " + describe_exception(e));
    }
    ++counter;
    detail::log_skip(context().step_name(), e, c.skip());
  }
  static void close_quietly(item_stream& s) noexcept {
    try {
      s.close();
    } catch (...) {
    }
  }

  const chunk_step& def_;
  std::int64_t skip_limit_;
  std::int64_t interval_;
  std::unique_ptr<item_reader<I>> reader_;
  process_fn processor_;
  std::unique_ptr<detail::parallel_process<I, O>> parallel_;  // set with threads(n > 1)
  std::unique_ptr<item_writer<O>> writer_;
  bool reader_open_ = false;
  bool writer_open_ = false;
  chunk<I> inputs_;
  chunk<O> outputs_;
};

template <class I, class O>
std::unique_ptr<step_worker> chunk_step<I, O>::make_worker(step_context ctx, command_log& log,
                                                          std::shared_ptr<run_progress> progress) const {
  return std::make_unique<worker>(*this, std::move(ctx), log, std::move(progress));
}

}  // namespace kiln
