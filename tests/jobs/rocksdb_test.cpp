// The RocksDB items on real databases: range and prefix reads, restart after the last committed
// key, and a chunk step that fails midway and resumes without losing or repeating a key.

#include "support/temp_dir.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/jobs/rocksdb.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <string>
#include <vector>

using kiln::jobs::key_value;
using kiln::jobs::rocksdb_reader;
using kiln::jobs::rocksdb_reader_options;
using kiln::jobs::rocksdb_writer;
using kiln::test::temp_dir;

namespace {

// Writes `items` into the database at `path` in chunks of 7, as a step would.
void fill(const std::string& path, const std::vector<key_value>& items) {
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  rocksdb_writer writer({.path = path});
  writer.open(ctx);
  for (std::size_t i = 0; i < items.size(); i += 7) {
    writer.write({items.begin() + static_cast<std::ptrdiff_t>(i),
                  items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + 7))});
  }
  writer.write({});
  writer.close();
}

std::vector<key_value> numbered(const std::string& prefix, int n) {
  std::vector<key_value> out;
  for (int i = 0; i < n; ++i) out.push_back({fmt::format("{}{:03}", prefix, i), fmt::format("v{}", i)});
  return out;
}

std::vector<key_value> read_all(rocksdb_reader_options options) {
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  rocksdb_reader reader(std::move(options));
  reader.open(ctx);
  std::vector<key_value> out;
  while (auto kv = reader.read()) out.push_back(*kv);
  CHECK_FALSE(reader.read());
  reader.close();
  return out;
}

}  // namespace

TEST_CASE("rocksdb_reader reads a key range with a prefix, in key order", "[jobs][rocksdb]") {
  temp_dir dir;
  const auto db = (dir / "db").string();
  auto a = numbered("a/", 50);
  auto b = numbered("b/", 50);
  fill(db, b);
  fill(db, a);
  CHECK(read_all({.path = db}).size() == 100);
  auto all_a = read_all({.path = db, .prefix = "a/"});
  CHECK(all_a == a);
  auto range = read_all({.path = db, .from = "a/010", .to = "a/040"});
  CHECK(range == std::vector<key_value>(a.begin() + 10, a.begin() + 40));
  CHECK(read_all({.path = db, .from = "a/045", .prefix = "b/"}) == b);  // the prefix starts later
  CHECK(read_all({.path = db, .from = "a/045", .to = "b/002", .prefix = "b/"}).size() == 2);
  CHECK(read_all({.path = db, .prefix = "c/"}).empty());
  // Binary keys and values survive.
  fill(db, {{std::string("z\0\xff", 3), std::string("\0\x01", 2)}});
  auto z = read_all({.path = db, .prefix = "z"});
  REQUIRE(z.size() == 1);
  CHECK(z[0].key == std::string("z\0\xff", 3));
  CHECK(z[0].value == std::string("\0\x01", 2));
}

TEST_CASE("rocksdb_reader resumes after the last key saved by update()", "[jobs][rocksdb]") {
  temp_dir dir;
  const auto db = (dir / "db").string();
  fill(db, numbered("k", 20));
  fill(db, {{std::string("k005\xff", 5), "binary"}});
  kiln::job_parameters params;
  params.set("db", kiln::job_parameter{db});
  kiln::execution_context saved;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    rocksdb_reader reader({.path = "{db}", .from = "k002", .name = "keys"});
    reader.open(ctx);
    for (int i = 2; i <= 5; ++i) CHECK(reader.read()->key == fmt::format("k{:03}", i));
    CHECK(reader.read()->key == std::string("k005\xff", 5));
    reader.update(saved);
    CHECK(reader.read()->key == "k006");  // read but not committed
    reader.close();
  }
  CHECK(saved.at("keys.last_key").as_string() == "6b303035ff");
  CHECK(saved.at("keys.read").as_int64() == 5);
  kiln::step_context ctx("job", "step", 2, 2, params, saved);
  rocksdb_reader reader({.path = "{db}", .from = "k002", .name = "keys"});
  reader.open(ctx);
  std::vector<std::string> rest;
  while (auto kv = reader.read()) rest.push_back(kv->key);
  CHECK(rest.size() == 14);
  CHECK(rest.front() == "k006");
  CHECK(rest.back() == "k019");
  reader.update(ctx.context());
  CHECK(ctx.context().at("keys.read").as_int64() == 19);
}

TEST_CASE("rocksdb items refuse a missing database with its path", "[jobs][rocksdb]") {
  temp_dir dir;
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  rocksdb_reader reader({.path = (dir / "nope").string()});
  CHECK_THROWS_WITH(reader.open(ctx), Catch::Contains("cannot open database '" + (dir / "nope").string()));
  rocksdb_writer writer({.path = (dir / "nope").string(), .create_if_missing = false});
  CHECK_THROWS_AS(writer.open(ctx), kiln::io_error);
}

TEST_CASE("a RocksDB-to-RocksDB chunk step fails midway and its restart copies every key once",
          "[jobs][rocksdb]") {
  temp_dir dir;
  const auto source = (dir / "source").string();
  const auto target = (dir / "target").string();
  fill(source, numbered("item-", 95));
  auto store = std::move(kiln::state_store::open(dir / "data", kiln::store_access::read_write).value());
  auto log = kiln::make_standalone_log(*store);

  std::atomic<int> fail_at{57};  // the processor throws on this item (0-based) of the first run
  std::atomic<int> processed{0};
  auto copy_job = kiln::job_builder("copy")
                      .step(kiln::chunk_step<key_value, key_value>("copy")
                                .reader(rocksdb_reader({.path = "{source}", .prefix = "item-"}))
                                .processor([&](key_value kv) -> std::optional<key_value> {
                                  int n = processed++;
                                  if (n == fail_at) throw std::runtime_error("boom");
                                  kv.value += "!";
                                  return kv;
                                })
                                .writer(rocksdb_writer({.path = "{target}"}))
                                .commit_interval(10))
                      .build();
  kiln::job_parameters params;
  params.set("source", kiln::job_parameter{source});
  params.set("target", kiln::job_parameter{target});
  auto first = kiln::run_job(copy_job, params, *log);
  REQUIRE(first);
  CHECK(first->status == kiln::batch_status::failed);
  auto first_steps = store->step_executions(first->execution_id);
  REQUIRE(first_steps.size() == 1);
  CHECK(first_steps[0].counts.write == 50);  // five committed chunks

  fail_at = -1;
  processed = 0;
  auto second = kiln::run_job(copy_job, params, *log);
  REQUIRE(second);
  CHECK(second->status == kiln::batch_status::completed);
  auto steps = store->step_executions(second->execution_id);
  REQUIRE(steps.size() == 1);
  CHECK(steps[0].counts.read == 45);  // the restarted step execution reads only the rest
  CHECK(processed == 45);             // only the keys after the last committed one were read again
  auto copied = read_all({.path = target});
  auto expected = numbered("item-", 95);
  for (auto& kv : expected) kv.value += "!";
  CHECK(copied == expected);
}
