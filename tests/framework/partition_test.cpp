// Local partitioning, splits and parallel chunk processing over a real RocksDB folder: results,
// order, and restarts that rerun only what did not complete.

#include "support/job_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_items.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/partition.hpp>
#include <kiln/split.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <map>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

using namespace kiln;
using namespace kiln::test;

namespace {

struct fixture : job_fixture {
  std::set<std::string> started_steps(std::int64_t execution) {
    std::set<std::string> names;
    for (const auto& s : store->step_executions(execution)) names.insert(s.step_name);
    return names;
  }
  step_execution_record step(std::int64_t execution, const std::string& name) {
    for (const auto& s : store->step_executions(execution)) {
      if (s.step_name == name) return s;
    }
    FAIL("no step " << name);
    return {};
  }
};

// Reads the numbers [partition.lo, partition.hi), restartably.
class range_reader final : public item_reader<int> {
 public:
  void open(step_context& ctx) override {
    next_ = static_cast<int>(ctx.parameters().get_int64("partition.lo"));
    hi_ = static_cast<int>(ctx.parameters().get_int64("partition.hi"));
    if (const auto* p = ctx.context().if_contains("range.next")) next_ = static_cast<int>(p->as_int64());
  }
  std::optional<int> read() override {
    if (next_ >= hi_) return std::nullopt;
    return next_++;
  }
  void update(execution_context& ctx) override { ctx["range.next"] = next_; }

 private:
  int next_ = 0;
  int hi_ = 0;
};

// One output vector per partition, truncated to its checkpoint on open (as a file writer is).
struct partition_outputs {
  std::array<std::vector<int>, 8> out;
};

class partition_writer final : public item_writer<int> {
 public:
  explicit partition_writer(std::shared_ptr<partition_outputs> o) : o_(std::move(o)) {}
  void open(step_context& ctx) override {
    v_ = &o_->out.at(static_cast<std::size_t>(ctx.parameters().get_int64("partition.index")));
    std::size_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = static_cast<std::size_t>(p->as_int64());
    v_->resize(keep);
  }
  void write(const chunk<int>& items) override { v_->insert(v_->end(), items.begin(), items.end()); }
  void update(execution_context& ctx) override { ctx["out.size"] = static_cast<std::int64_t>(v_->size()); }

 private:
  std::shared_ptr<partition_outputs> o_;
  std::vector<int>* v_ = nullptr;
};

// Splits [0, total) into grid_size ranges.
partitioner ranges(int total, std::shared_ptr<std::atomic<int>> calls = nullptr) {
  return [total, calls](const step_context&, std::int64_t grid) {
    if (calls) ++*calls;
    std::vector<partition_values> out;
    for (std::int64_t i = 0; i < grid; ++i) {
      partition_values p;
      p.set("partition.lo", {static_cast<std::int64_t>(total * i / grid), false});
      p.set("partition.hi", {static_cast<std::int64_t>(total * (i + 1) / grid), false});
      out.push_back(std::move(p));
    }
    return out;
  };
}

std::vector<int> iota(int from, int to) {
  std::vector<int> v(static_cast<std::size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

}  // namespace

TEST_CASE("partitioned step: partitions run concurrently, each on its own slice", "[framework][partition]") {
  fixture f;
  auto outs = std::make_shared<partition_outputs>();
  std::atomic<int> running{0}, max_running{0};
  auto worker = chunk_step<int>("numbers")
                    .reader(range_reader())
                    .processor([&](int i) -> std::optional<int> {
                      const int now = ++running;
                      int seen = max_running.load();
                      while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
                      }
                      std::this_thread::sleep_for(std::chrono::microseconds(200));
                      --running;
                      return i;
                    })
                    .writer(partition_writer(outs))
                    .commit_interval(10);
  auto j = job_builder("partitioned")
               .step(partition_step("load").partitioner(ranges(400)).worker(worker).grid_size(4))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  for (int i = 0; i < 4; ++i) CHECK(outs->out[static_cast<std::size_t>(i)] == iota(i * 100, (i + 1) * 100));
  CHECK(max_running.load() >= 2);
  CHECK(f.started_steps(r.execution_id) == std::set<std::string>{"load", "load:partition0", "load:partition1",
                                                                 "load:partition2", "load:partition3"});
  auto manager = f.step(r.execution_id, "load");
  CHECK(manager.counts.read == 0);  // counted once, on the partitions
  CHECK(f.step(r.execution_id, "load:partition2").counts.read == 100);
}

TEST_CASE("partitioned step: a failed partition fails the step; a restart reruns only it, with the same plan",
          "[framework][partition][restart]") {
  fixture f;
  auto outs = std::make_shared<partition_outputs>();
  auto plans = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> fail{true};
  std::atomic<int> processed{0};
  auto worker = chunk_step<int>("numbers")
                    .reader(range_reader())
                    .processor([&](int i) -> std::optional<int> {
                      ++processed;
                      if (i == 250 && fail) throw std::runtime_error("item 250 is broken");
                      return i;
                    })
                    .writer(partition_writer(outs))
                    .commit_interval(10);
  auto j = job_builder("partitioned")
               .step(partition_step("load").partitioner(ranges(400, plans)).worker(worker).grid_size(4))
               .build();
  auto first = f.run(j);
  CHECK(first.status == batch_status::failed);
  CHECK(first.exit.description.find("load:partition2") != std::string::npos);
  CHECK(first.exit.description.find("item 250 is broken") != std::string::npos);
  CHECK(f.step(first.execution_id, "load:partition2").status == batch_status::failed);
  CHECK(f.step(first.execution_id, "load:partition1").status == batch_status::completed);
  CHECK(outs->out[2] == iota(200, 250));

  fail = false;
  processed = 0;
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  CHECK(plans->load() == 1);  // the stored plan, not a new one
  // Only the failed partition ran again, from its last commit (item 250).
  CHECK(f.started_steps(second.execution_id) == std::set<std::string>{"load", "load:partition2"});
  CHECK(processed.load() == 50);
  for (int i = 0; i < 4; ++i) CHECK(outs->out[static_cast<std::size_t>(i)] == iota(i * 100, (i + 1) * 100));
}

TEST_CASE("partitioned step: bad settings fail the step with a clear error", "[framework][partition]") {
  fixture f;
  auto j = job_builder("partitioned")
               .step(partition_step("load")
                         .partitioner(ranges(10))
                         .worker(tasklet_step("w", [](step_context&) { return repeat_status::finished; }))
                         .grid_size(0))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::failed);
  CHECK(r.exit.description.find("grid size 0 must be from 1 to 1024") != std::string::npos);
}

TEST_CASE(
    "split: flows run in parallel; the split fails if one fails; a restart reruns only unfinished steps",
    "[framework][split][restart]") {
  fixture f;
  std::mutex mu;
  std::vector<std::string> calls;
  std::atomic<bool> fail{true};
  std::atomic<int> inside{0}, overlap{0};
  auto record = [&](std::string name, bool may_fail) {
    return tasklet_step(name, [&, name, may_fail](step_context&) {
      if (++inside > 1) ++overlap;
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --inside;
      {
        std::lock_guard lock(mu);
        calls.push_back(name);
      }
      if (may_fail && fail) throw std::runtime_error(name + " broke");
      return repeat_status::finished;
    });
  };
  // [docs:split]
  auto flow_a = job_builder("flow-a").step(record("a1", false)).next(record("a2", false)).build();
  auto flow_b = job_builder("flow-b").step(record("b1", false)).next(record("b2", true)).build();
  auto j = job_builder("with-split")
               .step(split_step("both", {flow_a, flow_b}))
               .next(record("after", false))
               .build();
  // [docs:split]
  auto first = f.run(j);
  CHECK(first.status == batch_status::failed);
  CHECK(first.exit.description.find("flow 'flow-b'") != std::string::npos);
  CHECK(first.exit.description.find("b2 broke") != std::string::npos);
  CHECK(overlap.load() >= 1);  // the flows ran at the same time
  {
    std::lock_guard lock(mu);
    CHECK(std::set<std::string>(calls.begin(), calls.end()) == std::set<std::string>{"a1", "a2", "b1", "b2"});
    calls.clear();
  }
  CHECK(f.step(first.execution_id, "both").status == batch_status::failed);

  fail = false;
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  std::lock_guard lock(mu);
  CHECK(calls == std::vector<std::string>{"b2", "after"});
  CHECK(f.started_steps(second.execution_id) == std::set<std::string>{"both", "b2", "after"});
}

TEST_CASE("split: step names must be unique across flows", "[framework][split]") {
  auto t = [](std::string n) {
    return tasklet_step(n, [](step_context&) { return repeat_status::finished; });
  };
  auto a = job_builder("a").step(t("x")).build();
  auto b = job_builder("b").step(t("x")).build();
  CHECK_THROWS_WITH(split_step("s", {a, b}), Catch::Contains("two steps or deciders are named 'x'"));
}

TEST_CASE("parallel chunk processing: output in input order, counts as sequential", "[framework][parallel]") {
  fixture f;
  auto src = std::make_shared<number_source>();
  src->n = 1000;
  auto out = std::make_shared<std::vector<int>>();
  std::set<std::thread::id> threads;
  std::mutex mu;
  auto j = job_builder("parallel")
               .step(chunk_step<int>("numbers")
                         .reader(number_reader(src))
                         .processor([&](int i) -> std::optional<int> {
                           {
                             std::lock_guard lock(mu);
                             threads.insert(std::this_thread::get_id());
                           }
                           // Uneven work, so items finish out of order.
                           std::this_thread::sleep_for(std::chrono::microseconds((i * 37) % 200));
                           if (i % 10 == 0) return std::nullopt;
                           return i * 2;
                         })
                         .writer(vector_writer(out))
                         .commit_interval(50)
                         .threads(4))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  std::vector<int> expected;
  for (int i = 1; i <= 1000; ++i) {
    if (i % 10 != 0) expected.push_back(i * 2);
  }
  CHECK(*out == expected);
  CHECK(threads.size() >= 2);
  auto s = f.store->step_executions(r.execution_id).front();
  CHECK(s.counts.read == 1000);
  CHECK(s.counts.filter == 100);
  CHECK(s.counts.write == 900);
  CHECK(s.counts.commit == 21);  // 20 chunks + the final empty one
}

TEST_CASE("parallel chunk processing: skips in input order; a failure restarts exactly",
          "[framework][parallel][restart]") {
  fixture f;
  auto src = std::make_shared<number_source>();
  src->n = 500;
  auto out = std::make_shared<std::vector<int>>();
  std::atomic<bool> fail{true};
  std::atomic<int> processed{0};
  auto j = job_builder("parallel")
               .step(chunk_step<int>("numbers")
                         .reader(number_reader(src))
                         .processor([&](int i) -> std::optional<int> {
                           ++processed;
                           if (i % 100 == 7) throw parse_error("numbers", i, "value", "bad item");
                           if (i == 333 && fail) throw std::runtime_error("crash at 333");
                           return i;
                         })
                         .writer(vector_writer(out))
                         .commit_interval(20)
                         .skip<parse_error>()
                         .skip_limit(10)
                         .threads(3))
               .build();
  auto first = f.run(j);
  CHECK(first.status == batch_status::failed);
  CHECK(first.exit.description.find("crash at 333") != std::string::npos);
  // Chunks 1..320 were committed; the chunk holding 333 was not.
  CHECK(out->size() == 320 - 4);
  fail = false;
  processed = 0;
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  // Items 321..500 once each, and the 19 other items of the chunk 401..420 once more: the skip of
  // 407 rolls that chunk back and processes it again without 407 (Spring Batch's rule).
  CHECK(processed.load() == 180 + 19);
  std::vector<int> expected;
  for (int i = 1; i <= 500; ++i) {
    if (i % 100 != 7) expected.push_back(i);
  }
  CHECK(*out == expected);
  // A step execution counts its own work (Spring Batch): the restart's items 321..500.
  auto s = f.store->step_executions(second.execution_id).front();
  CHECK(s.counts.process_skip == 1);
  CHECK(s.counts.write == 179);
}

TEST_CASE("split: a stop reaches every flow; the split and the job end STOPPED; a restart finishes",
          "[framework][split][stop]") {
  fixture f;
  std::atomic<int> ticks{0};
  // A tasklet of 20 ticks of 10 ms, checkpointed per tick, that a stop ends between ticks.
  auto ticking = [&](std::string name) {
    return tasklet_step(name, [&](step_context& ctx) {
      auto& c = ctx.context();
      const auto done = c.contains("ticks") ? c["ticks"].as_int64() : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ++ticks;
      c["ticks"] = done + 1;
      return done + 1 >= 20 ? repeat_status::finished : repeat_status::continuable;
    });
  };
  auto j = job_builder("stoppable")
               .step(split_step("both", {job_builder("fa").step(ticking("ta")).build(),
                                         job_builder("fb").step(ticking("tb")).build()}))
               .build();
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    while (ticks < 6) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
  });
  auto first = run_job(j, f.params, *f.log, &stop);
  stopper.join();
  REQUIRE(first);
  CHECK(first->status == batch_status::stopped);
  CHECK(f.step(first->execution_id, "both").status == batch_status::stopped);
  CHECK(f.step(first->execution_id, "ta").status == batch_status::stopped);
  CHECK(f.step(first->execution_id, "tb").status == batch_status::stopped);
  CHECK(ticks < 40);

  const int before = ticks;
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  CHECK(ticks == 40);  // each flow resumed from its last checkpoint: 20 ticks each in all
  CHECK(ticks > before);
}

TEST_CASE("partitioned step: the worker's start_limit applies to each partition",
          "[framework][partition][restart]") {
  fixture f;
  auto outs = std::make_shared<partition_outputs>();
  auto worker = chunk_step<int>("numbers")
                    .reader(range_reader())
                    .processor([](int i) -> std::optional<int> {
                      if (i == 5) throw std::runtime_error("item 5 is always broken");
                      return i;
                    })
                    .writer(partition_writer(outs))
                    .start_limit(1);
  auto j = job_builder("partitioned")
               .step(partition_step("load").partitioner(ranges(20)).worker(std::move(worker)).grid_size(2))
               .build();
  CHECK(f.run(j).status == batch_status::failed);
  auto second = f.run(j);
  CHECK(second.status == batch_status::failed);
  CHECK(second.exit.description.find("start limit is 1") != std::string::npos);
  CHECK(f.started_steps(second.execution_id) == std::set<std::string>{"load"});
}

namespace {

// Reads the numbers [partition.lo, partition.hi) like range_reader, and gives up the second half
// of what it has left when the partition manager asks (rebalancing).
class splittable_range_reader final : public item_reader<int> {
 public:
  void open(step_context& ctx) override {
    s_ = std::make_shared<state>();
    s_->next = static_cast<int>(ctx.parameters().get_int64("partition.lo"));
    s_->hi = static_cast<int>(ctx.parameters().get_int64("partition.hi"));
    if (const auto* p = ctx.context().if_contains("range.next")) s_->next = static_cast<int>(p->as_int64());
    slot_ = ctx.split_slot();
    if (slot_) slot_->offer(s_.get());
  }
  std::optional<int> read() override {
    std::unique_lock lock(s_->mu);
    s_->settled.wait(lock, [&] { return s_->next < s_->hi || !s_->old_hi; });
    if (s_->next >= s_->hi) return std::nullopt;
    return s_->next++;
  }
  void update(execution_context& ctx) override {
    std::lock_guard lock(s_->mu);
    ctx["range.next"] = s_->next;
  }
  void close() override {
    if (slot_) slot_->offer(nullptr);
  }

 private:
  struct state final : splittable_input {
    std::mutex mu;
    std::condition_variable settled;
    int next = 0;
    int hi = 0;
    std::optional<int> old_hi;
    std::uint64_t remaining() const override {
      std::lock_guard lock(const_cast<std::mutex&>(mu));
      return old_hi || next >= hi ? 0 : static_cast<std::uint64_t>(hi - next);
    }
    std::optional<split_result> split(const partition_values& own, std::uint64_t min_rest) override {
      std::lock_guard lock(mu);
      if (old_hi || next >= hi || static_cast<std::uint64_t>(hi - next) < 2 * min_rest) return std::nullopt;
      const int cut = next + (hi - next) / 2;
      split_result r{own, own};
      r.kept.set("partition.hi", {std::int64_t{cut}, false});
      r.rest.set("partition.lo", {std::int64_t{cut}, false});
      old_hi = hi;
      hi = cut;
      return r;
    }
    void settle(bool committed) override {
      {
        std::lock_guard lock(mu);
        if (!committed) hi = *old_hi;
        old_hi.reset();
      }
      settled.notify_all();
    }
  };
  std::shared_ptr<state> s_;
  std::shared_ptr<split_slot> slot_;
};

// The output of each partition by index, truncated to its checkpoint on open.
struct indexed_outputs {
  std::mutex mu;
  std::map<std::int64_t, std::vector<int>> out;
};

class indexed_writer final : public item_writer<int> {
 public:
  explicit indexed_writer(std::shared_ptr<indexed_outputs> o) : o_(std::move(o)) {}
  void open(step_context& ctx) override {
    index_ = ctx.parameters().get_int64("partition.index");
    std::size_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = static_cast<std::size_t>(p->as_int64());
    std::lock_guard lock(o_->mu);
    o_->out[index_].resize(keep);
  }
  void write(const chunk<int>& items) override {
    std::lock_guard lock(o_->mu);
    auto& v = o_->out[index_];
    v.insert(v.end(), items.begin(), items.end());
  }
  void update(execution_context& ctx) override {
    std::lock_guard lock(o_->mu);
    ctx["out.size"] = static_cast<std::int64_t>(o_->out[index_].size());
  }

 private:
  std::shared_ptr<indexed_outputs> o_;
  std::int64_t index_ = 0;
};

}  // namespace

TEST_CASE("partitioned step: rebalance splits the slow partition's rest; a restart after a failure in a split-off "
          "partition reruns only what did not complete",
          "[framework][partition][rebalance][restart]") {
  fixture f;
  auto outs = std::make_shared<indexed_outputs>();
  auto plans = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> fail{true};
  auto worker = chunk_step<int>("numbers")
                    .reader(splittable_range_reader())
                    .processor([&](int i) -> std::optional<int> {
                      // Partition 1's numbers are slow: partition 0's thread ends first and takes over.
                      if (i >= 200) std::this_thread::sleep_for(std::chrono::microseconds(500));
                      if (i == 390 && fail) throw std::runtime_error("item 390 is broken");
                      return i;
                    })
                    .writer(indexed_writer(outs))
                    .commit_interval(5);
  auto j = job_builder("rebalanced")
               .step(partition_step("load")
                         .partitioner(ranges(400, plans))
                         .worker(worker)
                         .grid_size(2)
                         .rebalance({.min_rest = 10}))
               .build();
  auto plan_of = [&](std::int64_t execution) {
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;  // (lo, index)
    const auto ctx = f.store->step_context(f.step(execution, "load").id);
    const auto& stored = ctx.at("partitions").as_array();
    for (std::size_t i = 0; i < stored.size(); ++i) {
      auto p = job_parameters::from_json(stored[i]).value();
      ranges.emplace_back(p.get_int64("partition.lo"), static_cast<std::int64_t>(i));
    }
    std::sort(ranges.begin(), ranges.end());
    return ranges;
  };

  auto first = f.run(j);
  CHECK(first.status == batch_status::failed);
  CHECK(first.exit.description.find("item 390 is broken") != std::string::npos);
  const auto plan = plan_of(first.execution_id);
  REQUIRE(plan.size() >= 3);  // at least one split
  CHECK(f.started_steps(first.execution_id).contains("load:partition2"));

  fail = false;
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  CHECK(plans->load() == 1);  // the stored plan, not a new one
  // Only partitions that had not completed ran again (or were split off during the restart).
  const auto final_plan = plan_of(second.execution_id);
  for (const auto& name : f.started_steps(second.execution_id)) {
    if (name == "load") continue;
    const auto index = std::stoll(name.substr(name.find(":partition") + 10));
    if (index < static_cast<std::int64_t>(plan.size())) {
      CHECK(f.step(first.execution_id, name).status != batch_status::completed);
    }
  }
  // In the order of their ranges, the partitions wrote every number once.
  std::vector<int> all;
  for (const auto& [lo, index] : final_plan) {
    const auto& v = outs->out[index];
    all.insert(all.end(), v.begin(), v.end());
  }
  CHECK(all == iota(0, 400));
}

TEST_CASE("partitioned step: rebalance gives idle threads work even when the plan has fewer partitions than the grid",
          "[framework][partition][rebalance]") {
  fixture f;
  auto outs = std::make_shared<indexed_outputs>();
  auto worker = chunk_step<int>("numbers")
                    .reader(splittable_range_reader())
                    .processor([](int i) -> std::optional<int> {
                      std::this_thread::sleep_for(std::chrono::microseconds(200));
                      return i;
                    })
                    .writer(indexed_writer(outs))
                    .commit_interval(5);
  // One partition, three threads: the idle two wait for it to open, then take over its rest.
  auto j = job_builder("one-range")
               .step(partition_step("load")
                         .partitioner([](const step_context&, std::int64_t) {
                           partition_values p;
                           p.set("partition.lo", {std::int64_t{0}, false});
                           p.set("partition.hi", {std::int64_t{600}, false});
                           return std::vector<partition_values>{p};
                         })
                         .worker(worker)
                         .grid_size(3)
                         .rebalance({.min_rest = 10}))
               .build();
  auto r = f.run(j);
  REQUIRE(r.status == batch_status::completed);
  const auto manager = f.store->step_context(f.step(r.execution_id, "load").id);
  const auto& stored = manager.at("partitions").as_array();
  CHECK(stored.size() >= 3);
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;  // (lo, index)
  for (std::size_t i = 0; i < stored.size(); ++i) {
    ranges.emplace_back(job_parameters::from_json(stored[i]).value().get_int64("partition.lo"), static_cast<std::int64_t>(i));
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<int> all;
  for (const auto& [lo, index] : ranges) all.insert(all.end(), outs->out[index].begin(), outs->out[index].end());
  CHECK(all == iota(0, 600));
}
