#pragma once
// The scheduler's policy logic, without actors or clocks: given the committed schedules and `now`,
// which fire commands to propose. The scheduler actor owns one, feeds it committed state after
// every applied batch, and sets its single timer to next_due(). Because due slots come only from
// committed state (each schedule's last_slot) and the state machine drops a duplicate run key, a
// proposer that crashes, restarts or proposes twice never fires a slot twice.
// Not thread-safe: one owner.

#include <kiln/command.hpp>
#include <kiln/job.hpp>
#include <kiln/schedule.hpp>
#include <kiln/trigger.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kiln {

// The execution a firing of `s` at `slot` creates: the schedule's parameters with `{schedule}` and
// `{scheduled_time}` (ISO-8601 UTC) substituted, typed against the job's specs, plus the identifying
// timestamp `scheduled_time` (so every slot is its own job instance), queue, priority and run key.
// Errors name the schedule and the problem (unknown job, bad parameter).
expected<create_execution_cmd> build_firing(const registry& jobs, const schedule_record& s, std::int64_t slot,
                                            std::int64_t now);

// Checks a definition against the registered jobs (the job exists, its parameters validate with
// sample values for the placeholders), the trigger (cron fields, zone, duration, instant) and the
// policies; errors name the field and the fix. `now` anchors an interval without a start and
// refuses a one-shot time already past.
expected<schedule_record> make_schedule(const registry& jobs, const schedule_definition& d, std::int64_t now);

// Manual firings of `slots` (trigger now, backfill), each through `overlap` as if the slots came
// one after another; `previous_runs` says whether the schedule's last execution still runs.
std::vector<fire_cmd> plan_manual(const registry& jobs, const schedule_record& s, const std::vector<std::int64_t>& slots,
                                  overlap_policy overlap, bool previous_runs, std::int64_t now);

// The delay added to a slot: a deterministic function of (schedule, slot) in [0, jitter_ms), so
// every proposer (and every retry) picks the same instant.
std::int64_t jitter_of(const schedule_record& s, std::int64_t slot);

// The trigger of a schedule, validated (a bad cron expression or zone is an error naming it).
expected<trigger> trigger_of(const schedule_record& s);

// The next `n` nominal slots of `s` after max(now, last_slot), and before them the slots fired
// ahead whose instant is after `now`; none while paused.
std::vector<std::int64_t> upcoming_slots(const schedule_record& s, std::int64_t now, std::size_t n);

// Nominal slots of `s` in [from, to], at most `limit`.
expected<std::vector<std::int64_t>> slots_between(const schedule_record& s, std::int64_t from, std::int64_t to,
                                                  std::size_t limit);

// How fast the owner's log records firings, for firing ahead of the slot: when many slots share an
// instant, recording them all takes time, so each is proposed early enough to be durable by its
// instant. The k-th slot coming up (in due order, counting from 1) is proposed lead(k) before its
// instant, and its execution may not be claimed before that instant (not_before), so running
// starts no earlier than without firing ahead. A lone slot is proposed only a few ms early.
struct fire_pace {
  double per_ms = 5.0;            // firings the log records per ms. Default: 5 (5,000/s)
  std::int64_t latency_ms = 10;   // from proposal to durable for a lone firing. Default: 10 ms
  std::int64_t max_lead_ms = 0;   // never further ahead than this. Default: 0 (never ahead)
  // min(max_lead_ms, 2 x latency + 2 x k / per_ms): twice the measured cost, for a loaded machine.
  [[nodiscard]] std::int64_t lead(std::size_t k) const;
};

struct scheduler_core_options {
  std::size_t max_batch = 500;           // fire commands per due() call. Default: 500
  std::size_t max_slots_per_pass = 100000;  // slots one schedule enumerates per call. Default: 100000
};

class scheduler_core {
 public:
  // What the core asks of its owner.
  struct environment {
    // The execution a firing creates (see build_firing); an error is recorded with the slot.
    std::function<expected<create_execution_cmd>(const schedule_record&, std::int64_t slot, std::int64_t now)>
        build;
    // Whether an execution is running or queued (STARTING, STARTED, STOPPING) in committed state.
    std::function<bool(std::int64_t execution_id)> running;
  };

  explicit scheduler_core(environment env, scheduler_core_options options = {});

  // Committed state: every schedule (load), or one that changed (put) or is gone (forget).
  void load(const std::vector<schedule_record>& all);
  void put(const schedule_record& s);
  void forget(const std::string& name);

  // The fire commands due at `now`, schedules with the earliest due slot first, at most
  // max_batch. Per schedule: a buffered slot is released once the previous run ended; missed slots
  // go through the misfire policy, then each slot through the overlap policy. Schedules in `skip`
  // (proposed, not yet committed) are left out.
  [[nodiscard]] std::vector<fire_cmd> due(std::int64_t now, const std::set<std::string>& skip = {}) const {
    return due(now, now, skip);
  }
  // The same, also firing ahead the slots whose instant (slot + jitter) is after `now` but at or
  // before `until` (see horizon()). A slot fired ahead creates its execution with not_before = its
  // instant; it is never a misfire. Its overlap decision must not depend on when it is taken: under
  // `allow` every such slot fires ahead; under any other policy only the schedule's next slot, and
  // only while no previous run is running or queued, nothing is buffered and no other slot of the
  // schedule is decided in the same pass. Otherwise the slot waits for its instant.
  [[nodiscard]] std::vector<fire_cmd> due(std::int64_t now, std::int64_t until,
                                          const std::set<std::string>& skip) const;

  // When due() next has work (ms since epoch): the earliest slot plus jitter over all schedules
  // that are not paused; nullopt when nothing will ever fire. Buffered slots wait for an execution
  // to end, which the owner learns of separately (waiting() says whether any wait).
  [[nodiscard]] std::optional<std::int64_t> next_due() const;

  // Firing ahead. horizon(): the `until` for due() at `now`: the latest instant among the slots
  // coming up that must be proposed by `now` at `pace` (at least `now`). next_wake(): when that
  // next covers a slot (at most next_due()); the owner's timer. With max_lead_ms 0 they are `now`
  // and next_due().
  [[nodiscard]] std::int64_t horizon(std::int64_t now, const fire_pace& pace) const;
  [[nodiscard]] std::optional<std::int64_t> next_wake(const fire_pace& pace) const;
  [[nodiscard]] bool waiting() const { return !buffered_.empty(); }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

  // The commands of one schedule's due slots (the unit of due()); `until` as for due().
  [[nodiscard]] std::vector<fire_cmd> plan(const schedule_record& s, const trigger& t, std::int64_t now) const {
    return plan(s, t, now, now);
  }
  [[nodiscard]] std::vector<fire_cmd> plan(const schedule_record& s, const trigger& t, std::int64_t now,
                                           std::int64_t until) const;

 private:
  struct entry {
    schedule_record record;
    std::optional<trigger> trig;
    std::optional<std::int64_t> due_at;  // next slot + jitter
  };
  void index(const std::string& name);
  void unindex(const std::string& name);
  // Whether the schedule's next slot may fire ahead: its overlap decision cannot change before
  // the slot's instant (see due()).
  [[nodiscard]] bool may_fire_ahead(const schedule_record& s) const;
  bool previous_runs(const schedule_record& s) const;
  // Walks the slots coming up in due order with the instant by which each must be proposed;
  // `visit(due_at, propose_by)` returns false to stop.
  template <class Visit>
  void walk_ahead(const fire_pace& pace, Visit visit) const;

  environment env_;
  scheduler_core_options options_;
  std::map<std::string, entry> entries_;
  std::set<std::pair<std::int64_t, std::string>> by_due_;
  std::set<std::string> buffered_;  // schedules with buffered slots
};

}  // namespace kiln
