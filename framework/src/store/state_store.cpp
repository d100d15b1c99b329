// The RocksDB adapter and the state machine's queries. The apply side is in state_machine_apply.cpp.
// RocksDB headers appear only in this folder.

#include "store_impl.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <unistd.h>

namespace kiln {

namespace json = boost::json;

std::string key_of(std::int64_t id) {
  std::string k(8, '\0');
  auto u = static_cast<std::uint64_t>(id);
  for (int i = 7; i >= 0; --i) {
    k[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  return k;
}

std::string queue_key(std::int64_t priority, std::int64_t execution_id) {
  // Flipping the sign bit makes unsigned order match signed order; inverting makes it descending.
  const auto p = ~(static_cast<std::uint64_t>(priority) ^ (std::uint64_t{1} << 63));
  return key_of(static_cast<std::int64_t>(p)) + key_of(execution_id);
}

std::string running_job_key(const std::string& job, std::int64_t execution_id) {
  return job + '\0' + key_of(execution_id);
}

std::int64_t id_of(std::string_view k) {
  std::uint64_t u = 0;
  for (std::size_t i = 0; i < 8 && i < k.size(); ++i) u = (u << 8) | static_cast<unsigned char>(k[i]);
  return static_cast<std::int64_t>(u);
}

const std::vector<std::string>& state_store::impl::family_names() {
  static const std::vector<std::string> names{
      rocksdb::kDefaultColumnFamilyName, "instances", "instance_keys", "executions",
      "instance_executions", "step_executions", "execution_steps", "contexts", "running", "queue",
      "running_jobs", "schedules", "fires"};
  return names;
}

namespace {

std::string owner_description(const std::filesystem::path& dir) {
  std::ifstream in(dir / "OWNER");
  std::string line;
  if (in && std::getline(in, line) && !line.empty()) return " (" + line + ")";
  return {};
}

void write_owner(const std::filesystem::path& dir) {
  std::ofstream out(dir / "OWNER", std::ios::trunc);
  std::string cmd;
  std::ifstream cmdline("/proc/self/cmdline");
  std::string part;
  while (std::getline(cmdline, part, '\0')) cmd += (cmd.empty() ? "" : " ") + part;
  out << "pid " << ::getpid() << ": " << cmd << "\n";
}

}  // namespace

expected<std::unique_ptr<state_store>> state_store::open(const std::filesystem::path& dir,
                                                         store_access access) {
  auto p = std::make_unique<impl>();
  p->dir = dir;
  p->read_only = access == store_access::read_only;
  rocksdb::Options options;
  options.create_if_missing = !p->read_only;
  options.create_missing_column_families = !p->read_only;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  // apply() writes each command's batch without a sync and, at the end of a group, flushes and
  // syncs the WAL once (transaction::commit): one write() per group instead of one per command.
  options.manual_wal_flush = true;
  std::error_code ec;
  if (p->read_only) {
    if (!std::filesystem::exists(dir / "CURRENT", ec)) {
      return fail(errc::not_found,
                  fmt::format("no Kiln data in '{}'; run a job first or point --data-dir at the right folder",
                              dir.string()));
    }
  } else {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return fail(errc::storage, fmt::format("cannot create data directory '{}': {}", dir.string(), ec.message()));
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : impl::family_names()) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = p->read_only
                          ? rocksdb::DB::OpenForReadOnly(options, dir.string(), descriptors, &handles, &db)
                          : rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &db);
  if (!s.ok()) {
    const std::string msg = s.ToString();
    if (!p->read_only && msg.find("lock") != std::string::npos) {
      return fail(errc::data_dir_locked,
                  fmt::format("data directory '{}' is in use by another Kiln process{}; wait for it to "
                              "finish, stop it, or use another --data-dir",
                              dir.string(), owner_description(dir)));
    }
    return fail(errc::storage, fmt::format("cannot open data directory '{}': {}", dir.string(), msg));
  }
  p->db.reset(db);
  for (auto* h : handles) p->cf.emplace_back(h);
  if (auto loaded = p->load_meta(); !loaded) return std::unexpected(loaded.error());
  p->load_indexes();
  if (!p->read_only) {
    p->load_running();
    write_owner(dir);
  }
  return std::unique_ptr<state_store>(new state_store(std::move(p)));
}

state_store::state_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

state_store::~state_store() {
  if (impl_ && impl_->db) {
    if (!impl_->read_only) {
      std::error_code ec;
      std::filesystem::remove(impl_->dir / "OWNER", ec);
    }
    // Batches applied without a sync may still sit in the WAL buffer (manual_wal_flush).
    if (!impl_->read_only) (void)impl_->db->FlushWAL(true);
    for (auto& h : impl_->cf) (void)impl_->db->DestroyColumnFamilyHandle(h.release());
    impl_->cf.clear();
    (void)impl_->db->Close();
  }
}

std::string state_store::impl::encode_counters(std::uint64_t applied, std::int64_t instance, std::int64_t execution,
                                               std::int64_t step_execution) {
  std::string out;
  out.reserve(32);  // written with every command: one allocation, not one per concatenation
  for (auto v : {static_cast<std::int64_t>(applied), instance, execution, step_execution}) out += key_of(v);
  return out;
}

expected<void> state_store::impl::load_meta() {
  std::string counters;
  if (db->Get(rocksdb::ReadOptions(), cf[meta].get(), rocksdb::Slice(counters_key.data(), counters_key.size()),
              &counters)
          .ok()) {
    if (counters.size() != 32) {
      return fail(errc::storage, fmt::format("the counters in '{}' are corrupt ({} bytes, expected 32)",
                                             dir.string(), counters.size()));
    }
    const std::string_view c(counters);
    applied = static_cast<std::uint64_t>(id_of(c.substr(0, 8)));
    last_instance = id_of(c.substr(8, 8));
    last_execution = id_of(c.substr(16, 8));
    last_step_execution = id_of(c.substr(24, 8));
    return {};
  }
  auto read_counter = [&](const char* name) -> std::int64_t {
    std::string v;
    if (db->Get(rocksdb::ReadOptions(), cf[meta].get(), name, &v).ok()) return id_of(v);
    return 0;
  };
  applied = static_cast<std::uint64_t>(read_counter("applied_index"));
  last_instance = read_counter("last_instance_id");
  last_execution = read_counter("last_execution_id");
  last_step_execution = read_counter("last_step_execution_id");
  return {};
}

void state_store::impl::index_queue_put(const std::string& key, std::string value, std::int64_t not_before) {
  index_queue_erase(key);
  queue_index[key] = std::move(value);
  if (not_before > 0) {
    queue_not_before[key] = not_before;
    not_before_times.insert(not_before);
  }
}

void state_store::impl::index_queue_erase(const std::string& key) {
  queue_index.erase(key);
  if (auto it = queue_not_before.find(key); it != queue_not_before.end()) {
    not_before_times.erase(not_before_times.find(it->second));
    queue_not_before.erase(it);
  }
}

void state_store::impl::load_indexes() {
  std::unique_ptr<rocksdb::Iterator> q(db->NewIterator(rocksdb::ReadOptions(), cf[queue].get()));
  for (q->SeekToFirst(); q->Valid(); q->Next()) {
    std::int64_t not_before = 0;
    json::error_code ec;
    auto v = json::parse(q->value().ToStringView(), ec);
    if (!ec && v.is_object()) {
      if (const auto* nb = v.as_object().if_contains("not_before"); nb && nb->is_int64()) not_before = nb->as_int64();
    }
    index_queue_put(q->key().ToString(), q->value().ToString(), not_before);
  }
  std::unique_ptr<rocksdb::Iterator> r(db->NewIterator(rocksdb::ReadOptions(), cf[running_jobs].get()));
  for (r->SeekToFirst(); r->Valid(); r->Next()) running_jobs_index.insert(r->key().ToString());
}

void state_store::impl::cache(job_execution_record r) {
  if (!is_running(r.status) || r.queued()) return uncache_execution(r.id);
  const auto id = r.id;
  running_executions.insert_or_assign(id, std::move(r));
}

void state_store::impl::cache(step_execution_record r) {
  if (!is_running(r.status)) return uncache_step(r.id);
  const auto id = r.id;
  running_steps.insert_or_assign(id, std::move(r));
}

void state_store::impl::uncache_execution(std::int64_t id) {
  // Steps are cached only while their execution is: a queued or ended one has none to look for.
  if (running_executions.erase(id) == 0) return;
  std::erase_if(running_steps, [id](const auto& st) { return st.second.execution_id == id; });
}

void state_store::impl::load_running() {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[running].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto e = execution(id_of(it->key().ToStringView()));
    if (!e || !is_running(e->status) || e->queued()) continue;
    for (auto step_id : children(execution_steps, e->id)) {
      if (auto st = step_execution(step_id)) cache(std::move(*st));
    }
    cache(std::move(*e));
  }
}

std::optional<std::string> state_store::impl::get(family f, std::string_view key) const {
  std::string v;
  auto s = db->Get(rocksdb::ReadOptions(), cf[f].get(), rocksdb::Slice(key.data(), key.size()), &v);
  if (!s.ok()) return std::nullopt;
  return v;
}

template <class T, class F>
static expected<T> parse_record(const std::optional<std::string>& text, F from_json, std::string_view what,
                                std::int64_t id) {
  if (!text) return fail(errc::not_found, fmt::format("no {} with id {}", what, id));
  json::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec) return fail(errc::storage, fmt::format("{} {} is corrupt: {}", what, id, ec.message()));
  return from_json(v);
}

expected<job_execution_record> state_store::impl::execution(std::int64_t id) const {
  return parse_record<job_execution_record>(get(executions, key_of(id)), job_execution_from_json,
                                            "job execution", id);
}

expected<step_execution_record> state_store::impl::step_execution(std::int64_t id) const {
  return parse_record<step_execution_record>(get(step_executions, key_of(id)), step_execution_from_json,
                                             "step execution", id);
}

std::vector<std::int64_t> state_store::impl::children(family f, std::int64_t parent) const {
  std::vector<std::int64_t> out;
  const std::string prefix = key_of(parent);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[f].get()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(id_of(it->key().ToStringView().substr(8)));
  }
  return out;
}

execution_context state_store::impl::context(std::int64_t step_execution_id) const {
  auto text = get(contexts, key_of(step_execution_id));
  if (!text) return {};
  json::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

expected<void> state_store::write_wal() {
  auto st = impl_->db->FlushWAL(false);
  if (!st.ok()) return fail(errc::storage, "state store write failed: " + st.ToString());
  return {};
}

expected<void> state_store::sync_wal() {
  auto st = impl_->db->SyncWAL();
  if (!st.ok()) return fail(errc::storage, "state store sync failed: " + st.ToString());
  return {};
}

std::uint64_t state_store::applied_index() const { return impl_->applied; }
const std::filesystem::path& state_store::dir() const { return impl_->dir; }

expected<job_execution_record> state_store::execution(std::int64_t id) const { return impl_->execution(id); }

std::vector<job_execution_record> state_store::executions(const execution_filter& f) const {
  std::vector<job_execution_record> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[impl::executions].get()));
  if (f.before) {
    // Ids start at 1; key_of of a negative id would sort after every real id.
    if (*f.before <= 1) return out;
    it->SeekForPrev(key_of(*f.before - 1));
  } else {
    it->SeekToLast();
  }
  for (; it->Valid(); it->Prev()) {
    json::error_code ec;
    auto v = json::parse(it->value().ToStringView(), ec);
    if (ec) continue;
    auto r = job_execution_from_json(v);
    if (!r) continue;
    if (f.job && r->job_name != *f.job) continue;
    if (f.status && r->status != *f.status) continue;
    if (f.since && r->create_time < *f.since) continue;
    if (f.until && r->create_time >= *f.until) continue;
    out.push_back(std::move(*r));
    if (f.limit && out.size() >= f.limit) break;
  }
  return out;
}

std::vector<std::int64_t> state_store::running_execution_ids() const {
  std::vector<std::int64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[impl::running].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(id_of(it->key().ToStringView()));
  return out;
}

std::vector<job_execution_record> state_store::queued(std::size_t limit) const {
  std::vector<std::int64_t> ids;
  {
    std::shared_lock lock(impl_->index_mu);
    for (const auto& [key, _] : impl_->queue_index) {
      if (limit && ids.size() >= limit) break;
      ids.push_back(id_of(std::string_view(key).substr(8)));
    }
  }
  std::vector<job_execution_record> out;
  for (auto id : ids) {
    if (auto r = impl_->execution(id)) out.push_back(std::move(*r));
  }
  return out;
}

std::size_t state_store::queue_depth() const {
  std::shared_lock lock(impl_->index_mu);
  return impl_->queue_index.size();
}

bool state_store::queue_claimable(std::int64_t now) const {
  std::shared_lock lock(impl_->index_mu);
  const auto& times = impl_->not_before_times;
  return impl_->queue_index.size() > times.size() || (!times.empty() && *times.begin() <= now);
}

std::optional<std::int64_t> state_store::queue_next_not_before(std::int64_t now) const {
  std::shared_lock lock(impl_->index_mu);
  auto it = impl_->not_before_times.upper_bound(now);
  if (it == impl_->not_before_times.end()) return std::nullopt;
  return *it;
}

std::vector<std::pair<batch_status, std::int64_t>> state_store::status_counts() const {
  std::vector<std::pair<batch_status, std::int64_t>> out;
  for (auto s : all_batch_statuses) out.emplace_back(s, 0);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[impl::executions].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    json::error_code ec;
    auto v = json::parse(it->value().ToStringView(), ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* name = o ? o->if_contains("status") : nullptr;
    if (!name || !name->is_string()) continue;
    if (auto s = parse_batch_status(name->as_string())) {
      for (auto& [status, n] : out) {
        if (status == *s) ++n;
      }
    }
  }
  return out;
}

std::vector<job_execution_record> state_store::instance_executions(std::int64_t instance_id) const {
  std::vector<job_execution_record> out;
  for (auto id : impl_->children(impl::instance_executions, instance_id)) {
    if (auto r = impl_->execution(id)) out.push_back(std::move(*r));
  }
  return out;
}

std::optional<job_instance_record> state_store::instance(std::int64_t id) const {
  auto text = impl_->get(impl::instances, key_of(id));
  if (!text) return std::nullopt;
  json::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec) return std::nullopt;
  auto r = job_instance_from_json(v);
  if (!r) return std::nullopt;
  return *r;
}

std::vector<step_execution_record> state_store::step_executions(std::int64_t execution_id) const {
  std::vector<step_execution_record> out;
  for (auto id : impl_->children(impl::execution_steps, execution_id)) {
    if (auto r = impl_->step_execution(id)) out.push_back(std::move(*r));
  }
  return out;
}

expected<step_execution_record> state_store::step_execution(std::int64_t id) const {
  return impl_->step_execution(id);
}

execution_context state_store::step_context(std::int64_t step_execution_id) const {
  return impl_->context(step_execution_id);
}

std::string state_store::dump() const {
  std::string out;
  for (std::size_t f = 0; f < impl_->cf.size(); ++f) {
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[f].get()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out += impl::family_names()[f];
      out += '|';
      out += it->key().ToString(true);
      out += '=';
      out += it->value().ToString();
      out += '\n';
    }
  }
  return out;
}

}  // namespace kiln
