#pragma once
// Schedules: a job run on a trigger's slots, with the policies that decide what happens to a slot
// that comes late (misfire) or while the previous run still runs (overlap). A schedule is durable
// state: the schedule commands in command.hpp create and change it, and fire_cmd records what became
// of each slot, keyed by its run key (schedule, nominal slot, schedule version) so that no slot fires
// twice.

#include <kiln/error.hpp>
#include <kiln/trigger.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// What to do with slots whose time passed more than misfire_threshold_ms ago (the node was down
// or busy): fire the latest once now, fire each (oldest first, at most max_catchup), or drop them.
enum class misfire_policy { fire_once_now, fire_all, skip };
// What to do with a slot while the schedule's previous execution still runs (Temporal's set):
// run it anyway, drop it, keep one (or every) slot to run when the previous ends, or kill the
// previous and run the new one.
enum class overlap_policy { allow, skip, buffer_one, buffer_all, cancel_running };

enum class fire_outcome { fired, skipped_misfire, skipped_overlap, buffered };

std::string_view to_string(misfire_policy p);
std::string_view to_string(overlap_policy p);
// Accepts the names above; overlap also Kubernetes' Allow, Forbid (= skip) and Replace (= cancel_running).
expected<misfire_policy> parse_misfire_policy(std::string_view text);
expected<overlap_policy> parse_overlap_policy(std::string_view text);
std::string_view to_string(fire_outcome o);
std::optional<fire_outcome> parse_fire_outcome(std::string_view text);

struct schedule_counts {
  std::int64_t fired = 0;              // executions created by the schedule (trigger and backfill too)
  std::int64_t misfired_skipped = 0;   // slots dropped by the misfire policy
  std::int64_t misfired_fired = 0;     // slots fired late (beyond the threshold)
  std::int64_t overlap_skipped = 0;    // slots dropped because the previous run still ran
  std::int64_t buffered = 0;           // slots that waited for the previous run
  std::int64_t cancelled_running = 0;  // previous runs killed by cancel_running
  std::int64_t failed = 0;             // slots whose execution could not be created (see last_error)
  std::int64_t withdrawn = 0;          // firings recorded ahead of their slot, withdrawn by a pause,
                                       // update or delete before the slot came (not in `fired`)
  friend bool operator==(const schedule_counts&, const schedule_counts&) = default;
};

// A firing recorded ahead of its slot (see docs/scheduler.md, "Firing ahead"): its execution waits
// in its queue until not_before. Kept in the schedule until that instant passes, so that a pause,
// update or delete before it can withdraw the firing.
struct early_firing {
  std::int64_t slot = 0;
  std::int64_t not_before = 0;  // the slot's instant (slot + jitter)
  std::int64_t execution_id = 0;
  std::int64_t last_slot_before = 0;  // the schedule's last_slot before this firing was recorded
  friend bool operator==(const early_firing&, const early_firing&) = default;
};

struct schedule_record {
  // The definition (create and update set it).
  std::string name;
  std::string job;
  trigger_spec trigger;
  std::string every;                         // the interval as the user wrote it ("5m"); interval only
  std::int64_t jitter_ms = 0;                // Default: 0. Each slot fires up to this much later
  misfire_policy misfire = misfire_policy::fire_once_now;  // Default: fire_once_now
  std::int64_t max_catchup = 100;            // Default: 100. fire_all fires at most this many missed slots
  std::int64_t misfire_threshold_ms = 60000;  // Default: 60 s. Later than this, a slot has misfired
  overlap_policy overlap = overlap_policy::allow;  // Default: allow
  std::int64_t priority = 0;                 // Default: 0
  std::string queue = "default";             // Default: "default"
  std::vector<std::string> parameters;       // "name=value"; values may hold {schedule} and {scheduled_time}

  // Kept by the state machine.
  std::int64_t version = 0;        // 1 at creation, +1 on each update
  std::int64_t created_time = 0;
  std::int64_t updated_time = 0;
  bool paused = false;
  std::string pause_note;
  std::int64_t last_slot = 0;      // every slot up to here is decided (fired, skipped or buffered)
  std::int64_t last_fire_time = 0;  // when the last execution was created (0 = never)
  std::int64_t last_fire_slot = 0;  // the slot it served
  std::int64_t last_execution_id = 0;
  std::vector<std::int64_t> buffered;  // slots waiting for the previous run to end, oldest first
  std::vector<early_firing> early;     // firings recorded ahead of their slot, until it has come
  std::string last_error;
  schedule_counts counts;
};

// A schedule as a user writes it (REST body, CLI flags, C++ API); make_schedule() checks it and
// turns it into a schedule_record. Times are ISO-8601 ("2026-12-01T02:00:00Z", or local in
// time_zone without an offset), durations like "90s", "5m", "1h30m".
struct schedule_definition {
  std::string name;                    // 1-64 letters, digits, '_', '.', '-'
  std::string job;
  std::string cron;                    // exactly one of cron, every, at
  std::string every;
  std::string at;
  std::string time_zone = "UTC";       // Default: UTC
  std::string start;                   // Default: none (interval: anchored at a multiple of it)
  std::string end;                     // Default: none
  std::string jitter;                  // Default: none
  std::string misfire = "fire_once_now";  // Default: fire_once_now
  std::int64_t max_catchup = 100;      // Default: 100
  std::int64_t misfire_threshold_ms = 60000;  // Default: 60 s
  std::string overlap = "allow";       // Default: allow
  std::int64_t priority = 0;           // Default: 0
  std::string queue = "default";       // Default: "default"
  std::vector<std::string> parameters;  // "name=value"; may use {schedule} and {scheduled_time}
};

boost::json::value to_json(const schedule_record& s);
expected<schedule_record> schedule_from_json(const boost::json::value& v);

// "nightly@2026-12-01T02:00:00Z#3": the run key an execution created by a firing carries.
std::string run_key(std::string_view schedule, std::int64_t slot, std::int64_t version);

}  // namespace kiln
