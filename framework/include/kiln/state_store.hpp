#pragma once
// The state store: a RocksDB folder holding the model (instances, executions, step executions,
// contexts) in column families, changed only by applying commands. apply() is the state machine:
// deterministic, one atomic WriteBatch per command, the applied-command index stored in the same
// batch. Queries read the committed state and may run on any thread.

#include <kiln/command.hpp>
#include <kiln/error.hpp>
#include <kiln/records.hpp>
#include <kiln/schedule.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

enum class store_access {
  read_write,  // takes the data-dir lock: this process owns every running execution in it
  read_only,   // no lock; sees what owners have committed up to the moment of opening
};

struct execution_filter {
  std::optional<std::string> job;       // Default: all jobs
  std::optional<batch_status> status;   // Default: any status
  std::optional<std::int64_t> since;    // created at or after (ms since epoch). Default: no bound
  std::optional<std::int64_t> until;    // created before (ms since epoch). Default: no bound
  std::optional<std::int64_t> before;   // ids below this one (the next page). Default: from the newest
  std::size_t limit = 0;                // Default: 0 = all, newest first
};

class state_store {
 public:
  // Opens (and in read_write mode creates) the data directory. A read_write open fails with
  // data_dir_locked while another process owns the directory.
  static expected<std::unique_ptr<state_store>> open(const std::filesystem::path& dir,
                                                     store_access access);
  ~state_store();
  state_store(const state_store&) = delete;
  state_store& operator=(const state_store&) = delete;

  // Applies one command. `sync` makes the write durable before returning; with sync=false the
  // write is durable once a later synced write returns (the WAL is synced as a whole).
  // Not thread-safe against other apply() calls: one applier at a time.
  [[nodiscard]] expected<apply_result> apply(const command& cmd, bool sync = true);
  // For an applier that syncs on another thread: write_wal() hands the writes of every apply() so
  // far to the operating system (same thread as apply()); sync_wal() then makes all that was
  // handed over durable, and may run on another thread while apply() goes on.
  [[nodiscard]] expected<void> write_wal();
  [[nodiscard]] expected<void> sync_wal();

  // Number of commands applied so far (the Raft index, later).
  [[nodiscard]] std::uint64_t applied_index() const;

  [[nodiscard]] expected<job_execution_record> execution(std::int64_t id) const;
  [[nodiscard]] std::vector<job_execution_record> executions(const execution_filter& f = {}) const;
  // Executions marked STARTING, STARTED or STOPPING.
  [[nodiscard]] std::vector<std::int64_t> running_execution_ids() const;
  // Executions waiting in queues, in the order a node claims them (priority, then submission).
  [[nodiscard]] std::vector<job_execution_record> queued(std::size_t limit = 0) const;
  [[nodiscard]] std::size_t queue_depth() const;
  // Whether a claim at `now` (ms since epoch) may find a queued execution as far as not_before
  // goes (served queues and concurrency limits may still hold it back), and the earliest
  // not_before after `now`: when a waiting execution becomes claimable.
  [[nodiscard]] bool queue_claimable(std::int64_t now) const;
  [[nodiscard]] std::optional<std::int64_t> queue_next_not_before(std::int64_t now) const;
  // Number of executions in each status (every status present, zero included).
  [[nodiscard]] std::vector<std::pair<batch_status, std::int64_t>> status_counts() const;
  [[nodiscard]] std::vector<job_execution_record> instance_executions(std::int64_t instance_id) const;
  [[nodiscard]] std::optional<job_instance_record> instance(std::int64_t id) const;
  [[nodiscard]] std::vector<step_execution_record> step_executions(std::int64_t execution_id) const;
  [[nodiscard]] expected<step_execution_record> step_execution(std::int64_t id) const;
  [[nodiscard]] execution_context step_context(std::int64_t step_execution_id) const;
  [[nodiscard]] const std::filesystem::path& dir() const;

  // Schedules, by name.
  [[nodiscard]] std::vector<schedule_record> schedules() const;
  [[nodiscard]] expected<schedule_record> schedule(const std::string& name) const;
  // What became of a schedule's slot ("fired", "skipped_misfire", ...), or nullopt if it was never
  // decided under that run key.
  // The number of schedules' fire records decided before `time` (what purge_cmd would delete).
  [[nodiscard]] std::int64_t fire_records_before(std::int64_t time) const;
  [[nodiscard]] std::optional<std::string> fire_outcome_of(const std::string& schedule, std::int64_t slot,
                                                           std::int64_t version) const;

  // Every key/value of every column family, in order; for determinism tests.
  [[nodiscard]] std::string dump() const;

  struct impl;

 private:
  explicit state_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace kiln
