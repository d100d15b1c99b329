// The state machine: applies one command to RocksDB as one atomic WriteBatch. Deterministic: it
// reads only the committed state and the command (times and parameters come inside it); the ids it
// allocates follow from the counters it keeps in the same batches.

#include "schedule_apply.hpp"
#include "store_impl.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <variant>

namespace kiln {

namespace json = boost::json;
using impl = state_store::impl;

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};

// One command's writes, and the counter changes that become visible only if the batch commits.
class transaction {
 public:
  // The batch starts with room for a chunk commit's records, so that it does not grow while they are added.
  explicit transaction(impl& s) : s_(s), batch_(1024), instance_(s.last_instance), execution_(s.last_execution),
                                   step_execution_(s.last_step_execution) {}

  void put(impl::family f, std::string_view key, std::string_view value) {
    batch_.Put(s_.cf[f].get(), rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
  }
  void erase(impl::family f, std::string_view key) {
    batch_.Delete(s_.cf[f].get(), rocksdb::Slice(key.data(), key.size()));
    if (f == impl::queue || f == impl::running_jobs) index_changes_.push_back({f, std::string(key), std::nullopt, 0});
    if (f == impl::executions || f == impl::step_executions) cache_changes_.emplace_back(erased{f, id_of(key)});
  }
  // Writes to `queue` and `running_jobs` also reach their in-memory mirrors once the batch commits.
  void put_indexed(impl::family f, std::string_view key, std::string_view value, std::int64_t not_before = 0) {
    put(f, key, value);
    index_changes_.push_back({f, std::string(key), std::string(value), not_before});
  }
  // Execution and step records also reach apply's cache of running ones once the batch commits.
  void put(const job_execution_record& r) {
    put(impl::executions, key_of(r.id), json::serialize(to_json(r)));
    cache_changes_.emplace_back(r);
  }
  void put(const step_execution_record& r) {
    // Every chunk commit writes one: built in a buffer on the stack, released as a whole.
    unsigned char buffer[1024];
    json::monotonic_resource mr(buffer, sizeof buffer);
    put(impl::step_executions, key_of(r.id), json::serialize(to_json(r, &mr)));
    cache_changes_.emplace_back(r);
  }
  void put_context(std::int64_t step_execution_id, const execution_context& c) {
    put(impl::contexts, key_of(step_execution_id), json::serialize(c));
  }
  std::int64_t next_instance() { return ++instance_; }
  std::int64_t next_execution() { return ++execution_; }
  std::int64_t next_step_execution() { return ++step_execution_; }

  expected<void> commit(bool sync) {
    const auto applied = s_.applied + 1;
    // One key for the four counters: each command's batch adds one memtable entry for them, not four.
    put(impl::meta, impl::counters_key,
        impl::encode_counters(applied, instance_, execution_, step_execution_));
    // The WAL is flushed by hand (manual_wal_flush): a batch that need not be durable yet stays in
    // RocksDB's buffer, and a synced one writes the buffer with one write() and one fdatasync.
    auto st = s_.db->Write(rocksdb::WriteOptions(), &batch_);
    if (st.ok() && sync) st = s_.db->FlushWAL(true);
    if (!st.ok()) return fail(errc::storage, "state store write failed: " + st.ToString());
    if (!index_changes_.empty()) {
      std::unique_lock lock(s_.index_mu);
      for (auto& c : index_changes_) {
        if (c.family == impl::queue) {
          if (c.value) s_.index_queue_put(c.key, std::move(*c.value), c.not_before);
          else s_.index_queue_erase(c.key);
        } else {
          if (c.value) s_.running_jobs_index.insert(c.key);
          else s_.running_jobs_index.erase(c.key);
        }
      }
    }
    for (auto& c : cache_changes_) {
      std::visit(overloaded{[&](erased& e) {
                              if (e.family == impl::executions) s_.uncache_execution(e.id);
                              else s_.uncache_step(e.id);
                            },
                            [&](auto& r) { s_.cache(std::move(r)); }},
                 c);
    }
    s_.applied = applied;
    s_.last_instance = instance_;
    s_.last_execution = execution_;
    s_.last_step_execution = step_execution_;
    return {};
  }

 private:
  struct index_change {
    impl::family family;
    std::string key;
    std::optional<std::string> value;  // nullopt = erased
    std::int64_t not_before;           // queue entries
  };
  struct erased {  // by a purge
    impl::family family;
    std::int64_t id;
  };
  impl& s_;
  rocksdb::WriteBatch batch_;
  std::vector<index_change> index_changes_;
  std::vector<std::variant<job_execution_record, step_execution_record, erased>> cache_changes_;
  std::int64_t instance_;
  std::int64_t execution_;
  std::int64_t step_execution_;
};

// Apply reads a running execution or step from the cache and any other record from RocksDB.
expected<job_execution_record> read_execution(const impl& s, std::int64_t id) {
  if (auto it = s.running_executions.find(id); it != s.running_executions.end()) return it->second;
  return s.execution(id);
}

expected<step_execution_record> read_step(const impl& s, std::int64_t id) {
  if (auto it = s.running_steps.find(id); it != s.running_steps.end()) return it->second;
  return s.step_execution(id);
}

apply_result ids(std::int64_t execution_id, std::int64_t step_execution_id = 0, std::int64_t instance_id = 0) {
  apply_result r;
  r.execution_id = execution_id;
  r.step_execution_id = step_execution_id;
  r.instance_id = instance_id;
  return r;
}

std::string instance_key(const std::string& job, const std::string& key) { return job + '\0' + key; }

std::string pair_key(std::int64_t parent, std::int64_t child) { return key_of(parent) + key_of(child); }

expected<apply_result> apply_create(impl& s, transaction& tx, const create_execution_cmd& c) {
  if (c.job.empty()) return fail(errc::bad_command, "create_execution: empty job name");
  if (c.not_before > 0 && c.queue.empty()) return fail(errc::bad_command, "create_execution: not_before needs a queue");
  apply_result r;
  const std::string ikey = instance_key(c.job, c.parameters.identifying_key());
  execution_context job_context;
  if (auto existing = s.get(impl::instance_keys, ikey)) {
    r.instance_id = id_of(*existing);
    r.restart = true;
    for (auto id : s.children(impl::instance_executions, r.instance_id)) {
      auto e = read_execution(s, id);
      if (!e) return std::unexpected(e.error());
      if (is_running(e->status)) {
        return fail(errc::already_running,
                    fmt::format("job '{}' with these identifying parameters is already running as execution {}; "
                                "wait for it or stop it first",
                                c.job, e->id));
      }
      if (e->status == batch_status::completed || e->status == batch_status::abandoned) {
        return fail(errc::instance_complete,
                    fmt::format("job '{}' already ran to {} with these identifying parameters (execution {}); "
                                "to run it again, change an identifying parameter",
                                c.job, to_string(e->status), e->id));
      }
    }
    if (!c.restartable) {
      return fail(errc::not_restartable,
                  fmt::format("job '{}' is not restartable and already ran with these identifying parameters; "
                              "change an identifying parameter to run it again",
                              c.job));
    }
  } else {
    r.instance_id = tx.next_instance();
    job_instance_record inst{r.instance_id, c.job, c.parameters.identifying_key()};
    tx.put(impl::instances, key_of(r.instance_id), json::serialize(to_json(inst)));
    tx.put(impl::instance_keys, ikey, key_of(r.instance_id));
  }
  job_execution_record e;
  e.id = r.execution_id = tx.next_execution();
  e.instance_id = r.instance_id;
  e.job_name = c.job;
  e.parameters = c.parameters;
  e.status = batch_status::starting;
  e.exit = {"UNKNOWN", {}};
  e.create_time = e.last_updated = c.time;
  e.queue = c.queue;
  e.priority = c.priority;
  e.run_key = c.run_key;
  if (c.queue.empty()) {
    e.node = c.node.empty() ? std::string("local") : c.node;
    e.claim_time = c.time;
    tx.put_indexed(impl::running_jobs, running_job_key(e.job_name, e.id), "");
  } else {
    e.not_before = std::max<std::int64_t>(0, c.not_before);
    json::object entry{{"queue", c.queue}, {"job", c.job}, {"forbid_concurrent", c.forbid_concurrent}};
    if (e.not_before > 0) entry["not_before"] = e.not_before;
    tx.put_indexed(impl::queue, queue_key(c.priority, e.id), json::serialize(entry), e.not_before);
  }
  tx.put(e);
  tx.put(impl::instance_executions, pair_key(r.instance_id, e.id), "");
  tx.put(impl::running, key_of(e.id), "");
  return r;
}

expected<job_execution_record> running_execution(impl& s, std::int64_t id, const char* what) {
  auto e = read_execution(s, id);
  if (!e) return e;
  if (!is_running(e->status)) {
    return fail(errc::invalid_transition,
                fmt::format("{}: execution {} is {}, not running", what, id, to_string(e->status)));
  }
  if (e->queued()) {
    return fail(errc::invalid_transition,
                fmt::format("{}: execution {} still waits in queue '{}'", what, id, e->queue));
  }
  return e;
}

expected<apply_result> apply_start_execution(impl& s, transaction& tx, const start_execution_cmd& c) {
  auto e = read_execution(s, c.execution_id);
  if (!e) return std::unexpected(e.error());
  if (e->status != batch_status::starting) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is {}, it can start only from STARTING", e->id, to_string(e->status)));
  }
  if (e->queued()) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} waits in queue '{}'; a node must claim it first", e->id, e->queue));
  }
  e->status = batch_status::started;
  e->start_time = e->last_updated = c.time;
  tx.put(*e);
  return ids(e->id);
}

expected<apply_result> apply_start_step(impl& s, transaction& tx, const start_step_cmd& c) {
  auto e = running_execution(s, c.execution_id, "start_step");
  if (!e) return std::unexpected(e.error());
  apply_result r;
  r.execution_id = e->id;
  // Spring Batch's SimpleStepHandler.shouldStart over the instance's history.
  std::optional<step_execution_record> last;
  std::int64_t starts = 0;
  for (auto exec_id : s.children(impl::instance_executions, e->instance_id)) {
    for (auto step_id : s.children(impl::execution_steps, exec_id)) {
      auto st = read_step(s, step_id);
      if (!st || st->step_name != c.step) continue;
      ++starts;
      if (!last || st->id > last->id) last = *st;
    }
  }
  if (last && ((last->status == batch_status::completed && !c.allow_start_if_complete) ||
               last->status == batch_status::abandoned)) {
    r.action = step_action::skip;
    r.skip_reason = fmt::format("step '{}' already {} in execution {}", c.step, to_string(last->status),
                                last->execution_id);
    r.skip_exit = last->exit;
    return r;
  }
  if (c.start_limit > 0 && starts >= c.start_limit) {
    return fail(errc::start_limit_exceeded,
                fmt::format("step '{}' has been started {} times, its start limit is {}", c.step, starts,
                            c.start_limit));
  }
  if (last && last->status != batch_status::completed) r.context = s.context(last->id);
  step_execution_record st;
  st.id = r.step_execution_id = tx.next_step_execution();
  st.execution_id = e->id;
  st.step_name = c.step;
  st.status = batch_status::started;
  st.exit = exit_status::executing();
  st.start_time = st.last_updated = c.time;
  tx.put(st);
  tx.put(impl::execution_steps, pair_key(e->id, st.id), "");
  tx.put_context(st.id, r.context);
  if (e->status == batch_status::starting) {
    e->status = batch_status::started;
    e->start_time = c.time;
  }
  e->last_updated = c.time;
  tx.put(*e);
  return r;
}

expected<step_execution_record> running_step(impl& s, std::int64_t id, const char* what) {
  auto st = read_step(s, id);
  if (!st) return st;
  if (st->status != batch_status::started && st->status != batch_status::stopping) {
    return fail(errc::invalid_transition,
                fmt::format("{}: step execution {} is {}, not running", what, id, to_string(st->status)));
  }
  // The cache holds exactly the executions running on a node; running_execution says why any other is refused.
  if (!s.running_executions.contains(st->execution_id)) {
    auto e = running_execution(s, st->execution_id, what);
    if (!e) return std::unexpected(e.error());
  }
  return st;
}

expected<apply_result> apply_commit(impl& s, transaction& tx, const commit_chunk_cmd& c) {
  auto st = running_step(s, c.step_execution_id, "commit_chunk");
  if (!st) return std::unexpected(st.error());
  st->counts = c.counts;
  st->last_updated = c.time;
  tx.put(*st);
  tx.put_context(st->id, c.context);
  return ids(st->execution_id, st->id);
}

expected<apply_result> apply_end_step(impl& s, transaction& tx, const end_step_cmd& c) {
  if (is_running(c.status) || c.status == batch_status::abandoned) {
    return fail(errc::bad_command, "end_step: the status must be COMPLETED, FAILED or STOPPED");
  }
  auto st = running_step(s, c.step_execution_id, "end_step");
  if (!st) return std::unexpected(st.error());
  st->status = c.status;
  st->exit = c.exit;
  st->counts = c.counts;
  st->end_time = st->last_updated = c.time;
  tx.put(*st);
  tx.put_context(st->id, c.context);
  return ids(st->execution_id, st->id);
}

expected<apply_result> apply_request_stop(impl& s, transaction& tx, const request_stop_cmd& c) {
  auto e = running_execution(s, c.execution_id, "stop");
  if (!e) return std::unexpected(e.error());
  e->status = batch_status::stopping;
  e->last_updated = c.time;
  tx.put(*e);
  return ids(e->id);
}

void end_execution(transaction& tx, job_execution_record& e, batch_status status, exit_status exit,
                   std::int64_t time) {
  e.status = status;
  e.exit = std::move(exit);
  e.end_time = e.last_updated = time;
  tx.put(e);
  tx.erase(impl::running, key_of(e.id));
  tx.erase(impl::running_jobs, running_job_key(e.job_name, e.id));
}

// Marks the running step executions of `e` FAILED with `reason`.
void fail_running_steps(impl& s, transaction& tx, const job_execution_record& e, const std::string& reason,
                        std::int64_t time) {
  for (auto step_id : s.children(impl::execution_steps, e.id)) {
    auto st = read_step(s, step_id);
    if (!st || !is_running(st->status)) continue;
    st->status = batch_status::failed;
    st->exit = exit_status::failed(reason);
    st->end_time = st->last_updated = time;
    tx.put(*st);
  }
}

expected<apply_result> apply_end_execution(impl& s, transaction& tx, const end_execution_cmd& c) {
  if (is_running(c.status) || c.status == batch_status::abandoned) {
    return fail(errc::bad_command, "end_execution: the status must be COMPLETED, FAILED or STOPPED");
  }
  auto e = running_execution(s, c.execution_id, "end_execution");
  if (!e) return std::unexpected(e.error());
  e->restart_step = c.restart_step;
  end_execution(tx, *e, c.status, c.exit, c.time);
  return ids(e->id);
}

expected<apply_result> apply_recover(impl& s, transaction& tx, const recover_dead_cmd& c) {
  apply_result r;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.cf[impl::running].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto e = read_execution(s, id_of(it->key().ToStringView()));
    if (!e || e->queued()) continue;
    fail_running_steps(s, tx, *e, c.reason, c.time);
    end_execution(tx, *e, batch_status::failed, exit_status::failed(c.reason), c.time);
    ++r.affected;
    r.executions.push_back(e->id);
  }
  return r;
}

bool job_has_running(const impl& s, const std::string& job) {
  const std::string prefix = job + '\0';
  auto it = s.running_jobs_index.lower_bound(prefix);
  return it != s.running_jobs_index.end() && it->starts_with(prefix);
}

expected<apply_result> apply_claim(impl& s, transaction& tx, const claim_cmd& c) {
  if (c.node.empty()) return fail(errc::bad_command, "claim: empty node name");
  apply_result r;
  auto remaining = c.max;
  auto queue_free = c.queue_free;
  std::set<std::string> claimed_jobs;  // forbid-concurrent jobs taken by this claim
  for (auto it = s.queue_index.begin(); it != s.queue_index.end() && remaining > 0; ++it) {
    json::error_code ec;
    auto v = json::parse(it->second, ec);
    if (ec || !v.is_object()) continue;
    const auto& entry = v.as_object();
    const std::string queue(entry.at("queue").as_string());
    const std::string job(entry.at("job").as_string());
    if (!c.queues.empty() && std::find(c.queues.begin(), c.queues.end(), queue) == c.queues.end()) continue;
    auto limit = queue_free.find(queue);
    if (limit != queue_free.end() && limit->second <= 0) continue;
    // Not runnable yet: a firing recorded ahead of its slot waits for the slot.
    if (const auto* nb = entry.if_contains("not_before"); nb && nb->is_int64() && nb->as_int64() > c.time) continue;
    const bool forbid = entry.at("forbid_concurrent").as_bool();
    if (forbid && (claimed_jobs.contains(job) || job_has_running(s, job))) continue;
    const auto id = id_of(std::string_view(it->first).substr(8));
    auto e = read_execution(s, id);
    if (!e) return std::unexpected(e.error());
    e->node = c.node;
    e->claim_time = e->last_updated = c.time;
    tx.put(*e);
    tx.erase(impl::queue, it->first);
    tx.put_indexed(impl::running_jobs, running_job_key(job, id), "");
    claimed_jobs.insert(job);
    r.executions.push_back(id);
    --remaining;
    if (limit != queue_free.end()) --limit->second;
  }
  return r;
}

expected<apply_result> apply_cancel(impl& s, transaction& tx, const cancel_cmd& c) {
  auto e = read_execution(s, c.execution_id);
  if (!e) return std::unexpected(e.error());
  if (!e->queued()) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is {}{}; only a queued execution can be cancelled{}", e->id,
                            to_string(e->status), e->node.empty() ? "" : " on node '" + e->node + "'",
                            is_running(e->status) ? " (stop or kill a running one)" : ""));
  }
  tx.erase(impl::queue, queue_key(e->priority, e->id));
  end_execution(tx, *e, batch_status::stopped,
                exit_status{"CANCELLED", fmt::format("cancelled while waiting in queue '{}'", e->queue)}, c.time);
  return ids(e->id, 0, e->instance_id);
}

expected<apply_result> apply_kill(impl& s, transaction& tx, const kill_cmd& c) {
  auto e = running_execution(s, c.execution_id, "kill");
  if (!e) return std::unexpected(e.error());
  const std::string reason = c.reason.empty() ? std::string("killed on request") : c.reason;
  fail_running_steps(s, tx, *e, reason, c.time);
  end_execution(tx, *e, batch_status::failed, exit_status{"KILLED", reason}, c.time);
  return ids(e->id, 0, e->instance_id);
}

expected<apply_result> apply_abandon(impl& s, transaction& tx, const abandon_cmd& c) {
  auto e = read_execution(s, c.execution_id);
  if (!e) return std::unexpected(e.error());
  if (e->status != batch_status::stopped && e->status != batch_status::failed) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is {}; only a STOPPED or FAILED execution can be abandoned{}", e->id,
                            to_string(e->status), is_running(e->status) ? " (stop it first)" : ""));
  }
  e->status = batch_status::abandoned;
  e->last_updated = c.time;
  tx.put(*e);
  return ids(e->id, 0, e->instance_id);
}

expected<apply_result> apply_purge(impl& s, transaction& tx, const purge_cmd& c) {
  apply_result r;
  std::int64_t instances = 0;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.cf[impl::instances].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (c.max_instances > 0 && instances >= c.max_instances) break;
    const auto instance_id = id_of(it->key().ToStringView());
    std::vector<job_execution_record> execs;
    for (auto id : s.children(impl::instance_executions, instance_id)) {
      auto e = read_execution(s, id);
      if (!e) return std::unexpected(e.error());
      execs.push_back(std::move(*e));
    }
    if (!purge_selects(execs, c.before_time)) continue;
    for (const auto& e : execs) {
      for (auto step_id : s.children(impl::execution_steps, e.id)) {
        tx.erase(impl::step_executions, key_of(step_id));
        tx.erase(impl::contexts, key_of(step_id));
        tx.erase(impl::execution_steps, pair_key(e.id, step_id));
      }
      tx.erase(impl::executions, key_of(e.id));
      tx.erase(impl::instance_executions, pair_key(instance_id, e.id));
      r.executions.push_back(e.id);
    }
    json::error_code ec;
    auto inst = job_instance_from_json(json::parse(it->value().ToStringView(), ec));
    if (ec || !inst) return fail(errc::storage, fmt::format("purge: instance {} is unreadable", instance_id));
    tx.erase(impl::instance_keys, instance_key(inst->job_name, inst->key));
    tx.erase(impl::instances, it->key().ToStringView());
    ++instances;
  }
  r.affected = static_cast<std::int64_t>(r.executions.size());
  // Fire records decided before the cutoff, bounded like the instances.
  schedule_apply::fires_before(s, c.before_time, [&](const std::string& key) {
    tx.erase(impl::fires, key);
    return ++r.fire_records < c.max_instances || c.max_instances == 0;
  });
  return r;
}

}  // namespace

expected<apply_result> state_store::apply(const command& cmd, bool sync) {
  if (impl_->read_only) return fail(errc::storage, "the state store was opened read-only");
  transaction tx(*impl_);
  // A schedule's firing recorded ahead of its slot is withdrawn while its execution still waits
  // in its queue: STOPPED with exit CANCELLED and the reason.
  auto withdraw_with = [this](transaction& t, std::int64_t time) {
    return [this, &t, time](std::int64_t id, const std::string& reason) {
      auto e = read_execution(*impl_, id);
      if (!e || !e->queued()) return false;
      t.erase(impl::queue, queue_key(e->priority, e->id));
      end_execution(t, *e, batch_status::stopped, exit_status{"CANCELLED", reason}, time);
      return true;
    };
  };
  auto r = std::visit(overloaded{
                          [&](const create_execution_cmd& c) { return apply_create(*impl_, tx, c); },
                          [&](const start_execution_cmd& c) { return apply_start_execution(*impl_, tx, c); },
                          [&](const start_step_cmd& c) { return apply_start_step(*impl_, tx, c); },
                          [&](const commit_chunk_cmd& c) { return apply_commit(*impl_, tx, c); },
                          [&](const end_step_cmd& c) { return apply_end_step(*impl_, tx, c); },
                          [&](const request_stop_cmd& c) { return apply_request_stop(*impl_, tx, c); },
                          [&](const end_execution_cmd& c) { return apply_end_execution(*impl_, tx, c); },
                          [&](const recover_dead_cmd& c) { return apply_recover(*impl_, tx, c); },
                          [&](const abandon_cmd& c) { return apply_abandon(*impl_, tx, c); },
                          [&](const claim_cmd& c) { return apply_claim(*impl_, tx, c); },
                          [&](const cancel_cmd& c) { return apply_cancel(*impl_, tx, c); },
                          [&](const kill_cmd& c) { return apply_kill(*impl_, tx, c); },
                          [&](const purge_cmd& c) { return apply_purge(*impl_, tx, c); },
                          [&](const create_schedule_cmd& c) { return schedule_apply::create(*impl_, tx, c); },
                          [&](const update_schedule_cmd& c) {
                            return schedule_apply::update(*impl_, tx, c, withdraw_with(tx, c.time));
                          },
                          [&](const delete_schedule_cmd& c) {
                            return schedule_apply::remove(*impl_, tx, c, withdraw_with(tx, c.time));
                          },
                          [&](const pause_schedule_cmd& c) {
                            return schedule_apply::pause(*impl_, tx, c, withdraw_with(tx, c.time));
                          },
                          [&](const resume_schedule_cmd& c) { return schedule_apply::resume(*impl_, tx, c); },
                          [&](const fire_cmd& c) {
                            // cancel_running ends the previous run: a queued one is cancelled, a running one killed.
                            auto stop = [&](std::int64_t id, const std::string& reason) {
                              return apply_cancel(*impl_, tx, cancel_cmd{id, c.time}).has_value() ||
                                     apply_kill(*impl_, tx, kill_cmd{id, reason, c.time}).has_value();
                            };
                            auto create = [&](const create_execution_cmd& e) { return apply_create(*impl_, tx, e); };
                            return schedule_apply::fire(*impl_, tx, c, create, stop);
                          },
                      },
                      cmd);
  // A refused command still counts as applied (a replicated log applies every entry), but writes
  // nothing else: only the index advances.
  if (!r) {
    transaction noop(*impl_);
    if (auto c = noop.commit(sync); !c) return std::unexpected(c.error());
    return r;
  }
  if (auto c = tx.commit(sync); !c) return std::unexpected(c.error());
  return r;
}

}  // namespace kiln
