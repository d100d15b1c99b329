#pragma once
// The chunk loop: the step_worker of a chunk_step<I,O> (included by step.hpp; include that).
//
// One run_once() is one chunk: read up to commit_interval items, process them, write the
// outputs, save the streams' positions into the context and commit. Fault tolerance follows
// fault_tolerance.hpp. The read items stay buffered until the commit, and a rollback processes
// them again (Spring Batch's transactional processing). Keeping them intact costs a copy of each
// item per pass, as the processor consumes its item; with a repeatable reader
// (item_reader::repeatable) the first pass hands the processor the items themselves, and only a
// rollback restores them, by reopening the reader at the last commit and reading the chunk again
// (read listeners do not hear that second read, and the read skips of the chunk are not counted
// again). Passes after a rollback copy. An in-place processor (process_in_place), or none when
// O is I, makes the first pass change the items in the chunk they were read into and hand that
// chunk to the writer as the outputs. The writer is rolled back by closing it and opening it
// again with the context as of the last commit (a restartable writer truncates its output there,
// exactly as on a restart); a writer that cannot undo a write sees the rolled-back items again.
//
// A write scan (after a skippable write failure) processes and writes each item alone, each its
// own writer transaction: after every good item the writer's update() makes it the point a
// failure of the next item rolls back to. The step's checkpoint is committed once, at the end of
// the scan (Spring Batch commits every scanned item; Kiln cannot, because the reader's position
// can only be saved at a chunk boundary, and committing it mid-scan would lose or repeat items
// after a crash).
//
// With write_behind(), chunk k is written, its skips logged and its checkpoint committed on a
// handoff thread while the step's thread reads and processes chunk k+1 (at most one chunk in
// hand). The reader's position is saved into the live context when a chunk is handed over, and
// the handoff thread commits a copy of it, completed with the writer's position. The commit order
// and what each commit holds are those of the step in line, so a restart is exactly as before.
// A write that fails behind drops everything after the last commit (the chunk in hand and the
// one read since), reopens reader and writer there, and the step goes on in line: the chunk is
// read and processed again, and its first write gets the error that failed, so it is retried,
// skipped or scanned as in line (the processor sees that chunk's items once more).

#include <kiln/processing_pool.hpp>
#include <kiln/step.hpp>

#include <chrono>
#include <random>
#include <thread>

namespace kiln {

template <class I, class O>
class chunk_step<I, O>::worker final : public step_worker {
 public:
  worker(const chunk_step& def, step_context ctx, command_log& log, std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)),
        def_(def),
        ft_(def.ft_),
        store_(log.state()),
        skip_limit_(def.ft_.skips.limit_for(context().parameters())),
        interval_(std::max<std::int64_t>(1, def.commit_interval_(context().parameters()))),
        keep_inputs_(def.ft_.keeps_inputs()),
        listen_process_(!def.process_listeners_.empty()),
        rng_(static_cast<std::uint64_t>(context().step_execution_id())) {}

 protected:
  void do_open() override {
    if (!def_.reader_) throw std::logic_error("chunk step '" + def_.name() + "' has no reader");
    if (!def_.writer_) throw std::logic_error("chunk step '" + def_.name() + "' has no writer");
    if (!std::is_copy_constructible_v<I> && keep_inputs_) {
      throw std::logic_error("chunk step '" + def_.name() +
                             "': skip and retry process items again after a rollback, which needs copyable "
                             "input items; make the item type copyable or drop skip/retry");
    }
    reader_ = def_.reader_();
    // Copies for every pass unless a rollback can read the chunk again. A no-rollback skip and
    // the process listeners (which see the item after the processor) need the item intact
    // without a rollback.
    copy_always_ = listen_process_ ||
                   (keep_inputs_ && (!reader_->repeatable() || !def_.ft_.no_rollback.empty()));
    if (def_.in_place_) {
      in_place_ = def_.in_place_(context());
      processor_ = as_process_fn(std::ref(in_place_));  // the same callable on both paths
    } else if (def_.processor_) {
      processor_ = def_.processor_(context());
    }
    passes_through_ = std::is_same_v<I, O> && !processor_;
    writer_ = def_.writer_();
    if (def_.processor_ && def_.threads_) {
      const auto n = def_.threads_(context().parameters());
      if (n > 1024) {
        throw std::invalid_argument("chunk step '" + def_.name() + "': threads(" + std::to_string(n) +
                                    ") is more than 1024");
      }
      if (n > 1) {
        parallel_ = std::make_unique<detail::parallel_process<I, O>>(
            [this] { return def_.processor_(context()); }, static_cast<std::size_t>(n));
      }
    }
    if (def_.write_behind_ && def_.write_behind_(context().parameters())) start_write_behind();
    if (def_.skip_log_ && def_.ft_.skips.any()) {
      skip_log_.open(store_, context());
      skip_log_open_ = true;
    }
    reader_->open(context());
    reader_open_ = true;
    writer_->open(context());
    writer_open_ = true;
    const auto reserve = static_cast<std::size_t>(std::min<std::int64_t>(interval_, 65536));
    inputs_.reserve(reserve);
    outputs_.reserve(reserve);
  }

  step_outcome do_run_once() override {
    if (behind_) return run_behind();
    step_counts c = counts();
    try {
      for (const auto& l : def_.chunk_listeners_) detail::notify(l.before_chunk, "before_chunk", context());
      clear_chunk();
      const bool end = read_chunk(c);
      if (!keep_inputs_) {
        process_pass(c);
        write_outputs(c);
      } else {
        for (;;) {
          try {
            process_pass(c);
            write_outputs(c);
            break;
          } catch (const rollback& r) {
            roll_back(c, r.cause);
            if (r.scan) {
              scan(c);
              break;
            }
          }
        }
      }
      // The skip log's records and the writer's lines reach their files before the commit that
      // counts them goes to the log (do_flush()).
      report_skips();
      log_skips(logged_, context().context());
      save_reader_position();
      writer_->update(context().context());
      commit(c);
      writer_dirty_ = false;
      for (const auto& l : def_.chunk_listeners_) detail::notify(l.after_chunk, "after_chunk", context());
      return end ? step_outcome::completed : step_outcome::continuing;
    } catch (...) {
      note_uncommitted(c);
      const auto e = std::current_exception();
      for (const auto& l : def_.chunk_listeners_) {
        try {
          if (l.after_chunk_error) l.after_chunk_error(context(), e);
        } catch (...) {  // NOLINT(bugprone-empty-catch): the chunk's own error is the one to report
        }
      }
      throw;
    }
  }

  void do_drain() override {
    if (!behind_) return;
    wait_behind();
    // What listeners and the flow see after the step: the context as committed.
    if (behind_) context().context() = committed_context();
  }

  // Before checkpoints go to the log: the data they count reaches the file (item_stream::flush).
  void do_flush() override {
    if (writer_open_) writer_->flush();
    if (skip_log_open_) skip_log_.flush();
  }

  void do_close() override {
    if (handoff_) {
      try {
        handoff_->wait();
      } catch (...) {  // NOLINT(bugprone-empty-catch): the step has failed already (drain reported it)
      }
    }
    if (writer_open_) close_quietly(*writer_);
    if (reader_open_) close_quietly(*reader_);
    skip_log_.close();
  }

 private:
  // Thrown inside a chunk to roll it back and go over the buffered items again (or scan them).
  struct rollback {
    std::exception_ptr cause;
    bool scan = false;
  };

  void start_write_behind() {
    const bool listeners = !def_.chunk_listeners_.empty() || !def_.read_listeners_.empty() ||
                           listen_process_ || !def_.write_listeners_.empty() || !def_.skip_listeners_.empty();
    if (listeners) {
      throw std::logic_error("chunk step '" + def_.name() +
                             "': write_behind() cannot be combined with chunk, item or skip listeners, which "
                             "expect each chunk read, processed and written in turn; drop one or the other");
    }
    if (keep_inputs_ && !reader_->repeatable()) {
      throw std::logic_error("chunk step '" + def_.name() +
                             "': write_behind() with skip or retry needs a repeatable reader (a failed write "
                             "is redone by reading its chunk again); drop one or the other");
    }
    behind_ = true;
    ahead_ = counts();
    handoff_ = std::make_unique<handoff_thread>();
  }

  // One chunk with write-behind: read and processed here while the previous one is written and
  // committed behind; then handed over in turn.
  step_outcome run_behind() {
    step_counts c = ahead_;
    try {
      clear_chunk();
      const bool end = read_chunk(c);
      for (;;) {
        try {
          process_pass(c);
          break;
        } catch (const rollback& r) {
          roll_back(c, r.cause);  // the writer has nothing of this chunk yet
        }
      }
      if (!wait_behind()) return step_outcome::continuing;
      hand_over(c);
      ahead_ = c;
      if (end && !wait_behind()) return step_outcome::continuing;
      return end ? step_outcome::completed : step_outcome::continuing;
    } catch (...) {
      note_uncommitted(c);
      throw;
    }
  }

  // Hands the processed chunk to the handoff thread with its counts (its writes included) and a
  // copy of the context holding the reader's position after it.
  void hand_over(step_counts& c) {
    c.write += static_cast<std::int64_t>(outputs_.size());
    in_hand_.outputs.swap(outputs_);
    in_hand_.counts = c;
    in_hand_.skips.clear();
    if (skip_log_open_) collect_skips(in_hand_.skips);
    save_reader_position();
    in_hand_.context = context().context();
    handoff_->post([this] { write_in_hand(); });
  }

  // On the handoff thread. A failing write is kept for wait_behind(); any other failure is
  // rethrown by the wait and fails the step.
  void write_in_hand() {
    try {
      writer_->write(in_hand_.outputs);
    } catch (...) {
      in_hand_.write_error = std::current_exception();
      return;
    }
    log_skips(in_hand_.skips, in_hand_.context);
    writer_->update(in_hand_.context);
    commit(in_hand_.counts, in_hand_.context);
  }

  // Waits until the chunk in hand is written and committed. False when its write failed and the
  // step goes on in line from the last commit; rethrows what fails the step.
  bool wait_behind() {
    handoff_->wait();
    if (!in_hand_.write_error) return true;
    const auto e = std::exchange(in_hand_.write_error, nullptr);
    if (!keep_inputs_) std::rethrow_exception(e);
    behind_ = false;
    context().context() = committed_context();
    reopen(*reader_, reader_open_);
    reopen(*writer_, writer_open_);
    redo_write_error_ = e;
    detail::log_write_behind_failure(def_.name(), e);
    return false;
  }

  void clear_chunk() {
    first_pass_ = true;
    copying_ = copy_always_;
    consumed_ = false;
    inputs_.clear();
    live_.clear();
    failures_.clear();
    recover_.clear();
    write_failures_ = 0;
    read_skips_.clear();
    read_skipped_at_.clear();
    process_skips_.clear();
    write_skips_.clear();
  }

  // Reads up to a chunk; true at the end of the input. Read errors are skipped or fail the step.
  bool read_chunk(step_counts& c) {
    while (static_cast<std::int64_t>(inputs_.size()) < interval_) {
      for (const auto& l : def_.read_listeners_) detail::notify(l.before_read, "before_read");
      bool got = false;
      try {
        got = reader_->read_into(inputs_);
      } catch (...) {
        const auto e = std::current_exception();
        for (const auto& l : def_.read_listeners_) detail::notify(l.on_read_error, "on_read_error", e);
        if (!ft_.skips.skippable(e)) throw;
        count_skip(c, c.read_skip, e);
        read_skips_.push_back(e);
        read_skipped_at_.push_back(inputs_.size() + read_skipped_at_.size());
        continue;
      }
      if (!got) {
        live_.assign(inputs_.size(), 1);
        return true;
      }
      for (const auto& l : def_.read_listeners_) detail::notify(l.after_read, "after_read", inputs_.back());
      ++c.read;
      // One item of the last chunk (written and committed, or dropped) is freed per item read:
      // the allocator then hands the memory just freed to the next item (its per-thread cache
      // holds a few blocks of a size), where freeing a whole chunk at once, then allocating a
      // whole chunk, overflows that cache and takes malloc's slow paths for every item.
      if (!outputs_.empty()) outputs_.pop_back();
    }
    live_.assign(inputs_.size(), 1);
    return false;
  }

  // Gives the chunk back its items after a rollback when the first pass handed them to the
  // processor: the reader is reopened at the last commit and reads the chunk again. A read that
  // failed (and was skipped) the first time is dropped whatever it returns now; an item that
  // cannot be read again fails the step, as the reader broke its promise to be repeatable.
  void restore_inputs() {
    copying_ = true;  // later passes keep the items intact
    if (!consumed_) return;
    consumed_ = false;
    reopen(*reader_, reader_open_);
    // The items are read again into an empty chunk: a pass in place leaves inputs_ empty.
    const std::size_t attempts = live_.size() + read_skipped_at_.size();
    inputs_.clear();
    std::size_t next_skip = 0;
    for (std::size_t a = 0; a < attempts; ++a) {
      const bool skipped_before = next_skip < read_skipped_at_.size() && read_skipped_at_[next_skip] == a;
      if (skipped_before) ++next_skip;
      std::optional<I> item;
      try {
        item = reader_->read();
      } catch (...) {
        if (skipped_before) continue;
        throw std::runtime_error("chunk step '" + def_.name() +
                                 "': its reader says it is repeatable, but after a rollback it failed to read an "
                                 "item of the chunk again: " + describe_exception(std::current_exception()));
      }
      if (skipped_before) continue;
      if (!item) {
        throw std::runtime_error("chunk step '" + def_.name() +
                                 "': its reader says it is repeatable, but after a rollback it ended before the "
                                 "chunk's items; make repeatable() return false");
      }
      inputs_.push_back(std::move(*item));
    }
  }

  // Closes a stream and opens it again at the context (as of the last commit, after a rollback).
  // What it buffers is flushed first: the last commit may count data still buffered.
  void reopen(item_stream& s, bool& open) {
    s.flush();
    s.close();
    open = false;
    s.open(context());
    open = true;
  }

  // Saves the reader's position into the context and shows how far it got.
  void save_reader_position() {
    reader_->update(context().context());
    if (auto* p = progress()) {
      if (auto f = reader_->fraction_done()) p->fraction = *f;
    }
  }

  // The per-item fault state, made on the chunk's first fault.
  void track_faults() {
    if (failures_.empty()) {
      failures_.assign(inputs_.size(), 0);
      recover_.assign(inputs_.size(), nullptr);
    }
  }

  // The item to hand to a processor: a copy when the chunk needs it intact, else the item.
  I processor_input(std::size_t i) {
    if constexpr (std::is_copy_constructible_v<I>) {
      if (copying_) return inputs_[i];
    }
    return std::move(inputs_[i]);
  }

  // Processes one input: a copy when the chunk needs it intact, else the item itself.
  std::optional<O> call_processor(std::size_t i) {
    if constexpr (std::is_copy_constructible_v<I>) {
      if (copying_) {
        I copy = inputs_[i];
        return call_processor_with(std::move(copy));
      }
    }
    return call_processor_with(std::move(inputs_[i]));
  }

  // The processor's result for one input, or nullopt with `error` set when it threw.
  std::optional<O> try_processor(std::size_t i, bool in_parallel, std::exception_ptr& error) {
    try {
      return in_parallel ? parallel_->take(i) : call_processor(i);
    } catch (...) {
      error = std::current_exception();
      return std::nullopt;
    }
  }

  std::optional<O> call_processor_with(I&& item) {
    if (!processor_) {
      if constexpr (std::is_convertible_v<I, O>) {
        return O(std::move(item));
      } else {
        throw std::logic_error("chunk step '" + def_.name() + "' needs a processor");
      }
    }
    return processor_(std::move(item));
  }

  // Runs the processor over the live inputs into outputs_. A failure that needs a rollback
  // throws `rollback`; one that fails the step rethrows.
  void process_pass(step_counts& c) {
    outputs_.clear();
    const bool recovering = !recover_.empty();
    if (!copying_) consumed_ = true;
    // With threads(n), a chunk's first pass processes its items on the pool up front; a pass
    // after a rollback processes sequentially, as it must call the processor item by item.
    const bool in_parallel = parallel_ && first_pass_;
    first_pass_ = false;
    if (!copying_ && !recovering && !in_parallel && !listen_process_ && (in_place_ || passes_through_)) {
      process_in_place(c);
      return;
    }
    if (in_parallel) {
      parallel_->process(
          inputs_.size(), [&](std::size_t i) { return live_[i] && !(recovering && recover_[i]); },
          [&](std::size_t i) -> I { return processor_input(i); });
    }
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      if (!live_[i]) continue;
      if (recovering && recover_[i]) {
        // Retries exhausted (or none allowed) in an earlier pass: Spring Batch's recovery skips
        // the item without calling the processor again.
        skip_in_process(c, i, recover_[i]);
        continue;
      }
      if (listen_process_) {
        for (const auto& l : def_.process_listeners_) detail::notify(l.before_process, "before_process", inputs_[i]);
      }
      std::exception_ptr error;
      std::optional<O> out = try_processor(i, in_parallel, error);
      if (error) {
        on_process_error(c, i, error);
        continue;
      }
      if (listen_process_) {
        for (const auto& l : def_.process_listeners_) {
          detail::notify(l.after_process, "after_process", inputs_[i], out);
        }
      }
      if (out) {
        outputs_.push_back(std::move(*out));
      } else {
        ++c.filter;
        live_[i] = 0;  // a filtered item is not processed again after a rollback
      }
    }
  }

  // A pass that may consume the items, with an in-place processor or none (O is I): each item
  // is processed where it is, and the chunk it was read into becomes the outputs, without moving
  // an item into a second list. inputs_ is empty after it; a rollback reads the chunk again.
  void process_in_place(step_counts& c) {
    if constexpr (std::is_same_v<I, O>) {
      std::size_t kept = 0;
      for (std::size_t i = 0; i < inputs_.size(); ++i) {
        if (!live_[i]) continue;
        bool keep = true;
        if (in_place_) {
          try {
            keep = in_place_(inputs_[i]);
          } catch (...) {
            on_process_error(c, i, std::current_exception());
            continue;
          }
        }
        if (!keep) {
          ++c.filter;
          live_[i] = 0;
          continue;
        }
        if (kept != i) inputs_[kept] = std::move(inputs_[i]);
        ++kept;
      }
      inputs_.erase(inputs_.begin() + static_cast<std::ptrdiff_t>(kept), inputs_.end());
      outputs_.swap(inputs_);
      inputs_.clear();
    }
  }

  void on_process_error(step_counts& c, std::size_t i, const std::exception_ptr& e) {
    for (const auto& l : def_.process_listeners_) {
      detail::notify(l.on_process_error, "on_process_error", inputs_[i], e);
    }
    if (ft_.no_rollback.matches(e)) {
      if (!ft_.skips.skippable(e)) {
        throw std::runtime_error("an error of a no-rollback class is not skippable (make it skippable too): " +
                                 describe_exception(e));
      }
      skip_in_process(c, i, e);
      return;
    }
    if (!keep_inputs_) std::rethrow_exception(e);
    track_faults();
    ++failures_[i];
    if (ft_.retries.can_retry(e, failures_[i])) {
      ++c.retry;
      pause(failures_[i]);
      throw rollback{e, false};
    }
    if (!ft_.skips.skippable(e)) std::rethrow_exception(e);
    recover_[i] = e;  // skipped in the next pass, after the rollback
    throw rollback{e, false};
  }

  void skip_in_process(step_counts& c, std::size_t i, const std::exception_ptr& e) {
    count_skip(c, c.process_skip, e);
    live_[i] = 0;
    process_skips_.emplace_back(i, e);
  }

  void write_outputs(step_counts& c) {
    for (const auto& l : def_.write_listeners_) detail::notify(l.before_write, "before_write", outputs_);
    writer_dirty_ = true;
    try {
      // The first write of a chunk whose write behind failed fails the same way.
      if (redo_write_error_) std::rethrow_exception(std::exchange(redo_write_error_, nullptr));
      writer_->write(outputs_);
    } catch (...) {
      const auto e = std::current_exception();
      for (const auto& l : def_.write_listeners_) detail::notify(l.on_write_error, "on_write_error", outputs_, e);
      if (!keep_inputs_) throw;
      ++write_failures_;
      if (ft_.retries.can_retry(e, write_failures_)) {
        ++c.retry;
        pause(write_failures_);
        throw rollback{e, false};
      }
      if (ft_.skips.skippable(e)) throw rollback{e, true};
      throw;
    }
    for (const auto& l : def_.write_listeners_) detail::notify(l.after_write, "after_write", outputs_);
    c.write += static_cast<std::int64_t>(outputs_.size());
  }

  // Each live item processed and written alone; a skippable write failure skips just that item.
  void scan(step_counts& c) {
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      if (!live_[i]) continue;
      for (const auto& l : def_.process_listeners_) detail::notify(l.before_process, "before_process", inputs_[i]);
      std::exception_ptr error;
      std::optional<O> out = try_processor(i, false, error);
      if (error) {
        for (const auto& l : def_.process_listeners_) {
          detail::notify(l.on_process_error, "on_process_error", inputs_[i], error);
        }
        if (!ft_.skips.skippable(error)) std::rethrow_exception(error);
        skip_in_process(c, i, error);
        continue;
      }
      for (const auto& l : def_.process_listeners_) detail::notify(l.after_process, "after_process", inputs_[i], out);
      if (!out) {
        ++c.filter;
        live_[i] = 0;
        continue;
      }
      single_.clear();
      single_.push_back(std::move(*out));
      for (const auto& l : def_.write_listeners_) detail::notify(l.before_write, "before_write", single_);
      writer_dirty_ = true;
      try {
        writer_->write(single_);
      } catch (...) {
        const auto e = std::current_exception();
        for (const auto& l : def_.write_listeners_) detail::notify(l.on_write_error, "on_write_error", single_, e);
        roll_back(c, e);
        if (!ft_.skips.skippable(e)) throw;
        count_skip(c, c.write_skip, e);
        live_[i] = 0;
        write_skips_.emplace_back(std::move(single_.front()), e);
        continue;
      }
      for (const auto& l : def_.write_listeners_) detail::notify(l.after_write, "after_write", single_);
      ++c.write;
      // This item's transaction: a failure of the next one rolls back to here.
      writer_->update(context().context());
      writer_dirty_ = false;
    }
  }

  // Undoes what the writer did since the last commit (or scanned item) by reopening it there.
  void roll_back(step_counts& c, const std::exception_ptr& cause) {
    ++c.rollback;
    restore_inputs();
    if (writer_dirty_) {
      reopen(*writer_, writer_open_);
      writer_dirty_ = false;
    }
    for (const auto& l : def_.chunk_listeners_) detail::notify(l.after_chunk_error, "after_chunk_error", context(), cause);
  }

  void count_skip(step_counts& c, std::int64_t& counter, const std::exception_ptr& e) {
    if (c.skip() >= skip_limit_) {
      throw skip_limit_exceeded("skip limit " + std::to_string(skip_limit_) +
                                " exceeded; last skippable error: " + describe_exception(e));
    }
    ++counter;
    detail::log_skip(context().step_name(), e, c.skip());
  }

  void pause(std::int64_t retry) {
    const auto d = backoff_delay(ft_.retries.pause, retry, rng_);
    if (d.count() > 0) std::this_thread::sleep_for(d);
  }

  // A skip as the skip log records it.
  struct logged_skip {
    const char* phase;
    std::exception_ptr error;
    std::optional<boost::json::value> item;
  };

  // The chunk's skips for the skip log, in the order the listeners hear them.
  void collect_skips(std::vector<logged_skip>& out) const {
    for (const auto& e : read_skips_) out.push_back({"read", e, std::nullopt});
    for (const auto& [i, e] : process_skips_) out.push_back({"process", e, detail::item_json(inputs_[i])});
    for (const auto& [o, e] : write_skips_) out.push_back({"write", e, detail::item_json(o)});
  }

  // Skip listeners, and the skips for the log in logged_, just before the commit (Spring Batch
  // calls skip listeners inside the chunk's transaction, so a rolled-back skip is not reported).
  void report_skips() {
    const auto& listeners = def_.skip_listeners_;
    for (const auto& e : read_skips_) {
      for (const auto& l : listeners) detail::notify(l.on_skip_in_read, "on_skip_in_read", e);
    }
    for (const auto& [i, e] : process_skips_) {
      for (const auto& l : listeners) detail::notify(l.on_skip_in_process, "on_skip_in_process", inputs_[i], e);
    }
    for (const auto& [o, e] : write_skips_) {
      for (const auto& l : listeners) detail::notify(l.on_skip_in_write, "on_skip_in_write", o, e);
    }
    logged_.clear();
    if (skip_log_open_) collect_skips(logged_);
  }

  // Writes skips to the skip log and its size into `ctx`, before the commit that counts them.
  void log_skips(const std::vector<logged_skip>& skips, execution_context& ctx) {
    if (!skip_log_open_) return;
    for (const auto& s : skips) skip_log_.add(s.phase, s.error, s.item ? &*s.item : nullptr);
    skip_log_.update(ctx);
  }

  static void close_quietly(item_stream& s) noexcept {
    try {
      s.close();
    } catch (...) {  // NOLINT(bugprone-empty-catch): closing after the outcome is decided
    }
  }

  const chunk_step& def_;
  const fault_tolerance& ft_;
  const state_store& store_;
  std::int64_t skip_limit_;
  std::int64_t interval_;
  bool keep_inputs_;     // skip or retry: a rollback may process the chunk again
  bool listen_process_;  // process listeners, which see each item after the processor
  bool copy_always_ = false;  // every pass copies: the items cannot be read again, or must stay intact
  std::mt19937_64 rng_;  // backoff jitter
  std::unique_ptr<item_reader<I>> reader_;
  process_fn processor_;
  in_place_fn in_place_;  // process_in_place(): processor_ calls it
  bool passes_through_ = false;  // no processor and O is I: items pass through in place
  std::unique_ptr<detail::parallel_process<I, O>> parallel_;  // set with threads(n > 1)
  bool first_pass_ = true;
  bool copying_ = false;   // this pass hands the processor copies
  bool consumed_ = false;  // the processor took items themselves: a rollback must read them again
  std::unique_ptr<item_writer<O>> writer_;
  bool reader_open_ = false;
  bool writer_open_ = false;
  bool writer_dirty_ = false;  // written since the last commit or scanned item
  kiln::skip_log skip_log_;
  bool skip_log_open_ = false;

  // The current chunk. Per input: still to process (live_), and from its first fault on, failed
  // attempts and the error to recover from (skip) in the next pass.
  chunk<I> inputs_;
  std::vector<char> live_;
  std::vector<std::int64_t> failures_;
  std::vector<std::exception_ptr> recover_;
  std::int64_t write_failures_ = 0;
  chunk<O> outputs_;
  chunk<O> single_;
  std::vector<std::exception_ptr> read_skips_;
  std::vector<std::size_t> read_skipped_at_;  // which read attempts of the chunk were skipped
  std::vector<std::pair<std::size_t, std::exception_ptr>> process_skips_;
  std::vector<std::pair<O, std::exception_ptr>> write_skips_;
  std::vector<logged_skip> logged_;

  // Write-behind (write_behind()): the chunk in hand is the handoff thread's until wait_behind().
  struct chunk_in_hand {
    chunk<O> outputs;
    step_counts counts;
    execution_context context;
    std::vector<logged_skip> skips;
    std::exception_ptr write_error;
  };
  bool behind_ = false;
  step_counts ahead_;  // the counts once the chunk in hand is committed
  chunk_in_hand in_hand_;
  std::exception_ptr redo_write_error_;  // a write behind failed: the first write in line fails so
  std::unique_ptr<handoff_thread> handoff_;  // last: it stops before the members its task uses
};

template <class I, class O>
std::unique_ptr<step_worker> chunk_step<I, O>::make_worker(step_context ctx, command_log& log,
                                                          std::shared_ptr<run_progress> progress) const {
  return std::make_unique<worker>(*this, std::move(ctx), log, std::move(progress));
}

}  // namespace kiln
