#pragma once
// The run-time side of a step: one object per step execution, created by a step definition.
// Its owner (the step actor, or run_job on one thread) calls open(), then run_once() until it
// returns something other than `continuing`, then finish(). run_once() does one unit of work --
// one chunk or one tasklet call -- and hands its commit to the command log without waiting for
// the disk; at most a few commits are in flight, and finish() waits for all of them.
// request_stop() may be called from any thread; the step stops at the next chunk boundary, as it
// does when its step_context reports a stop of the whole execution.

#include <kiln/batch_status.hpp>
#include <kiln/command_log.hpp>
#include <kiln/listeners.hpp>
#include <kiln/progress.hpp>
#include <kiln/records.hpp>
#include <kiln/step_context.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

namespace kiln {

enum class step_outcome { continuing, completed, failed, stopped };

// Pipelines the commits of one step execution: at most `max_in_flight` proposals outstanding.
// Commits that follow each other within `hold_time` are held and folded, up to `hold_max` and
// none held longer than `hold_age`: the lot's last commit carries the counts and context of all
// of them, so it alone goes to the log -- one command to apply and one fsync for the lot, where
// each would otherwise cost its own (on a virtual machine a wake-up of another CPU is dear). A
// commit is held only while commits come that fast, so a checkpoint is proposed at the latest
// when the next chunk commits; a restart after a crash may redo the held
// chunks, exactly as it redoes chunks whose commits were proposed but not yet durable.
class step_committer {
 public:
  step_committer(command_log& log, std::int64_t step_execution_id, std::size_t max_in_flight = 128,
                 std::size_t hold_max = 64, std::chrono::microseconds hold_time = std::chrono::milliseconds(2),
                 std::chrono::microseconds hold_age = std::chrono::milliseconds(25));
  // Proposes a commit (or holds it, see above); fails if an earlier commit failed.
  expected<void> commit(const step_counts& counts, const execution_context& context);
  // Proposes the commit held back (standing for all held), without waiting.
  expected<void> hand_over();
  // Proposes what is held and waits for every outstanding commit.
  expected<void> drain();

  // Called before held commits go to the log (item_stream::flush: the data their contexts count
  // must survive the process first). When it throws, the held commits are dropped and the
  // exception propagates from commit() or hand_over().
  void before_hand_over(std::function<void()> flush) { flush_ = std::move(flush); }
  // The counts and context of the last commit handed to the log; nullopt before the first.
  struct handed_commit {
    step_counts counts;
    execution_context context;
  };
  [[nodiscard]] const std::optional<handed_commit>& last_handed() const { return last_handed_; }

 private:
  expected<void> settle(std::size_t keep);
  std::function<void()> flush_;
  std::optional<handed_commit> last_handed_;
  command_log& log_;
  std::int64_t step_execution_id_;
  std::size_t max_in_flight_;
  std::size_t hold_max_;
  std::chrono::steady_clock::duration hold_time_;
  std::chrono::steady_clock::duration hold_age_;
  std::optional<commit_chunk_cmd> held_;  // the last commit held back
  std::size_t held_count_ = 0;            // commits it stands for
  std::chrono::steady_clock::time_point last_commit_{};
  std::chrono::steady_clock::time_point held_since_{};  // when the oldest held commit was made
  std::deque<std::future<expected<apply_result>>> in_flight_;
};

class step_worker {
 public:
  step_worker(step_context ctx, command_log& log, std::shared_ptr<run_progress> progress);
  virtual ~step_worker() = default;
  step_worker(const step_worker&) = delete;
  step_worker& operator=(const step_worker&) = delete;

  // Opens the step's streams. A failure makes the step FAILED (finish() records it).
  bool open();
  // One chunk or tasklet call, committed (asynchronously).
  step_outcome run_once();
  // Drains commits, closes streams, records the end of the step execution; returns its status.
  std::pair<batch_status, exit_status> finish(step_outcome outcome);

  void request_stop() { stop_requested_ = true; }
  // Step listeners (the step definition's, added by job_run before open()).
  void add_listener(step_listener l) { listeners_.push_back(std::move(l)); }
  [[nodiscard]] const step_counts& counts() const { return counts_; }
  [[nodiscard]] step_context& context() { return ctx_; }

 protected:
  virtual void do_open() = 0;       // may throw
  virtual step_outcome do_run_once() = 0;  // may throw; calls commit()
  virtual void do_close() = 0;      // must not throw
  // Finishes work still in hand before the step ends (a chunk being written behind); may throw,
  // which fails the step.
  virtual void do_drain() {}
  // Hands buffered data of the step's writers over before their checkpoints go to the log
  // (item_stream::flush); may throw, which drops the checkpoints not yet handed over.
  virtual void do_flush() {}
  // Commits `counts` (the commit count is incremented here) and the current context, which the
  // caller has updated from its streams, asynchronously.
  void commit(step_counts counts);
  // The same with a copy of the context taken earlier (a chunk written behind); callable from
  // another thread than the step's, as long as the step's thread does not commit meanwhile.
  void commit(step_counts counts, const execution_context& context);
  // The context as of the last commit.
  [[nodiscard]] const execution_context& committed_context() const { return committed_context_; }
  void fail(std::string why, errc code = errc::step_failed);
  // The same from an error: an io_error is errc::io, a skip_limit_exceeded its own code.
  void fail(const std::exception_ptr& e);
  [[nodiscard]] run_progress* progress() { return progress_.get(); }
  // Set once a stop was requested; for steps that pass it on (a job step to its child job).
  [[nodiscard]] const std::atomic<bool>& stop_flag() const { return stop_requested_; }
  // Counts of a unit of work that failed before its commit: the rollbacks and retries it made
  // are added to the step execution's counts when the step ends (read/write counts are not: they
  // stay as of the last commit, the point a restart resumes from).
  void note_uncommitted(const step_counts& c) { uncommitted_ = c; }

 private:
  // After a failed flush: the counts and context go back to the last commit handed to the log.
  void forget_held_commits();
  step_context ctx_;
  command_log& log_;
  std::shared_ptr<run_progress> progress_;
  step_committer committer_;
  step_counts counts_;                  // as of the last commit
  execution_context committed_context_;  // as of the last commit
  execution_context start_context_;      // as the step execution started
  std::atomic<bool> stop_requested_{false};
  std::optional<error> failure_;
  bool opened_ = false;
  std::vector<step_listener> listeners_;
  std::optional<step_counts> uncommitted_;
};

}  // namespace kiln
