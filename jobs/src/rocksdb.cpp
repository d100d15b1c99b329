// The RocksDB items: the one file of jobs/ that includes RocksDB.

#include <kiln/exceptions.hpp>
#include <kiln/jobs/rocksdb.hpp>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace kiln::jobs {

namespace {

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

struct rocksdb_reader::state {
  std::string path;
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<rocksdb::Iterator> it;
  std::optional<std::string> last_key;
  std::int64_t read = 0;
  bool done = false;
};

rocksdb_reader::rocksdb_reader(rocksdb_reader_options options) : options_(std::move(options)) {}
rocksdb_reader::rocksdb_reader(const rocksdb_reader& other) : options_(other.options_) {}
rocksdb_reader::~rocksdb_reader() { close(); }

void rocksdb_reader::open(step_context& ctx) {
  close();
  auto s = std::make_unique<state>();
  s->path = ctx.resolve(options_.path);
  rocksdb::Options opts;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::OpenForReadOnly(opts, s->path, &raw);
  if (!st.ok()) {
    throw io_error(
        fmt::format("rocksdb_reader: cannot open database '{}' read-only: {}", s->path, st.ToString()));
  }
  s->db.reset(raw);
  s->it.reset(s->db->NewIterator(rocksdb::ReadOptions()));
  // Where to start: after the last key of the last commit, else at max(from, prefix).
  const auto& c = ctx.context();
  const auto* saved = c.if_contains(options_.name + ".last_key");
  if (saved && saved->is_string()) {
    auto key = from_hex(saved->get_string());
    if (!key) {
      throw io_error(fmt::format("rocksdb_reader: restart state '{}.last_key' is not hex", options_.name));
    }
    s->last_key = std::move(key);
    if (const auto* n = c.if_contains(options_.name + ".read"); n && n->is_int64()) s->read = n->as_int64();
    s->it->Seek(slice(*s->last_key));
    if (s->it->Valid() && s->it->key() == slice(*s->last_key)) s->it->Next();
  } else {
    s->it->Seek(slice(std::max(options_.from, options_.prefix)));
  }
  state_ = std::move(s);
}

std::optional<key_value> rocksdb_reader::read() {
  if (!state_) throw std::logic_error("rocksdb_reader::read() before open()");
  auto& s = *state_;
  if (s.done) return std::nullopt;
  while (s.it->Valid()) {
    auto key = s.it->key().ToStringView();
    if (!options_.to.empty() && key >= options_.to) break;
    if (!options_.prefix.empty() && !key.starts_with(options_.prefix)) {
      // Keys are sorted: past the prefix means past every key that has it.
      if (key > std::string_view(options_.prefix)) break;
      s.it->Next();
      continue;
    }
    if (key < std::string_view(options_.from)) {
      s.it->Next();
      continue;
    }
    key_value kv{std::string(key), s.it->value().ToString()};
    s.it->Next();
    s.last_key = kv.key;
    ++s.read;
    return kv;
  }
  if (!s.it->status().ok()) {
    throw io_error(fmt::format("rocksdb_reader: reading '{}' failed: {}", s.path, s.it->status().ToString()));
  }
  s.done = true;
  return std::nullopt;
}

void rocksdb_reader::update(execution_context& ctx) {
  if (!state_ || !state_->last_key) return;
  ctx[options_.name + ".last_key"] = to_hex(*state_->last_key);
  ctx[options_.name + ".read"] = state_->read;
}

void rocksdb_reader::close() {
  if (!state_) return;
  state_->it.reset();
  if (state_->db) static_cast<void>(state_->db->Close());
  state_.reset();
}

struct rocksdb_writer::state {
  std::string path;
  std::unique_ptr<rocksdb::DB> db;
  std::int64_t written = 0;
};

rocksdb_writer::rocksdb_writer(rocksdb_writer_options options) : options_(std::move(options)) {}
rocksdb_writer::rocksdb_writer(const rocksdb_writer& other) : options_(other.options_) {}
rocksdb_writer::~rocksdb_writer() { close(); }

void rocksdb_writer::open(step_context& ctx) {
  close();
  auto s = std::make_unique<state>();
  s->path = ctx.resolve(options_.path);
  rocksdb::Options opts;
  opts.create_if_missing = options_.create_if_missing;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, s->path, &raw);
  if (!st.ok()) {
    throw io_error(fmt::format("rocksdb_writer: cannot open database '{}': {}", s->path, st.ToString()));
  }
  s->db.reset(raw);
  const auto* n = ctx.context().if_contains(options_.name + ".written");
  if (n && n->is_int64()) s->written = n->as_int64();
  state_ = std::move(s);
}

void rocksdb_writer::write(const chunk<key_value>& items) {
  if (!state_) throw std::logic_error("rocksdb_writer::write() before open()");
  if (items.empty()) return;
  rocksdb::WriteBatch batch;
  for (const auto& kv : items) {
    auto st = batch.Put(slice(kv.key), slice(kv.value));
    if (!st.ok()) throw io_error(fmt::format("rocksdb_writer: '{}': {}", state_->path, st.ToString()));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  auto st = state_->db->Write(wo, &batch);
  if (!st.ok()) {
    throw io_error(fmt::format("rocksdb_writer: writing '{}' failed: {}", state_->path, st.ToString()));
  }
  state_->written += static_cast<std::int64_t>(items.size());
}

void rocksdb_writer::update(execution_context& ctx) {
  if (state_) ctx[options_.name + ".written"] = state_->written;
}

void rocksdb_writer::close() {
  if (!state_) return;
  if (state_->db) static_cast<void>(state_->db->Close());
  state_.reset();
}

}  // namespace kiln::jobs
