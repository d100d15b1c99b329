#pragma once
// Ready-made items over a RocksDB database (its default column family): a reader of a key range
// and a writer of key/value pairs. RocksDB itself stays private (jobs/src/rocksdb.cpp).
//
// Reader restart: update() saves the last key read as "<name>.last_key" (hex, keys may be any
// bytes) and "<name>.read"; open() on a restart seeks past that key, so a rerun reads each key of
// the range once. The database is opened read-only: another process may own it meanwhile, and the
// reader sees the state as of its open().
// Writer restart: one WriteBatch per chunk. Puts are idempotent, so rewriting the chunks after the
// last commit (what a restart does) leaves the same database; update() saves "<name>.written".
// Copies share nothing but the options: each step execution gets a fresh copy before open().

#include <kiln/item.hpp>
#include <kiln/step_context.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace kiln::jobs {

struct key_value {
  std::string key;
  std::string value;
  friend bool operator==(const key_value&, const key_value&) = default;
};

struct rocksdb_reader_options {
  std::string path;             // database directory; "{param}" placeholders name job parameters
  std::string from;             // Default: "" = from the first key. Inclusive
  std::string to;               // Default: "" = to the last key. Exclusive
  std::string prefix;           // Default: "" = every key. Only keys that start with it
  std::string name = "reader";  // Default: "reader". Prefix of the restart keys in the context
};

class rocksdb_reader : public item_reader<key_value> {
 public:
  explicit rocksdb_reader(rocksdb_reader_options options);
  rocksdb_reader(const rocksdb_reader& other);
  rocksdb_reader& operator=(const rocksdb_reader&) = delete;
  ~rocksdb_reader() override;

  // Opens the database read-only; throws kiln::io_error (naming the path) when it cannot.
  void open(step_context& ctx) override;
  // The next key in [from, to) with the prefix, in key order; nullopt at the end of the range.
  std::optional<key_value> read() override;
  void update(execution_context& ctx) override;
  void close() override;
  // Reopened at a saved key, it reads the same keys (the range must not change while the step
  // runs, as for a restart).
  [[nodiscard]] bool repeatable() const override { return true; }

 private:
  struct state;
  rocksdb_reader_options options_;
  std::unique_ptr<state> state_;  // from open() to close()
};

struct rocksdb_writer_options {
  std::string path;                // database directory; "{param}" placeholders name job parameters
  bool create_if_missing = true;   // Default: true
  bool sync = false;               // Default: false (a process crash loses nothing; a power loss may)
  std::string name = "writer";     // Default: "writer". Prefix of the restart keys in the context
};

class rocksdb_writer : public item_writer<key_value> {
 public:
  explicit rocksdb_writer(rocksdb_writer_options options);
  rocksdb_writer(const rocksdb_writer& other);
  rocksdb_writer& operator=(const rocksdb_writer&) = delete;
  ~rocksdb_writer() override;

  // Opens (by default creates) the database; throws kiln::io_error naming the path when it cannot.
  void open(step_context& ctx) override;
  // All items of the chunk as one atomic WriteBatch of puts.
  void write(const chunk<key_value>& items) override;
  void update(execution_context& ctx) override;
  void close() override;

 private:
  struct state;
  rocksdb_writer_options options_;
  std::unique_ptr<state> state_;
};

}  // namespace kiln::jobs
