// Conditional flows over a real RocksDB folder: transitions on exit codes with * and ?, deciders,
// end/fail/stop_and_restart, the sequential default, and restarts that follow the flow.

#include "support/job_fixture.hpp"
#include "support/temp_dir.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/job_step.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace kiln;
using kiln::test::job_fixture;
using kiln::test::temp_dir;

namespace {

struct fixture : job_fixture {
  std::vector<std::string> trace;  // the steps that ran, in order

  // A tasklet step that records that it ran, then completes, throws, or sets its exit code via
  // the `exit` context key (kiln maps a tasklet's thrown error to FAILED).
  tasklet_step step(const std::string& name, std::string behaviour = "ok") {
    return tasklet_step(name, [this, name, behaviour](step_context&) {
      trace.push_back(name);
      if (behaviour == "throw") throw std::runtime_error(name + " broke");
      return repeat_status::finished;
    });
  }

};

}  // namespace

TEST_CASE("flow: exit code patterns match with star and question mark", "[framework][flow]") {
  CHECK(exit_pattern_matches("*", "FAILED"));
  CHECK(exit_pattern_matches("*", ""));
  CHECK(exit_pattern_matches("FAILED", "FAILED"));
  CHECK_FALSE(exit_pattern_matches("FAILED", "FAILED2"));
  CHECK(exit_pattern_matches("F*D", "FAILED"));
  CHECK(exit_pattern_matches("COMPLETED*", "COMPLETED WITH SKIPS"));
  CHECK(exit_pattern_matches("C?T", "CAT"));
  CHECK_FALSE(exit_pattern_matches("C?T", "CT"));
  CHECK(exit_pattern_matches("*ED", "STOPPED"));
  CHECK_FALSE(exit_pattern_matches("*ED", "STOPPING"));
  CHECK(more_specific("FAILED", "F*"));
  CHECK(more_specific("F?ILED", "F*"));
  CHECK(more_specific("COMPLETED*", "*"));
}

TEST_CASE("flow: without transitions steps run in order and a failure ends the job", "[framework][flow]") {
  fixture f;
  auto j = job_builder("seq").step(f.step("a")).next(f.step("b", "throw")).next(f.step("c")).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::failed);
  CHECK(f.trace == std::vector<std::string>{"a", "b"});
}

TEST_CASE("flow: on FAILED to a recovery step then end completes the job", "[framework][flow]") {
  fixture f;
  auto j = job_builder("recover")
               .step(f.step("load", "throw"))
               .on("FAILED").to("cleanup")
               .on("*").to("report")
               .step(f.step("report"))
               .on("*").end()
               .step(f.step("cleanup"))
               .on("*").end("COMPLETED_WITH_CLEANUP")
               .build();
  auto r = f.run(j);
  CHECK(f.trace == std::vector<std::string>{"load", "cleanup"});
  CHECK(r.status == batch_status::completed);
  CHECK(r.exit.code == "COMPLETED_WITH_CLEANUP");
  auto e = f.store->execution(r.execution_id).value();
  CHECK(e.exit.code == "COMPLETED_WITH_CLEANUP");
  CHECK(f.store->step_executions(r.execution_id).size() == 2);
}

TEST_CASE("flow: the most specific pattern wins", "[framework][flow]") {
  fixture f;
  auto j = job_builder("specific")
               .step(f.step("a"))
               .on("*").to("star")
               .on("COMPLETED").to("exact")
               .on("COMP*").to("prefix")
               .step(f.step("star")).on("*").end()
               .step(f.step("exact")).on("*").end()
               .step(f.step("prefix")).on("*").end()
               .build();
  f.run(j);
  CHECK(f.trace == std::vector<std::string>{"a", "exact"});
}

TEST_CASE("flow: fail ends the job FAILED even after a completed step", "[framework][flow]") {
  fixture f;
  auto j = job_builder("failing").step(f.step("a")).on("COMPLETED").fail().step(f.step("b")).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::failed);
  CHECK(f.trace == std::vector<std::string>{"a"});
}

TEST_CASE("flow: an unmatched exit code fails the job naming the code", "[framework][flow]") {
  fixture f;
  auto j = job_builder("unmatched").step(f.step("a", "throw")).on("COMPLETED").to("b").step(f.step("b")).build();
  auto r = f.run(j);
  CHECK(r.status == batch_status::failed);
  CHECK_THAT(r.exit.description, Catch::Contains("no transition from 'a'") && Catch::Contains("FAILED"));
}

TEST_CASE("flow: a decider routes on the job parameters", "[framework][flow]") {
  for (const std::string mode : {"full", "quick"}) {
    fixture f;
    f.params.set("mode", {mode, true});
    auto j = job_builder("decide")
                 .step(f.step("prepare"))
                 .decider("which", [](const flow_state& s) {
                   CHECK(s.last_node == "prepare");
                   return s.parameters.get_string("mode") == "full" ? std::string("FULL") : std::string("QUICK");
                 })
                 .on("FULL").to("full")
                 .on("QUICK").to("quick")
                 .step(f.step("full")).on("*").end()
                 .step(f.step("quick")).on("*").end()
                 .build();
    auto r = f.run(j);
    CHECK(r.status == batch_status::completed);
    CHECK(f.trace == std::vector<std::string>{"prepare", mode});
  }
}

TEST_CASE("flow: stop_and_restart stops the job and the restart resumes at the named step", "[framework][flow]") {
  fixture f;
  auto j = job_builder("pause")
               .step(f.step("extract"))
               .on("COMPLETED").stop_and_restart("load")
               .step(f.step("load"))
               .next(f.step("report"))
               .build();
  auto first = f.run(j);
  CHECK(first.status == batch_status::stopped);
  CHECK(f.trace == std::vector<std::string>{"extract"});
  CHECK(f.store->execution(first.execution_id)->restart_step == "load");
  auto second = f.run(j);
  CHECK(second.status == batch_status::completed);
  CHECK(f.trace == std::vector<std::string>{"extract", "load", "report"});
}

TEST_CASE("flow: a restart routes completed steps by their recorded exit code", "[framework][flow]") {
  fixture f;
  bool broken = true;
  auto j = job_builder("again")
               .step(f.step("a"))
               .on("COMPLETED").to("b")
               .step(tasklet_step("b", [&](step_context&) {
                 f.trace.push_back("b");
                 if (broken) throw std::runtime_error("b broke");
                 return repeat_status::finished;
               }))
               .build();
  CHECK(f.run(j).status == batch_status::failed);
  broken = false;
  auto r = f.run(j);
  CHECK(r.status == batch_status::completed);
  // a COMPLETED in the first execution: skipped, yet its transition still leads to b.
  CHECK(f.trace == std::vector<std::string>{"a", "b", "b"});
}

TEST_CASE("flow: bad flow definitions are refused at build time", "[framework][flow]") {
  fixture f;
  CHECK_THROWS_WITH(job_builder("x").step(f.step("a")).on("*").to("nowhere").build(),
                    Catch::Contains("unknown step 'nowhere'"));
  CHECK_THROWS_WITH(job_builder("x").step(f.step("a")).on("*").build(), Catch::Contains("has no target"));
  CHECK_THROWS_WITH(job_builder("x").step(f.step("a")).from("zzz").on("*").end().build(),
                    Catch::Contains("unknown step 'zzz'"));
  CHECK_THROWS_WITH(job_builder("x").step(f.step("a")).decider("a", [](const flow_state&) { return std::string(); }).build(),
                    Catch::Contains("two steps or deciders named 'a'"));
}

TEST_CASE("flow: a job step runs a child job and takes its status", "[framework][flow]") {
  fixture f;
  bool child_breaks = true;
  auto child = job_builder("child")
                   .step(f.step("child-a"))
                   .next(tasklet_step("child-b", [&](step_context&) {
                     f.trace.push_back("child-b");
                     if (child_breaks) throw std::runtime_error("child-b broke");
                     return repeat_status::finished;
                   }))
                   .build();
  auto parent = job_builder("parent").step(f.step("before")).next(job_step("run-child", child)).next(f.step("after")).build();
  auto first = f.run(parent);
  CHECK(first.status == batch_status::failed);
  CHECK(f.trace == std::vector<std::string>{"before", "child-a", "child-b"});
  auto steps = f.store->step_executions(first.execution_id);
  REQUIRE(steps.size() == 2);
  CHECK_THAT(steps[1].exit.description, Catch::Contains("child job 'child'") && Catch::Contains("FAILED"));

  child_breaks = false;
  auto second = f.run(parent);
  CHECK(second.status == batch_status::completed);
  // The parent restarts at its job step; the child restarts at its failed step.
  CHECK(f.trace == std::vector<std::string>{"before", "child-a", "child-b", "child-b", "after"});
  auto ctx = f.store->step_context(f.store->step_executions(second.execution_id)[0].id);
  CHECK(ctx.at("child_status").as_string() == "COMPLETED");
  auto child_exec = f.store->execution(ctx.at("child_execution_id").as_int64()).value();
  CHECK(child_exec.job_name == "child");
  CHECK(child_exec.status == batch_status::completed);
}
