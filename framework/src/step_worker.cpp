#include <kiln/exceptions.hpp>
#include <kiln/step.hpp>
#include <kiln/step_worker.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace kiln {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// True once the execution was ended by someone else (killed, abandoned): from then on its commands
// are refused (fencing), which is how a kill reaches a running step, not an error of the step.
// The node logs the kill once, when the execution ends.
bool ended_elsewhere(const command_log& log, std::int64_t execution_id) {
  auto e = log.state().execution(execution_id);
  return e && !is_running(e->status);
}

}  // namespace

step_committer::step_committer(command_log& log, std::int64_t step_execution_id, std::size_t max_in_flight,
                               std::size_t hold_max, std::chrono::microseconds hold_time,
                               std::chrono::microseconds hold_age)
    : log_(log),
      step_execution_id_(step_execution_id),
      max_in_flight_(max_in_flight),
      hold_max_(std::max<std::size_t>(1, std::min(hold_max, max_in_flight))),
      hold_time_(hold_time),
      hold_age_(hold_age) {}

expected<void> step_committer::settle(std::size_t keep) {
  while (in_flight_.size() > keep) {
    auto r = in_flight_.front().get();
    in_flight_.pop_front();
    if (!r) {
      // A refused or failed commit makes every later one moot.
      while (!in_flight_.empty()) {
        (void)in_flight_.front().get();
        in_flight_.pop_front();
      }
      return std::unexpected(r.error());
    }
  }
  return {};
}

expected<void> step_committer::commit(const step_counts& counts, const execution_context& context) {
  const auto now = std::chrono::steady_clock::now();
  const bool fast = now - last_commit_ < hold_time_;
  last_commit_ = now;
  if (held_count_ == 0) held_since_ = now;
  held_ = commit_chunk_cmd{step_execution_id_, counts, context, now_ms()};
  ++held_count_;
  if (fast && held_count_ < hold_max_ && now - held_since_ < hold_age_) return {};
  return hand_over();
}

expected<void> step_committer::hand_over() {
  if (!held_) return {};
  auto drop = [this] {
    held_.reset();
    held_count_ = 0;
  };
  if (auto r = settle(max_in_flight_ - 1); !r) {
    drop();
    return r;
  }
  if (flush_) {
    try {
      flush_();
    } catch (...) {
      drop();
      throw;
    }
  }
  last_handed_ = handed_commit{held_->counts, held_->context};
  // The lot's last commit carries the counts and the context of every commit before it (both are
  // cumulative), so it alone goes to the log: one command to apply, and later to replicate,
  // instead of one per chunk.
  in_flight_.push_back(log_.propose_async(std::move(*held_)));
  drop();
  return {};
}

expected<void> step_committer::drain() {
  if (auto r = hand_over(); !r) return r;
  return settle(0);
}

step_worker::step_worker(step_context ctx, command_log& log, std::shared_ptr<run_progress> progress)
    : ctx_(std::move(ctx)),
      log_(log),
      progress_(std::move(progress)),
      committer_(log, ctx_.step_execution_id()),
      committed_context_(ctx_.context()),
      start_context_(ctx_.context()) {
  committer_.before_hand_over([this] { do_flush(); });
}

bool step_worker::open() {
  try {
    for (const auto& l : listeners_) detail::notify(l.before_step, "before_step", ctx_);
    do_open();
    opened_ = true;
    return true;
  } catch (const std::exception& e) {
    fail(e.what(), dynamic_cast<const io_error*>(&e) ? errc::io : errc::step_failed);
  } catch (...) {
    fail("unknown error while opening the step");
  }
  return false;
}

step_outcome step_worker::run_once() {
  if (failure_) return step_outcome::failed;
  if (stop_requested_ || ctx_.stop_requested()) return step_outcome::stopped;
  try {
    return do_run_once();
  } catch (...) {
    fail(std::current_exception());
  }
  return step_outcome::failed;
}

void step_worker::fail(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const skip_limit_exceeded& x) {
    fail(x.what(), errc::skip_limit_exceeded);
  } catch (const io_error& x) {
    fail(x.what(), errc::io);
  } catch (const std::exception& x) {
    fail(x.what(), errc::step_failed);
  } catch (...) {
    fail("unknown error");
  }
}

void step_worker::commit(step_counts counts) { commit(counts, ctx_.context()); }

void step_worker::commit(step_counts counts, const execution_context& context) {
  counts.commit = counts_.commit + 1;
  expected<void> r;
  try {
    r = committer_.commit(counts, context);
  } catch (...) {
    forget_held_commits();
    throw;
  }
  if (!r) throw std::runtime_error("checkpoint failed: " + r.error().message());
  counts_ = counts;
  committed_context_ = context;
  if (progress_) {
    progress_->read = counts.read;
    progress_->written = counts.write;
    progress_->filtered = counts.filter;
    progress_->skipped = counts.skip();
    progress_->commits = counts.commit;
  }
}

void step_worker::fail(std::string why, errc code) {
  if (!failure_) {
    if (ended_elsewhere(log_, ctx_.job_execution_id())) {
      spdlog::debug("step '{}' of execution {} ends: its execution was ended elsewhere ({})", ctx_.step_name(),
                    ctx_.job_execution_id(), why);
    } else {
      spdlog::error("step '{}' of execution {} failed: {}", ctx_.step_name(), ctx_.job_execution_id(), why);
    }
    failure_ = error(code, std::move(why));
  }
}

void step_worker::forget_held_commits() {
  if (const auto& h = committer_.last_handed()) {
    counts_ = h->counts;
    committed_context_ = h->context;
  } else {
    counts_ = step_counts{};
    committed_context_ = start_context_;
  }
}

std::pair<batch_status, exit_status> step_worker::finish(step_outcome outcome) {
  if (opened_) {
    try {
      do_drain();
    } catch (...) {
      fail(std::current_exception());
      outcome = step_outcome::failed;
    }
  }
  // The held commits go to the log while the streams are open: their data is flushed first.
  expected<void> handed;
  try {
    handed = committer_.hand_over();
  } catch (...) {
    forget_held_commits();
    fail(std::current_exception());
    outcome = step_outcome::failed;
  }
  do_close();
  batch_status status = batch_status::completed;
  exit_status exit = exit_status::completed();
  if (failure_ || outcome == step_outcome::failed) {
    status = batch_status::failed;
    exit = exit_status::failed(failure_ ? failure_->message() : "step failed");
    if (const auto& custom = ctx_.custom_exit_status()) exit.code = custom->code;
    if (uncommitted_) {
      counts_.rollback += std::max<std::int64_t>(0, uncommitted_->rollback - counts_.rollback);
      counts_.retry += std::max<std::int64_t>(0, uncommitted_->retry - counts_.retry);
    }
    ++counts_.rollback;
  } else if (outcome == step_outcome::stopped) {
    status = batch_status::stopped;
    exit = exit_status::stopped("stopped on request after " + std::to_string(counts_.commit) + " commits");
  } else if (const auto& custom = ctx_.custom_exit_status()) {
    exit = *custom;
  }
  for (const auto& l : listeners_) {
    if (!l.after_step) continue;
    try {
      if (auto changed = l.after_step(ctx_, step_result{status, exit, counts_})) exit = combine_exit(exit, *changed);
    } catch (const std::exception& e) {
      // Spring Batch fails the step when an after-step callback throws.
      status = batch_status::failed;
      exit = exit_status::failed(std::string("listener after_step failed: ") + e.what());
      spdlog::error("step '{}' of execution {} failed: {}", ctx_.step_name(), ctx_.job_execution_id(), exit.description);
    } catch (...) {
      status = batch_status::failed;
      exit = exit_status::failed("listener after_step failed: unknown error");
    }
  }
  // end_step follows the commits still in flight without waiting for them, so one group (one
  // fsync) usually makes them all durable. The log applies them in order, and it refuses a commit
  // only when the step or its execution no longer runs (fenced), or when the store fails: then it
  // refuses end_step too, so end_step never records an end that a refused commit contradicts.
  auto end = log_.propose_async(
      end_step_cmd{ctx_.step_execution_id(), status, exit, counts_, committed_context_, now_ms()});
  const auto drained = handed ? committer_.drain() : handed;
  if (!drained) fail("checkpoint failed: " + drained.error().message(), drained.error().code());
  auto r = end.get();
  if (r && !drained) return {batch_status::failed, exit_status::failed(failure_->message())};
  if (!r) {
    if (!ended_elsewhere(log_, ctx_.job_execution_id())) {
      spdlog::error("could not record the end of step '{}': {}", ctx_.step_name(), r.error().describe());
    }
    return {batch_status::failed, exit_status::failed(r.error().message())};
  }
  return {status, exit};
}

}  // namespace kiln
