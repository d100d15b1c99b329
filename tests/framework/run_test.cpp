// Running whole jobs on one thread (run_job) over a real RocksDB folder: the chunk loop's counts,
// skips, failures, restarts and stops, by Spring Batch's rules.

#include "support/job_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_items.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <numeric>

using namespace kiln;
using namespace kiln::test;

namespace {

struct fixture : job_fixture {
  std::shared_ptr<number_source> src = std::make_shared<number_source>();
  std::shared_ptr<std::vector<int>> out = std::make_shared<std::vector<int>>();

  chunk_step<int> numbers_step(std::int64_t interval = 5) {
    return std::move(chunk_step<int>("numbers")
                         .reader(number_reader(src))
                         .writer(vector_writer(out))
                         .commit_interval(interval));
  }

  std::vector<step_execution_record> steps(std::int64_t execution) { return store->step_executions(execution); }
};

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

}  // namespace

TEST_CASE("chunk step: counts and commits follow Spring Batch", "[framework][run]") {
  fixture f;
  f.src->n = 10;
  auto j = job_builder("j").step(f.numbers_step(5)).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  CHECK(r.exit.code == "COMPLETED");
  CHECK(*f.out == iota(10));
  auto st = f.steps(r.execution_id);
  REQUIRE(st.size() == 1);
  CHECK(st[0].counts.read == 10);
  CHECK(st[0].counts.write == 10);
  CHECK(st[0].counts.commit == 3);  // two full chunks and the empty one that sees the end
  CHECK(st[0].status == batch_status::completed);
  CHECK(f.store->execution(r.execution_id)->status == batch_status::completed);
}

TEST_CASE("chunk step: a processor's nullopt filters", "[framework][run]") {
  fixture f;
  f.src->n = 10;
  auto j = job_builder("j")
               .step(f.numbers_step(4).processor([](int i) -> std::optional<int> {
                 if (i % 2) return std::nullopt;
                 return i * 10;
               }))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  CHECK(*f.out == std::vector<int>{20, 40, 60, 80, 100});
  auto c = f.steps(r.execution_id)[0].counts;
  CHECK(c.read == 10);
  CHECK(c.filter == 5);
  CHECK(c.write == 5);
}

TEST_CASE("chunk step: skippable errors are counted up to the skip limit", "[framework][run]") {
  fixture f;
  f.src->n = 20;
  f.src->bad_items = {3, 7};
  SECTION("within the limit the step completes") {
    auto j = job_builder("j").step(f.numbers_step(5).skip<parse_error>().skip_limit(2)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    auto c = f.steps(r.execution_id)[0].counts;
    CHECK(c.read == 18);
    CHECK(c.read_skip == 2);
    CHECK(c.write == 18);
  }
  SECTION("one more than the limit fails the step, naming the limit and the error") {
    auto j = job_builder("j").step(f.numbers_step(5).skip<parse_error>().skip_limit(1)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("skip limit 1 exceeded") && Catch::Contains("bad item"));
    auto c = f.steps(r.execution_id)[0].counts;
    CHECK(c.read_skip == 1);
    CHECK(c.rollback == 1);
  }
  SECTION("processor errors are process skips") {
    f.src->bad_items.clear();
    auto j = job_builder("j")
                 .step(f.numbers_step(5)
                           .processor([](int i) -> std::optional<int> {
                             if (i % 5 == 0) throw parse_error("x", i, "", "bad");
                             return i;
                           })
                           .skip<parse_error>()
                           .skip_limit(10))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    CHECK(f.steps(r.execution_id)[0].counts.process_skip == 4);
    CHECK(f.out->size() == 16);
  }
  SECTION("errors of other types are not skipped") {
    f.src->fail_at = {4};
    auto j = job_builder("j").step(f.numbers_step(5).skip<parse_error>().skip_limit(10)).build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("failure at item 4"));
  }
}

TEST_CASE("restart resumes a failed step from its last commit with identical output", "[framework][run][restart]") {
  fixture f;
  f.src->n = 23;
  f.src->fail_at = {17};
  int tasklet_calls = 0;
  auto j = job_builder("j")
               .step(tasklet_step("prepare", [&](step_context&) {
                 ++tasklet_calls;
                 return repeat_status::finished;
               }))
               .next(f.numbers_step(5))
               .build();
  auto first = f.run(j);
  CHECK(first.status == batch_status::failed);
  CHECK(f.store->execution(first.execution_id)->exit.code == "FAILED");
  auto s1 = f.steps(first.execution_id);
  REQUIRE(s1.size() == 2);
  CHECK(s1[1].counts.write == 15);  // three chunks committed before item 17 failed
  CHECK(s1[1].counts.rollback == 1);

  auto second = f.run(j);  // same identifying parameters: a restart of the instance
  CHECK(second.status == batch_status::completed);
  CHECK(second.execution_id != first.execution_id);
  CHECK(f.store->execution(second.execution_id)->instance_id == f.store->execution(first.execution_id)->instance_id);
  CHECK(tasklet_calls == 1);  // the COMPLETED tasklet step was skipped
  auto s2 = f.steps(second.execution_id);
  REQUIRE(s2.size() == 1);
  CHECK(s2[0].step_name == "numbers");
  CHECK(s2[0].counts.read == 8);  // 16..23
  CHECK(s1[1].counts.read + s2[0].counts.read == 23);
  CHECK(*f.out == iota(23));

  auto third = run_job(j, f.params, *f.log);
  REQUIRE_FALSE(third);
  CHECK(third.error().code() == errc::instance_complete);
}

TEST_CASE("allow_start_if_complete reruns a completed step on restart", "[framework][run][restart]") {
  fixture f;
  int calls = 0;
  bool fail = true;
  auto j = job_builder("j")
               .step(tasklet_step("always", [&](step_context&) {
                       ++calls;
                       return repeat_status::finished;
                     }).allow_start_if_complete())
               .next(tasklet_step("flaky", [&](step_context&) {
                 if (fail) throw std::runtime_error("not yet");
                 return repeat_status::finished;
               }))
               .build();
  CHECK(f.run(j).status == batch_status::failed);
  fail = false;
  CHECK(f.run(j).status == batch_status::completed);
  CHECK(calls == 2);
}

TEST_CASE("step_context_of reads an earlier step's context, also one a restart skipped as COMPLETED",
          "[framework][run][restart]") {
  fixture f;
  bool fail = true;
  std::vector<std::int64_t> seen;
  auto j = job_builder("j")
               .step(tasklet_step("plan", [](step_context& ctx) {
                 ctx.context()["parts"] = 7;
                 return repeat_status::finished;
               }))
               .next(tasklet_step("use", [&](step_context& ctx) {
                 const auto plan = ctx.step_context_of("plan");
                 seen.push_back(plan ? plan->at("parts").as_int64() : -1);
                 CHECK_FALSE(ctx.step_context_of("no-such-step"));
                 if (fail) throw std::runtime_error("not yet");
                 return repeat_status::finished;
               }))
               .build();
  CHECK(f.run(j).status == batch_status::failed);
  fail = false;
  const auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  // The restart skipped "plan" (COMPLETED in the first execution); "use" still finds its context.
  CHECK(seen == std::vector<std::int64_t>{7, 7});
  for (const auto& st : f.steps(second.execution_id)) CHECK(st.step_name != "plan");
}

TEST_CASE("start_limit caps the starts of a step per instance", "[framework][run][restart]") {
  fixture f;
  auto j = job_builder("j")
               .step(tasklet_step("flaky", [](step_context&) -> repeat_status { throw std::runtime_error("down"); })
                         .start_limit(2))
               .build();
  CHECK(f.run(j).status == batch_status::failed);
  CHECK(f.run(j).status == batch_status::failed);
  auto third = f.run(j);
  CHECK(third.status == batch_status::failed);
  CHECK_THAT(third.exit.description, Catch::Contains("start limit is 2"));
  CHECK(f.steps(third.execution_id).empty());
}

TEST_CASE("a tasklet is called until finished - each call a commit with its context", "[framework][run]") {
  fixture f;
  auto j = job_builder("j")
               .step(tasklet_step("count", [](step_context& ctx) {
                 auto n = ctx.context().contains("n") ? ctx.context().at("n").as_int64() : 0;
                 ctx.context()["n"] = n + 1;
                 return n + 1 < 3 ? repeat_status::continuable : repeat_status::finished;
               }))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  auto st = f.steps(r.execution_id)[0];
  CHECK(st.counts.commit == 3);
  CHECK(f.store->step_context(st.id).at("n").as_int64() == 3);
}

TEST_CASE("a stop ends the step at a chunk boundary as STOPPED and a restart finishes it", "[framework][run][restart]") {
  fixture f;
  f.src->n = 100;
  std::atomic<bool> stop{false};
  auto j = job_builder("j")
               .step(f.numbers_step(10).processor([&](int i) -> std::optional<int> {
                 if (i == 35) stop = true;
                 return i;
               }))
               .next(tasklet_step("after", [](step_context&) { return repeat_status::finished; }))
               .build();
  auto first = f.run(j, &stop);
  CHECK(first.status == batch_status::stopped);
  CHECK(first.exit.code == "STOPPED");
  auto s1 = f.steps(first.execution_id);
  REQUIRE(s1.size() == 1);  // no further step starts after a stop
  CHECK(s1[0].status == batch_status::stopped);
  CHECK(s1[0].counts.write == 40);  // the chunk holding item 35 finished and committed
  CHECK(f.out->size() == 40);

  stop = false;
  auto second = f.run(j, &stop);
  CHECK(second.status == batch_status::completed);
  CHECK(*f.out == iota(100));
}

TEST_CASE("a tasklet sets its step's exit status - kept on completion - its code kept on failure",
          "[framework][run]") {
  fixture f;
  SECTION("completed") {
    auto j = job_builder("j")
                 .step(tasklet_step("quiet", [](step_context& ctx) {
                   ctx.set_exit_status({"NOOP", "nothing to do"});
                   return repeat_status::finished;
                 }))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    auto st = f.steps(r.execution_id)[0];
    CHECK(st.status == batch_status::completed);
    CHECK(st.exit == exit_status{"NOOP", "nothing to do"});
  }
  SECTION("failed") {
    auto j = job_builder("j")
                 .step(tasklet_step("broken", [](step_context& ctx) -> repeat_status {
                   ctx.set_exit_status({"EXIT_CODE_3", "ignored"});
                   throw std::runtime_error("the program failed");
                 }))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK(r.exit == exit_status{"EXIT_CODE_3", "the program failed"});
    CHECK(f.steps(r.execution_id)[0].exit == exit_status{"EXIT_CODE_3", "the program failed"});
  }
}

TEST_CASE("a tasklet sees a stop request during its call and the step ends STOPPED", "[framework][run]") {
  fixture f;
  std::atomic<bool> stop{false};
  int calls = 0;
  auto j = job_builder("j")
               .step(tasklet_step("long", [&](step_context& ctx) {
                 ++calls;
                 CHECK_FALSE(ctx.stop_requested());
                 stop = true;  // as if from another thread, while the call runs
                 CHECK(ctx.stop_requested());
                 return repeat_status::continuable;
               }))
               .build();
  auto r = f.run(j, &stop);
  CHECK(r.status == batch_status::stopped);
  CHECK(calls == 1);
  CHECK(f.steps(r.execution_id)[0].counts.commit == 1);
}
