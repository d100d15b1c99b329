// Fault tolerance of chunk steps over a real RocksDB folder, by Spring Batch's rules: retry and
// skip in process and write, the skip limit shared by the phases, backoff, no-rollback errors,
// the write-failure scan, and the skip log across a failure and a restart.

#include "support/job_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_items.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

using namespace kiln;
using namespace kiln::test;
using namespace std::chrono_literals;

namespace {

struct harmless_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes into a shared vector (truncated to its checkpoint on open, like a file writer) and
// throws after writing the items before a bad one, so a rollback must undo part of a write.
struct failing_sink {
  std::vector<int> out;
  std::set<int> bad;                 // write() throws write_failure when a chunk holds one, every time
  std::map<int, int> transient;      // item -> failures left (throws transient_failure)
  std::set<int> fail_update_after;   // update() throws once when `out` reaches one of these sizes
  std::vector<std::vector<int>> writes;
};

class failing_writer final : public item_writer<int> {
 public:
  explicit failing_writer(std::shared_ptr<failing_sink> s) : s_(std::move(s)) {}
  void open(step_context& ctx) override {
    std::size_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = static_cast<std::size_t>(p->as_int64());
    s_->out.resize(keep);
  }
  void write(const chunk<int>& items) override {
    s_->writes.push_back(items);
    for (int i : items) {
      if (s_->bad.contains(i)) throw write_failure("cannot write item " + std::to_string(i));
      if (auto t = s_->transient.find(i); t != s_->transient.end() && t->second > 0) {
        --t->second;
        throw transient_failure("transient write failure at item " + std::to_string(i));
      }
      s_->out.push_back(i);
    }
  }
  void update(execution_context& ctx) override {
    if (s_->fail_update_after.erase(static_cast<int>(s_->out.size()))) throw io_error("disk full");
    ctx["out.size"] = static_cast<std::int64_t>(s_->out.size());
  }

 private:
  std::shared_ptr<failing_sink> s_;
};

struct fixture : job_fixture {
  std::shared_ptr<number_source> src = std::make_shared<number_source>();
  std::shared_ptr<failing_sink> sink = std::make_shared<failing_sink>();
  std::shared_ptr<std::map<int, int>> calls = std::make_shared<std::map<int, int>>();  // processor calls per item

  fixture() { src->n = 20; }

  // A step over 1..n whose processor throws `E` for items while `fail(i, call)` says so.
  template <class E = transient_failure>
  chunk_step<int> step(std::function<bool(int, int)> fail = {}, std::int64_t interval = 5) {
    auto c = calls;
    return std::move(chunk_step<int>("numbers")
                         .reader(number_reader(src))
                         .processor([c, fail](int i) -> std::optional<int> {
                           const int n = ++(*c)[i];
                           if (fail && fail(i, n)) throw E("process failure at item " + std::to_string(i));
                           return i;
                         })
                         .writer(failing_writer(sink))
                         .commit_interval(interval));
  }

  step_counts counts(const run_result& r) { return store->step_executions(r.execution_id).at(0).counts; }
};

std::vector<int> iota_without(int n, std::set<int> without = {}) {
  std::vector<int> v;
  for (int i = 1; i <= n; ++i) {
    if (!without.contains(i)) v.push_back(i);
  }
  return v;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("retry in process: the chunk is rolled back and processed again from its buffer", "[framework][fault]") {
  fixture f;
  auto j = job_builder("j")
               .step(f.step([](int i, int call) { return i == 7 && call <= 2; })
                         .retry<transient_failure>()
                         .retry_limit(3))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.retry == 2);
  CHECK(c.rollback == 2);
  CHECK(c.process_skip == 0);
  CHECK(c.read == 20);
  CHECK(c.write == 20);
  CHECK(f.src->reads == 20);      // never re-read
  CHECK((*f.calls)[7] == 3);      // failed twice, then succeeded
  CHECK((*f.calls)[6] == 3);      // the chunk's earlier item is processed again each pass
  CHECK((*f.calls)[11] == 1);
  CHECK(f.sink->out == iota_without(20));
}

TEST_CASE("retry in process: exhausted retries skip a skippable item, else fail the step", "[framework][fault]") {
  fixture f;
  SECTION("skippable: skipped after retry_limit attempts and one more rollback") {
    auto j = job_builder("j")
                 .step(f.step([](int i, int) { return i == 7; })
                           .retry<transient_failure>()
                           .retry_limit(3)
                           .skip<transient_failure>()
                           .skip_limit(1))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    auto c = f.counts(r);
    CHECK((*f.calls)[7] == 3);  // the recovery pass skips it without calling the processor
    CHECK(c.retry == 2);
    CHECK(c.rollback == 3);
    CHECK(c.process_skip == 1);
    CHECK(c.write == 19);
    CHECK(f.sink->out == iota_without(20, {7}));
  }
  SECTION("not skippable: the step fails; the failed chunk's retries and rollbacks are counted") {
    auto j = job_builder("j")
                 .step(f.step([](int i, int) { return i == 7; }).retry<transient_failure>().retry_limit(3))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("process failure at item 7"));
    auto c = f.counts(r);
    CHECK((*f.calls)[7] == 3);
    CHECK(c.retry == 2);
    CHECK(c.rollback == 3);
    CHECK(c.write == 5);
  }
}

TEST_CASE("a skippable process error rolls back once and the item is skipped without a second call",
          "[framework][fault]") {
  fixture f;
  auto j = job_builder("j")
               .step(f.step<harmless_error>([](int i, int) { return i == 7 || i == 9; })
                         .skip<harmless_error>()
                         .skip_limit(5))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.process_skip == 2);
  CHECK(c.rollback == 2);
  CHECK(c.retry == 0);
  CHECK((*f.calls)[7] == 1);
  CHECK((*f.calls)[9] == 1);
  CHECK((*f.calls)[6] == 3);  // processed in each of the three passes over its chunk
  CHECK(f.sink->out == iota_without(20, {7, 9}));
}

TEST_CASE("no_rollback: a skippable processor error is skipped in place", "[framework][fault]") {
  fixture f;
  SECTION("skippable") {
    auto j = job_builder("j")
                 .step(f.step<harmless_error>([](int i, int) { return i == 7; })
                           .skip<harmless_error>()
                           .no_rollback<harmless_error>()
                           .skip_limit(5))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    auto c = f.counts(r);
    CHECK(c.process_skip == 1);
    CHECK(c.rollback == 0);
    CHECK((*f.calls)[6] == 1);  // no second pass
    CHECK(f.sink->out == iota_without(20, {7}));
  }
  SECTION("not skippable: a configuration error that fails the step, saying so") {
    auto j = job_builder("j")
                 .step(f.step<harmless_error>([](int i, int) { return i == 7; })
                           .skip<parse_error>()
                           .no_rollback<harmless_error>())
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("no-rollback") && Catch::Contains("not skippable"));
  }
}

TEST_CASE("write failure: the chunk is rescanned item by item and only the bad item is skipped",
          "[framework][fault]") {
  fixture f;
  f.sink->bad = {13};
  auto j = job_builder("j").step(f.step().skip<write_failure>().skip_limit(5)).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.write_skip == 1);
  CHECK(c.write == 19);
  CHECK(c.rollback == 2);  // the chunk's write, then item 13's own write in the scan
  CHECK(c.commit == 5);    // four chunks and the empty one at the end: the scan commits once
  CHECK(f.sink->out == iota_without(20, {13}));  // the partial write of 11, 12 was rolled back
  // The scan wrote each item of the chunk alone, in order.
  std::vector<std::vector<int>> singles;
  for (const auto& w : f.sink->writes) {
    if (w.size() == 1) singles.push_back(w);
  }
  CHECK(singles == std::vector<std::vector<int>>{{11}, {12}, {13}, {14}, {15}});
  CHECK((*f.calls)[11] == 2);  // processed in the chunk, then alone in the scan
  CHECK(f.src->reads == 20);
}

TEST_CASE("write failure: several bad items in one chunk, and the skip limit", "[framework][fault]") {
  fixture f;
  f.sink->bad = {12, 14};
  SECTION("within the limit") {
    auto j = job_builder("j").step(f.step().skip<write_failure>().skip_limit(2)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    CHECK(f.counts(r).write_skip == 2);
    CHECK(f.sink->out == iota_without(20, {12, 14}));
  }
  SECTION("over the limit fails the step") {
    auto j = job_builder("j").step(f.step().skip<write_failure>().skip_limit(1)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("skip limit 1 exceeded") && Catch::Contains("item 14"));
  }
  SECTION("a write error that is not skippable fails the step") {
    auto j = job_builder("j").step(f.step().skip<parse_error>().skip_limit(5)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("cannot write item 12"));
    CHECK(f.counts(r).write == 10);
  }
}

TEST_CASE("write retry: the chunk is processed and written again; output has no duplicates", "[framework][fault]") {
  fixture f;
  f.sink->transient = {{13, 2}};
  auto j = job_builder("j").step(f.step().retry<transient_failure>().retry_limit(3)).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.retry == 2);
  CHECK(c.rollback == 2);
  CHECK(c.write == 20);
  CHECK((*f.calls)[11] == 3);
  CHECK(f.sink->out == iota_without(20));
}

TEST_CASE("write retry exhausted on a skippable error falls back to the scan", "[framework][fault]") {
  fixture f;
  f.sink->bad = {13};
  auto j = job_builder("j")
               .step(f.step().retry<write_failure>().retry_limit(2).skip<write_failure>().skip_limit(1))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.retry == 1);
  CHECK(c.write_skip == 1);
  CHECK(c.rollback == 3);  // two failed chunk writes, then 13 alone
  CHECK(f.sink->out == iota_without(20, {13}));
}

TEST_CASE("the skip limit is shared by read, process and write", "[framework][fault]") {
  fixture f;
  f.src->bad_items = {3};  // parse_error on read
  f.sink->bad = {13};
  auto make = [&](std::int64_t limit) {
    return job_builder("j")
        .step(f.step<harmless_error>([](int i, int) { return i == 8; })
                  .skip<parse_error>()
                  .skip<harmless_error>()
                  .skip<write_failure>()
                  .skip_limit(limit))
        .build();
  };
  SECTION("three skips within a limit of 3") {
    auto r = f.run(make(3));
    CHECK(r.status == batch_status::completed);
    auto c = f.counts(r);
    CHECK(c.read_skip == 1);
    CHECK(c.process_skip == 1);
    CHECK(c.write_skip == 1);
    CHECK(c.skip() == 3);
    CHECK(f.sink->out == iota_without(20, {3, 8, 13}));
  }
  SECTION("the third skip exceeds a limit of 2") {
    auto r = f.run(make(2));
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("skip limit 2 exceeded") && Catch::Contains("item 13"));
  }
}

TEST_CASE("no_skip excludes a class from the skippable ones", "[framework][fault]") {
  fixture f;
  auto j = job_builder("j")
               .step(f.step<transient_failure>([](int i, int) { return i == 4; })
                         .skip<std::runtime_error>()
                         .no_skip<transient_failure>()
                         .skip_limit(5))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::failed);
  CHECK_THAT(r.exit.description, Catch::Contains("process failure at item 4"));
}

TEST_CASE("backoff: the pauses follow the policy", "[framework][fault]") {
  std::mt19937_64 rng(1);
  const backoff_policy exp = backoff::exponential{20ms, 2.0, 50ms, false};
  CHECK(backoff_delay(exp, 1, rng) == 20ms);
  CHECK(backoff_delay(exp, 2, rng) == 40ms);
  CHECK(backoff_delay(exp, 3, rng) == 50ms);
  CHECK(backoff_delay(backoff::fixed{15ms}, 4, rng) == 15ms);
  CHECK(backoff_delay(backoff::none{}, 1, rng) == 0ms);
  const backoff_policy jittered = backoff::exponential{100ms, 3.0, 10000ms, true};
  for (int i = 0; i < 50; ++i) {
    const auto d = backoff_delay(jittered, 2, rng);  // 300 ms times a factor in [1, 3)
    CHECK(d >= 300ms);
    CHECK(d <= 900ms);
  }

  fixture f;
  auto j = job_builder("j")
               .step(f.step([](int i, int call) { return i == 7 && call <= 3; })
                         .retry<transient_failure>()
                         .retry_limit(4)
                         .backoff(backoff::exponential{20ms, 2.0, 50ms, false}))
               .build();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = f.run(j);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.status == batch_status::completed);
  CHECK(f.counts(r).retry == 3);
  CHECK(took >= 110ms);  // 20 + 40 + 50
  CHECK(took < 3000ms);
}

TEST_CASE("skip log: one JSON line per skip with phase, error and item", "[framework][fault]") {
  fixture f;
  f.src->bad_items = {3};
  f.sink->bad = {13};
  int skips_heard = 0;
  auto j = job_builder("j")
               .step(f.step<harmless_error>([](int i, int) { return i == 8; })
                         .skip<parse_error>()
                         .skip<harmless_error>()
                         .skip<write_failure>()
                         .skip_limit(5)
                         .listener(skip_listener<int, int>{
                             .on_skip_in_read = [&](const std::exception_ptr&) { ++skips_heard; },
                             .on_skip_in_process = [&](const int&, const std::exception_ptr&) { ++skips_heard; },
                             .on_skip_in_write = [&](const int&, const std::exception_ptr&) { ++skips_heard; }}))
               .build();
  auto r = f.run(j);
  REQUIRE(r.status == batch_status::completed);
  CHECK(skips_heard == 3);
  const auto st = f.store->step_executions(r.execution_id).at(0);
  const auto path = skip_log::path_for(f.store->dir(), r.execution_id, st.id);
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 3);
  auto rec = [&](std::size_t k) { return boost::json::parse(lines[k]).as_object(); };
  CHECK(rec(0).at("phase") == "read");
  CHECK_THAT(std::string(rec(0).at("error").as_string()), Catch::Contains("bad item"));
  CHECK_FALSE(rec(0).contains("item"));
  CHECK(rec(0).at("step") == "numbers");
  CHECK(rec(0).at("execution_id") == r.execution_id);
  CHECK(rec(1).at("phase") == "process");
  CHECK(rec(1).at("item") == 8);
  CHECK(rec(2).at("phase") == "write");
  CHECK(rec(2).at("item") == 13);
  CHECK_THAT(std::string(rec(2).at("error").as_string()), Catch::Contains("cannot write item 13"));
}

TEST_CASE("skip log: a failure after the log was written and a restart log each skip once", "[framework][fault][restart]") {
  fixture f;
  f.src->bad_items = {3, 12};
  f.sink->fail_update_after = {15};  // the chunk 12..17 (12 skipped) fails after its skip was logged
  auto j = job_builder("j").step(f.step().skip<parse_error>().skip_limit(5)).build();
  auto first = f.run(j);
  REQUIRE(first.status == batch_status::failed);
  const auto s1 = f.store->step_executions(first.execution_id).at(0);
  const auto log1 = skip_log::path_for(f.store->dir(), first.execution_id, s1.id);
  CHECK(lines_of(log1).size() == 2);  // 12's record reached the file before the failed commit

  auto second = f.run(j);
  REQUIRE(second.status == batch_status::completed);
  const auto s2 = f.store->step_executions(second.execution_id).at(0);
  const auto log2 = skip_log::path_for(f.store->dir(), second.execution_id, s2.id);
  const auto l1 = lines_of(log1);
  const auto l2 = lines_of(log2);
  REQUIRE(l1.size() == 1);  // truncated to the last commit
  REQUIRE(l2.size() == 1);
  CHECK_THAT(l1[0], Catch::Contains("numbers:3:"));
  CHECK_THAT(l2[0], Catch::Contains("numbers:12:"));
  CHECK(f.sink->out == iota_without(20, {3, 12}));
  CHECK(s1.counts.read_skip + s2.counts.read_skip == 2);
}

TEST_CASE("skip log: can be turned off", "[framework][fault]") {
  fixture f;
  f.src->bad_items = {3};
  auto j = job_builder("j").step(f.step().skip<parse_error>().skip_limit(5).skip_log(false)).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  CHECK_FALSE(std::filesystem::exists(f.store->dir() / "skips"));
}

TEST_CASE("fault tolerance with threads(n): same counts and output as on one thread", "[framework][fault]") {
  fixture f;
  f.sink->bad = {13};
  f.src->bad_items = {3};
  auto j = job_builder("j")
               .step(chunk_step<int>("numbers")
                         .reader(number_reader(f.src))
                         .processor([](int i) -> std::optional<int> {  // no shared state: runs on 2 threads
                           if (i == 8) throw harmless_error("process failure at item 8");
                           return i;
                         })
                         .writer(failing_writer(f.sink))
                         .commit_interval(5)
                         .threads(2)
                         .skip<parse_error>()
                         .skip<harmless_error>()
                         .skip<write_failure>()
                         .skip_limit(5))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto c = f.counts(r);
  CHECK(c.read_skip == 1);
  CHECK(c.process_skip == 1);
  CHECK(c.write_skip == 1);
  CHECK(c.rollback == 3);  // 8 in process, the chunk 11..15 at write, then 13 alone
  CHECK(f.sink->out == iota_without(20, {3, 8, 13}));
}

namespace {
struct not_std_base {};
struct not_std_derived : not_std_base {};
// Two std::exception bases: `catch (const std::exception&)` cannot bind it.
struct two_bases : std::runtime_error, std::logic_error {
  two_bases() : std::runtime_error("runtime side"), std::logic_error("logic side") {}
};
template <class E>
std::exception_ptr thrown(E e) {
  return std::make_exception_ptr(std::move(e));
}
}  // namespace

TEST_CASE("exception classes match a class and what derives from it, std or not", "[framework][fault]") {
  exception_classes std_classes;
  std_classes.add<std::runtime_error>();
  exception_classes other_classes;
  other_classes.add<not_std_base>();
  other_classes.add<int>();

  const auto parse = thrown(parse_error("f.csv", 3, "amount", "not a number: 'x'"));
  const auto logic = thrown(std::logic_error("bug"));
  const auto derived = thrown(not_std_derived{});
  const auto number = thrown(7);
  const auto both = thrown(two_bases{});
  // Alternating errors: the last one found is remembered per thread, which must not confuse them.
  for (int round = 0; round < 2; ++round) {
    CHECK(std_classes.matches(parse));
    CHECK_FALSE(std_classes.matches(logic));
    CHECK_FALSE(std_classes.matches(derived));
    CHECK_FALSE(std_classes.matches(number));
    CHECK(std_classes.matches(both));  // by rethrowing: it is no single std::exception
    CHECK(other_classes.matches(derived));
    CHECK(other_classes.matches(number));
    CHECK_FALSE(other_classes.matches(parse));
    CHECK_FALSE(other_classes.matches(both));
    CHECK_FALSE(std_classes.matches(std::exception_ptr()));
    CHECK_FALSE(exception_classes().matches(parse));
  }
  CHECK(describe_exception(parse) == "f.csv:3: field 'amount': not a number: 'x'");
  CHECK(describe_exception(logic) == "bug");
  CHECK(describe_exception(number) == "unknown error");
  CHECK(describe_exception(both) == "unknown error");
  CHECK(describe_exception(parse) == "f.csv:3: field 'amount': not a number: 'x'");
}
