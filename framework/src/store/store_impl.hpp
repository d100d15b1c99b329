#pragma once
// Private: the state store's RocksDB handles and helpers, shared by the query and apply sides.

#include <kiln/records.hpp>
#include <kiln/state_store.hpp>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln {

// Ids are stored as 8-byte big-endian keys so that RocksDB's order is numeric order.
std::string key_of(std::int64_t id);
std::int64_t id_of(std::string_view key);
// Orders the queue: priority descending, then execution id (submission order) ascending.
std::string queue_key(std::int64_t priority, std::int64_t execution_id);
std::string running_job_key(const std::string& job, std::int64_t execution_id);

struct state_store::impl {
  enum family : std::size_t {
    meta,                 // counters and the applied index
    instances,            // instance id -> job_instance_record
    instance_keys,        // job name '\0' identifying key -> instance id
    executions,           // execution id -> job_execution_record
    instance_executions,  // instance id + execution id -> ""
    step_executions,      // step execution id -> step_execution_record
    execution_steps,      // execution id + step execution id -> ""
    contexts,             // step execution id -> execution context (JSON)
    running,              // execution id -> "" while STARTING, STARTED or STOPPING
    queue,                // queue_key(priority, execution id) -> queue_entry JSON, while queued
    running_jobs,         // job name '\0' execution id -> "" while claimed (or run at once) and running
    schedules,            // schedule name -> schedule_record JSON
    fires,                // schedule name '\0' slot version -> what became of that slot (JSON)
  };
  static const std::vector<std::string>& family_names();

  struct handle_deleter {
    void operator()(rocksdb::ColumnFamilyHandle*) const {}  // destroyed through the DB
  };

  std::filesystem::path dir;
  bool read_only = false;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle, handle_deleter>> cf;

  // Mirrors of the counters in `meta`; changed only by apply().
  std::uint64_t applied = 0;
  std::int64_t last_instance = 0;
  std::int64_t last_execution = 0;
  std::int64_t last_step_execution = 0;

  // In-memory mirrors of the `queue` and `running_jobs` families. Both see constant inserts and
  // deletes; scanning RocksDB for their first live key would step over every tombstone left by
  // earlier claims, so claims and queue queries read these instead. Loaded at open, changed only
  // after an apply's batch commits; apply (the only writer) reads them without the lock.
  mutable std::shared_mutex index_mu;
  std::map<std::string, std::string> queue_index;
  std::set<std::string> running_jobs_index;
  // The not_before times of the queued executions that have one (queue key -> time, and the times
  // in order), so that a dispatcher learns when the queue next holds claimable work without
  // parsing every entry. Kept with queue_index, under the same lock.
  std::map<std::string, std::int64_t> queue_not_before;
  std::multiset<std::int64_t> not_before_times;
  void index_queue_put(const std::string& key, std::string value, std::int64_t not_before);
  void index_queue_erase(const std::string& key);

  // Apply's cache of the decoded records that every chunk commit and step end would otherwise read
  // and parse again: the job executions that run on a node (STARTING, STARTED or STOPPING and not
  // waiting in a queue) and their running step executions. Like the indexes it holds committed
  // state only: loaded at open, changed only after an apply's batch commits. Only apply uses it, so
  // it needs no lock; queries read RocksDB. A record not in it is read from RocksDB.
  std::unordered_map<std::int64_t, job_execution_record> running_executions;
  std::unordered_map<std::int64_t, step_execution_record> running_steps;
  // Keep a record written by a committed batch, or drop it once it no longer runs; an execution
  // leaving takes its steps along, even any that a runner never ended.
  void cache(job_execution_record r);
  void cache(step_execution_record r);
  void uncache_execution(std::int64_t id);
  void uncache_step(std::int64_t id) { running_steps.erase(id); }
  void load_running();

  // The key in `meta` holding applied index, last instance, last execution and last step execution
  // ids, 8 bytes each. Data dirs written before it hold one key per counter; load_meta reads those.
  static constexpr std::string_view counters_key = "counters";
  static std::string encode_counters(std::uint64_t applied, std::int64_t instance, std::int64_t execution,
                                     std::int64_t step_execution);

  expected<void> load_meta();
  void load_indexes();
  [[nodiscard]] std::optional<std::string> get(family f, std::string_view key) const;
  [[nodiscard]] expected<job_execution_record> execution(std::int64_t id) const;
  [[nodiscard]] expected<step_execution_record> step_execution(std::int64_t id) const;
  [[nodiscard]] std::vector<std::int64_t> children(family f, std::int64_t parent) const;
  [[nodiscard]] execution_context context(std::int64_t step_execution_id) const;
};

}  // namespace kiln
