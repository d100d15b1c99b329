// A fault-tolerant chunk step over a repeatable reader hands its processor the items themselves
// (no copies) and, when a rollback needs them again, reads the chunk again from the last commit.
// Each scenario runs twice, with the reader repeatable and not (where the step keeps copies), and
// the two runs must agree on everything a user sees: output, counts, processor calls, skipped
// items. The items are long strings and the processor moves them out, so a chunk processed again
// from consumed items would show empty strings.
//
// Each scenario also runs with process_in_place(), whose pass changes the items where they were
// read and writes that chunk: its processor moves the item out and puts it back only when it
// succeeds, so an item processed again without being read again would show as empty.
//
// Each scenario also runs a fourth time with write_behind() (without listeners, which it refuses):
// output, counts, skip log and outcome must be those of the step in line; so must the processor
// calls, except that a chunk whose write failed behind is processed once more.

#include "support/job_fixture.hpp"
#include "support/test_items.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <set>

using namespace kiln;
using namespace kiln::test;

namespace {

struct process_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string item(int i) { return "item-" + std::to_string(i) + "-with-a-name-longer-than-sso"; }

struct source {
  int n = 20;
  bool repeatable = true;
  std::set<int> bad;                 // read() throws parse_error for these, every time
  std::map<int, int> transient;      // read() throws transient_failure this many times
  bool ends_early_on_reopen = false;  // breaks the promise: after a reopen, the input looks empty
  int opens = 0;
  int reads = 0;
};

class string_reader final : public item_reader<std::string> {
 public:
  explicit string_reader(std::shared_ptr<source> src) : src_(std::move(src)) {}
  void open(step_context& ctx) override {
    next_ = 1;
    if (const auto* p = ctx.context().if_contains("strings.next")) next_ = static_cast<int>(p->as_int64());
    reopened_ = src_->opens++ > 0;
  }
  std::optional<std::string> read() override {
    if (next_ > src_->n || (reopened_ && src_->ends_early_on_reopen)) return std::nullopt;
    const int i = next_++;
    ++src_->reads;
    if (auto t = src_->transient.find(i); t != src_->transient.end() && t->second > 0) {
      --t->second;
      throw transient_failure("transient read failure at " + std::to_string(i));
    }
    if (src_->bad.contains(i)) throw parse_error("strings", i, "value", "bad item");
    return item(i);
  }
  void update(execution_context& ctx) override { ctx["strings.next"] = next_; }
  [[nodiscard]] bool repeatable() const override { return src_->repeatable; }

 private:
  std::shared_ptr<source> src_;
  int next_ = 1;
  bool reopened_ = false;
};

struct sink {
  std::vector<std::string> out;
  std::set<std::string> bad;             // write() throws write_failure for a chunk holding one
  std::map<std::string, int> transient;  // write() throws transient_failure this many times
};

class string_writer final : public item_writer<std::string> {
 public:
  explicit string_writer(std::shared_ptr<sink> s) : s_(std::move(s)) {}
  void open(step_context& ctx) override {
    std::size_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = static_cast<std::size_t>(p->as_int64());
    s_->out.resize(keep);
  }
  void write(const chunk<std::string>& items) override {
    for (const auto& s : items) {
      if (s.empty()) throw std::logic_error("an empty item reached the writer: processed from a consumed input");
      if (s_->bad.contains(s)) throw write_failure("cannot write " + s);
      if (auto t = s_->transient.find(s); t != s_->transient.end() && t->second > 0) {
        --t->second;
        throw transient_failure("transient write failure at " + s);
      }
      s_->out.push_back(s);
    }
  }
  void update(execution_context& ctx) override { ctx["out.size"] = static_cast<std::int64_t>(s_->out.size()); }

 private:
  std::shared_ptr<sink> s_;
};

// What a user sees of one run.
struct outcome {
  batch_status status = batch_status::starting;
  std::string description;
  step_counts counts;
  std::vector<std::string> out;
  std::map<std::string, int> calls;  // processor calls per item
  std::vector<std::string> seen;     // items the processor received, in order
  std::vector<std::string> skipped;  // "phase:item" as the skip listener heard them
  int after_read = 0;                // after_read notifications
  int reads = 0;                     // read() calls that reached an item or an error
  int opens = 0;
  std::string skip_log;  // the skip log file, empty when none was written
};

struct scenario {
  std::function<void(source&, sink&)> setup;
  std::set<std::string> process_fails;       // the processor throws process_failure, every time
  std::map<std::string, int> process_flaky;  // the processor throws transient_failure this many times
  std::function<void(chunk_step<std::string>&)> tolerate;
  int threads = 1;  // with more, `seen` is in the order the threads got there
  int stop_at = 0;  // a stop is requested when the processor reaches this item
};

// How the step runs: keeping copies of the items (a reader that is not repeatable), reading a
// chunk again after a rollback (repeatable), processing in place (repeatable), or writing behind
// (repeatable, no listeners).
enum class mode { copied, reread, in_place, behind };

outcome run(const scenario& sc, mode m) {
  job_fixture f;
  auto src = std::make_shared<source>();
  src->repeatable = m != mode::copied;
  auto snk = std::make_shared<sink>();
  if (sc.setup) sc.setup(*src, *snk);
  auto o = std::make_shared<outcome>();
  auto flaky = std::make_shared<std::map<std::string, int>>(sc.process_flaky);
  auto mu = std::make_shared<std::mutex>();  // the processor may run on several threads
  auto stop = std::make_shared<std::atomic<bool>>(false);
  auto process = [o, fails = sc.process_fails, flaky, mu, stop,
                  stop_item = sc.stop_at ? item(sc.stop_at) : ""](std::string& mine) {
    std::lock_guard lock(*mu);
    if (mine == stop_item) *stop = true;
    o->seen.push_back(mine);
    ++o->calls[mine];
    if (fails.contains(mine)) throw process_failure("cannot process " + mine);
    if (auto t = flaky->find(mine); t != flaky->end() && t->second > 0) {
      --t->second;
      throw transient_failure("transient process failure at " + mine);
    }
  };
  auto step = chunk_step<std::string>("strings").reader(string_reader(src)).writer(string_writer(snk)).commit_interval(5);
  if (m == mode::in_place) {
    step.process_in_place([process](std::string& s) mutable {
      std::string mine = std::move(s);  // left empty if processing fails
      process(mine);
      s = std::move(mine);
    });
  } else {
    step.processor([process](std::string&& s) mutable -> std::optional<std::string> {
      std::string mine = std::move(s);  // consumes the input
      process(mine);
      return mine;
    });
  }
  if (m == mode::behind) {
    step.write_behind();
  } else {
    step.listener(item_read_listener<std::string>{.after_read = [o](const std::string&) { ++o->after_read; }});
    step.listener(skip_listener<std::string, std::string>{
        .on_skip_in_read = [o](const std::exception_ptr&) { o->skipped.push_back("read"); },
        .on_skip_in_process = [o](const std::string& s, const std::exception_ptr&) { o->skipped.push_back("process:" + s); },
        .on_skip_in_write = [o](const std::string& s, const std::exception_ptr&) { o->skipped.push_back("write:" + s); }});
  }
  if (sc.tolerate) sc.tolerate(step);
  step.threads(sc.threads);
  auto r = f.run(job_builder("j").step(std::move(step)).build(), stop.get());
  o->status = r.status;
  o->description = r.exit.description;
  o->counts = f.store->step_executions(r.execution_id).at(0).counts;
  o->out = snk->out;
  o->reads = src->reads;
  o->opens = src->opens;
  if (const auto log = f.dir.path() / "data" / "skips" / "1" / "1.jsonl"; std::filesystem::exists(log)) {
    o->skip_log = read_file(log);
  }
  return *o;
}

// What every way of running must agree on.
void check_same(const outcome& a, const outcome& b) {
  CHECK(a.status == b.status);
  CHECK(a.description == b.description);
  CHECK(a.counts.read == b.counts.read);
  CHECK(a.counts.write == b.counts.write);
  CHECK(a.counts.filter == b.counts.filter);
  CHECK(a.counts.read_skip == b.counts.read_skip);
  CHECK(a.counts.process_skip == b.counts.process_skip);
  CHECK(a.counts.write_skip == b.counts.write_skip);
  CHECK(a.counts.rollback == b.counts.rollback);
  CHECK(a.counts.retry == b.counts.retry);
  CHECK(a.counts.commit == b.counts.commit);
  CHECK(a.out == b.out);
  CHECK(a.skip_log == b.skip_log);
}

bool writes_fail(const scenario& sc) {
  source src;
  sink snk;
  if (sc.setup) sc.setup(src, snk);
  return !snk.bad.empty() || !snk.transient.empty();
}

// Runs the scenario the three ways; they must agree. Returns the repeatable run.
outcome both_ways(const scenario& sc) {
  const auto copied = run(sc, mode::copied);
  const auto reread = run(sc, mode::reread);
  check_same(reread, copied);
  CHECK(reread.calls == copied.calls);
  if (sc.threads == 1) CHECK(reread.seen == copied.seen);
  CHECK(reread.skipped == copied.skipped);
  CHECK(reread.after_read == copied.after_read);  // the second read of a chunk is not heard
  CHECK(copied.opens == 1);                       // copies: the reader is never reopened
  const auto in_place = run(sc, mode::in_place);
  check_same(in_place, reread);
  CHECK(in_place.calls == reread.calls);
  if (sc.threads == 1) CHECK(in_place.seen == reread.seen);
  CHECK(in_place.skipped == reread.skipped);
  CHECK(in_place.after_read == reread.after_read);
  CHECK(in_place.opens == reread.opens);
  const auto behind = run(sc, mode::behind);
  check_same(behind, reread);
  if (!writes_fail(sc)) CHECK(behind.calls == reread.calls);
  return reread;
}

std::vector<std::string> items_without(int n, std::set<int> without = {}) {
  std::vector<std::string> v;
  for (int i = 1; i <= n; ++i) {
    if (!without.contains(i)) v.push_back(item(i));
  }
  return v;
}

}  // namespace

TEST_CASE("repeatable reader: no rollback, no second read", "[framework][fault]") {
  scenario sc;
  sc.tolerate = [](auto& s) { s.template skip<process_failure>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.out == items_without(20));
  CHECK(o.opens == 1);
  CHECK(o.reads == 20);
}

TEST_CASE("repeatable reader: a process retry reads the chunk again and processes intact items", "[framework][fault]") {
  scenario sc;
  sc.process_flaky = {{item(7), 2}};
  sc.tolerate = [](auto& s) { s.template retry<transient_failure>().retry_limit(3); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.retry == 2);
  CHECK(o.counts.rollback == 2);
  CHECK(o.calls.at(item(6)) == 3);
  CHECK(o.out == items_without(20));
  CHECK(o.opens == 2);        // reopened once: passes after the first rollback copy
  CHECK(o.reads == 20 + 5);   // the chunk 6..10 read a second time
}

TEST_CASE("repeatable reader: a process skip reports the intact item", "[framework][fault]") {
  scenario sc;
  sc.process_fails = {item(7), item(9)};
  sc.tolerate = [](auto& s) { s.template skip<process_failure>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.process_skip == 2);
  CHECK(o.skipped == std::vector<std::string>{"process:" + item(7), "process:" + item(9)});
  CHECK(o.out == items_without(20, {7, 9}));
}

TEST_CASE("repeatable reader: a write failure scans intact items", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source&, sink& k) { k.bad = {item(13)}; };
  sc.tolerate = [](auto& s) { s.template skip<write_failure>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.write_skip == 1);
  CHECK(o.skipped == std::vector<std::string>{"write:" + item(13)});
  CHECK(o.out == items_without(20, {13}));
}

TEST_CASE("repeatable reader: a write retry", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source&, sink& k) { k.transient = {{item(4), 1}}; };
  sc.tolerate = [](auto& s) { s.template retry<transient_failure>().retry_limit(2); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.retry == 1);
  CHECK(o.out == items_without(20));
}

TEST_CASE("repeatable reader: read skips in a rolled-back chunk are counted and reported once", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source& s, sink&) { s.bad = {6, 8}; };
  sc.process_fails = {item(9)};
  sc.tolerate = [](auto& s) { s.template skip<parse_error>().template skip<process_failure>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.read_skip == 2);
  CHECK(o.counts.process_skip == 1);
  CHECK(o.out == items_without(20, {6, 8, 9}));
}

TEST_CASE("repeatable reader: an item whose read failed once and was skipped stays skipped", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source& s, sink&) { s.transient = {{8, 1}}; };  // reads fine the second time
  sc.process_fails = {item(9)};
  sc.tolerate = [](auto& s) { s.template skip<transient_failure>().template skip<process_failure>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.read_skip == 1);
  CHECK(o.out == items_without(20, {8, 9}));
}

TEST_CASE("repeatable reader: a reader that cannot read the chunk again fails the step clearly", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source& s, sink&) { s.ends_early_on_reopen = true; };
  sc.process_fails = {item(7)};
  sc.tolerate = [](auto& s) { s.template skip<process_failure>().skip_limit(5); };
  const auto o = run(sc, mode::reread);
  CHECK(o.status == batch_status::failed);
  CHECK_THAT(o.description, Catch::Contains("repeatable"));
  CHECK(o.out == items_without(5));  // the first chunk was committed; nothing of the second
}

TEST_CASE("repeatable reader: with threads(2), the pool's first pass consumes the items and a retry reads them again",
          "[framework][fault]") {
  scenario sc;
  sc.threads = 2;
  sc.process_flaky = {{item(7), 1}};
  sc.process_fails = {item(13)};
  sc.tolerate = [](auto& s) {
    s.template retry<transient_failure>().retry_limit(2).template skip<process_failure>().skip_limit(5);
  };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.retry == 1);
  CHECK(o.counts.process_skip == 1);
  CHECK(o.skipped == std::vector<std::string>{"process:" + item(13)});
  CHECK(o.out == items_without(20, {13}));
}

TEST_CASE("write-behind: a write failure without skip or retry fails the step at the same commit", "[framework][fault]") {
  scenario sc;
  sc.setup = [](source&, sink& k) { k.bad = {item(13)}; };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::failed);
  CHECK(o.counts.commit == 2);
  CHECK(o.out == items_without(12));  // what the writer took before it failed; a restart truncates to 10
}

TEST_CASE("write-behind: a write retried after it failed behind goes on in line with the same counts",
          "[framework][fault]") {
  scenario sc;
  sc.setup = [](source&, sink& k) { k.transient = {{item(8), 2}, {item(19), 1}}; };
  sc.tolerate = [](auto& s) { s.template retry<transient_failure>().retry_limit(3); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::completed);
  CHECK(o.counts.retry == 3);
  CHECK(o.out == items_without(20));
  const auto behind = run(sc, mode::behind);
  CHECK(behind.calls.at(item(6)) == o.calls.at(item(6)) + 1);  // the chunk is processed once more
  CHECK(behind.calls.at(item(1)) == 1);
}

TEST_CASE("write-behind: a stop commits the chunk in hand", "[framework]") {
  scenario sc;
  sc.stop_at = 12;
  sc.setup = [](source& s, sink&) { s.bad = {4}; };
  sc.tolerate = [](auto& s) { s.template skip<parse_error>().skip_limit(5); };
  const auto o = both_ways(sc);
  CHECK(o.status == batch_status::stopped);
  CHECK(o.counts.commit == 3);
  CHECK(o.out == items_without(16, {4}));  // chunks of five items: 1-6 without 4, 7-11, 12-16
  CHECK_THAT(o.skip_log, Catch::Contains("\"phase\":\"read\""));
}

TEST_CASE("write-behind: refused with listeners, and with skip over a reader that is not repeatable",
          "[framework]") {
  job_fixture f;
  auto out = std::make_shared<sink>();
  auto with_listener = chunk_step<std::string>("strings")
                           .reader(string_reader(std::make_shared<source>()))
                           .writer(string_writer(out))
                           .write_behind();
  with_listener.listener(chunk_listener{.before_chunk = [](step_context&) {}});
  auto r = f.run(job_builder("j").step(std::move(with_listener)).build());
  CHECK(r.status == batch_status::failed);
  CHECK_THAT(r.exit.description, Catch::Contains("write_behind() cannot be combined with chunk, item or skip listeners"));

  auto once = std::make_shared<source>();
  once->repeatable = false;
  auto skipping = chunk_step<std::string>("strings")
                      .reader(string_reader(once))
                      .writer(string_writer(out))
                      .skip<parse_error>()
                      .skip_limit(3)
                      .write_behind();
  f.params.set("run", {std::string("2"), true});
  r = f.run(job_builder("j").step(std::move(skipping)).build());
  CHECK(r.status == batch_status::failed);
  CHECK_THAT(r.exit.description, Catch::Contains("needs a repeatable reader"));
  CHECK(out->out.empty());
}

TEST_CASE("process_in_place: false filters the item, which a rollback does not process again", "[framework][fault]") {
  job_fixture f;
  auto src = std::make_shared<source>();
  auto snk = std::make_shared<sink>();
  auto calls = std::make_shared<std::map<std::string, int>>();
  auto step = chunk_step<std::string>("strings")
                  .reader(string_reader(src))
                  .process_in_place([calls](std::string& s) {
                    ++(*calls)[s];
                    if (s == item(3) || s == item(8)) return false;
                    s += "!";
                    return true;
                  })
                  .writer(string_writer(snk))
                  .commit_interval(5)
                  .retry<transient_failure>()
                  .retry_limit(2);
  snk->transient = {{item(9) + "!", 1}};
  auto r = f.run(job_builder("j").step(std::move(step)).build());
  REQUIRE(r.status == batch_status::completed);
  const auto counts = f.store->step_executions(r.execution_id).at(0).counts;
  CHECK(counts.filter == 2);
  CHECK(counts.write == 18);
  CHECK(counts.retry == 1);
  CHECK(calls->at(item(8)) == 1);   // filtered before the rollback: not processed again
  CHECK(calls->at(item(9)) == 2);   // processed again on a copy read from the reader
  CHECK(src->opens == 2);           // the chunk 6..10 was read again
  std::vector<std::string> expected;
  for (const auto& s : items_without(20, {3, 8})) expected.push_back(s + "!");
  CHECK(snk->out == expected);
}

TEST_CASE("no processor: items pass through in place, and a write retry reads the chunk again", "[framework][fault]") {
  job_fixture f;
  auto src = std::make_shared<source>();
  auto snk = std::make_shared<sink>();
  snk->transient = {{item(12), 1}};
  auto step = chunk_step<std::string>("strings")
                  .reader(string_reader(src))
                  .writer(string_writer(snk))
                  .commit_interval(5)
                  .retry<transient_failure>()
                  .retry_limit(2);
  auto r = f.run(job_builder("j").step(std::move(step)).build());
  REQUIRE(r.status == batch_status::completed);
  CHECK(f.store->step_executions(r.execution_id).at(0).counts.retry == 1);
  CHECK(src->opens == 2);
  CHECK(snk->out == items_without(20));
}

TEST_CASE("repeatable reader: a processor error before read skips of the same chunk counts as when the chunk is read first",
          "[framework][fault]") {
  for (const std::int64_t limit : {1, 2, 3}) {
    scenario sc;
    sc.setup = [](source& s, sink&) { s.bad = {8, 9}; };
    sc.process_fails = {item(7)};
    sc.tolerate = [limit](auto& s) { s.template skip<parse_error>().template skip<process_failure>().skip_limit(limit); };
    const auto o = both_ways(sc);
    if (limit < 3) {
      CHECK(o.status == batch_status::failed);
      // limit 1: the second read skip exceeds it; limit 2: the process skip after both reads does
      CHECK_THAT(o.description, Catch::Contains(limit == 1 ? "bad item" : "cannot process"));
    } else {
      CHECK(o.status == batch_status::completed);
      CHECK(o.out == items_without(20, {7, 8, 9}));
    }
  }
}
