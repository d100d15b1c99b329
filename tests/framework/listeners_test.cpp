// Listeners over a real RocksDB folder: the order Spring Batch calls them in, an after_step
// that changes the exit status, an after_job that changes the job's, and listener errors.

#include "support/job_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_items.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

using namespace kiln;
using namespace kiln::test;

namespace {

struct fixture : job_fixture {
  std::shared_ptr<number_source> src = std::make_shared<number_source>();
  std::shared_ptr<std::vector<int>> out = std::make_shared<std::vector<int>>();
  std::vector<std::string> events;

  // A step over 1..3 in chunks of 2 whose processor throws parse_error (skippable) for item 2,
  // with every listener recording into `events`.
  chunk_step<int> recorded_step() {
    src->n = 3;
    auto& ev = events;
    return std::move(
        chunk_step<int>("numbers")
            .reader(number_reader(src))
            .processor([](int i) -> std::optional<int> {
              if (i == 2) throw parse_error("p", i, "", "bad");
              return i * 10;
            })
            .writer(vector_writer(out))
            .commit_interval(2)
            .skip<parse_error>()
            .skip_limit(1)
            .listener(step_listener{
                .before_step = [&ev](step_context&) { ev.push_back("before_step"); },
                .after_step = [&ev](step_context&, const step_result& r) -> std::optional<exit_status> {
                  ev.push_back(fmt::format("after_step {} skips={}", to_string(r.status), r.counts.skip()));
                  if (r.counts.skip() > 0) return exit_status{"COMPLETED WITH SKIPS", {}};
                  return std::nullopt;
                }})
            .listener(chunk_listener{
                .before_chunk = [&ev](step_context&) { ev.push_back("before_chunk"); },
                .after_chunk = [&ev](step_context&) { ev.push_back("after_chunk"); },
                .after_chunk_error = [&ev](step_context&, const std::exception_ptr&) { ev.push_back("after_chunk_error"); }})
            .listener(item_read_listener<int>{
                .before_read = [&ev] { ev.push_back("before_read"); },
                .after_read = [&ev](const int& i) { ev.push_back(fmt::format("after_read {}", i)); },
                .on_read_error = [&ev](const std::exception_ptr&) { ev.push_back("on_read_error"); }})
            .listener(item_process_listener<int, int>{
                .before_process = [&ev](const int& i) { ev.push_back(fmt::format("before_process {}", i)); },
                .after_process =
                    [&ev](const int& i, const std::optional<int>& o) {
                      ev.push_back(fmt::format("after_process {} -> {}", i, o ? *o : -1));
                    },
                .on_process_error =
                    [&ev](const int& i, const std::exception_ptr&) { ev.push_back(fmt::format("on_process_error {}", i)); }})
            .listener(item_write_listener<int>{
                .before_write = [&ev](const chunk<int>& c) { ev.push_back(fmt::format("before_write {}", c)); },
                .after_write = [&ev](const chunk<int>& c) { ev.push_back(fmt::format("after_write {}", c)); },
                .on_write_error = [&ev](const chunk<int>&, const std::exception_ptr&) { ev.push_back("on_write_error"); }})
            .listener(skip_listener<int, int>{
                .on_skip_in_read = [&ev](const std::exception_ptr&) { ev.push_back("on_skip_in_read"); },
                .on_skip_in_process =
                    [&ev](const int& i, const std::exception_ptr&) { ev.push_back(fmt::format("on_skip_in_process {}", i)); },
                .on_skip_in_write = [&ev](const int&, const std::exception_ptr&) { ev.push_back("on_skip_in_write"); }}));
  }

  job_builder& with_job_listener(job_builder& b) {
    auto& ev = events;
    return b.listener(job_listener{
        .before_job = [&ev](job_execution_info& j) { ev.push_back("before_job " + j.job_name); },
        .after_job = [&ev](job_execution_info& j) { ev.push_back(fmt::format("after_job {}", to_string(j.status))); }});
  }
};

}  // namespace

TEST_CASE("listeners are called in Spring Batch's order", "[framework][listeners]") {
  fixture f;
  job_builder b("j");
  f.with_job_listener(b).step(f.recorded_step());
  auto r = f.run(b.build());
  CHECK(r.status == batch_status::completed);
  const std::vector<std::string> expected{
      "before_job j",
      "before_step",
      // chunk 1: items 1 and 2; 2 fails, the chunk rolls back and is processed again without it
      "before_chunk",
      "before_read", "after_read 1", "before_read", "after_read 2",
      "before_process 1", "after_process 1 -> 10", "before_process 2", "on_process_error 2",
      "after_chunk_error",
      "before_process 1", "after_process 1 -> 10",
      "before_write [10]", "after_write [10]",
      "on_skip_in_process 2",
      "after_chunk",
      // chunk 2: item 3 and the end of the input
      "before_chunk",
      "before_read", "after_read 3", "before_read",
      "before_process 3", "after_process 3 -> 30",
      "before_write [30]", "after_write [30]",
      "after_chunk",
      "after_step COMPLETED skips=1",
      "after_job COMPLETED",
  };
  CHECK(f.events == expected);
  CHECK(*f.out == std::vector<int>{10, 30});
  const auto st = f.store->step_executions(r.execution_id).at(0);
  CHECK(st.exit.code == "COMPLETED WITH SKIPS");  // after_step's custom code outranks COMPLETED
}

TEST_CASE("after_step's exit status drives the flow; after_job may change the job's", "[framework][listeners]") {
  fixture f;
  bool reported = false;
  auto j = job_builder("j")
               .listener(job_listener{.after_job = [](job_execution_info& j) { j.exit.code = "DONE"; }})
               .step(f.recorded_step())
               .on("COMPLETED WITH SKIPS")
               .to("report")
               .next(tasklet_step("report", [&](step_context&) {
                 reported = true;
                 return repeat_status::finished;
               }))
               .build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  CHECK(reported);
  CHECK(f.store->execution(r.execution_id)->exit.code == "DONE");
}

TEST_CASE("combine_exit keeps the more severe exit code", "[framework][listeners]") {
  CHECK(combine_exit(exit_status::completed(), exit_status::failed("x")).code == "FAILED");
  CHECK(combine_exit(exit_status::failed("x"), exit_status::completed()).code == "FAILED");
  CHECK(combine_exit(exit_status::failed("x"), exit_status{"CUSTOM", {}}).code == "CUSTOM");
  CHECK(combine_exit(exit_status::noop(), exit_status::stopped()).code == "STOPPED");
  CHECK(combine_exit(exit_status{"COMPLETED", "a"}, exit_status{"COMPLETED", "b"}).description == "a; b");
}

TEST_CASE("listener errors: step callbacks fail the step, after_job's are ignored", "[framework][listeners]") {
  fixture f;
  f.src->n = 5;
  auto base = [&] {
    return std::move(chunk_step<int>("numbers").reader(number_reader(f.src)).writer(vector_writer(f.out)).commit_interval(2));
  };
  SECTION("an item listener") {
    auto j = job_builder("j")
                 .step(base().listener(item_read_listener<int>{.after_read = [](const int& i) {
                   if (i == 3) throw std::runtime_error("listener broke");
                 }}))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK_THAT(r.exit.description, Catch::Contains("listener after_read failed: listener broke"));
    CHECK(*f.out == std::vector<int>{1, 2});
  }
  SECTION("after_step") {
    auto j = job_builder("j")
                 .step(base().listener(step_listener{.after_step = [](step_context&, const step_result&) -> std::optional<exit_status> {
                   throw std::runtime_error("cannot report");
                 }}))
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    const auto st = f.store->step_executions(r.execution_id).at(0);
    CHECK(st.status == batch_status::failed);
    CHECK_THAT(st.exit.description, Catch::Contains("listener after_step failed: cannot report"));
  }
  SECTION("before_job fails the job before any step") {
    auto j = job_builder("j")
                 .listener(job_listener{.before_job = [](job_execution_info&) { throw std::runtime_error("no"); }})
                 .step(base())
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::failed);
    CHECK(f.store->step_executions(r.execution_id).empty());
    CHECK_THAT(r.exit.description, Catch::Contains("listener before_job failed: no"));
  }
  SECTION("after_job") {
    auto j = job_builder("j")
                 .listener(job_listener{.after_job = [](job_execution_info&) { throw std::runtime_error("no"); }})
                 .step(base())
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    CHECK(*f.out == std::vector<int>{1, 2, 3, 4, 5});
  }
}
