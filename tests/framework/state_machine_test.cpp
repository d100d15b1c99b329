#include "support/temp_dir.hpp"

#include <kiln/command_log.hpp>
#include <kiln/state_store.hpp>
#include <kiln/step_worker.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace kiln;
using kiln::test::temp_dir;

namespace {

job_parameters params_for(const std::string& input) {
  job_parameters p;
  p.set("input", {input, true});
  p.set("note", {std::string("not part of the key"), false});
  return p;
}

std::unique_ptr<state_store> open_store(const temp_dir& dir) {
  auto s = state_store::open(dir.path() / "data", store_access::read_write);
  REQUIRE(s);
  return std::move(*s);
}

// A run of commands covering every kind, with fixed times.
std::vector<command> scenario() {
  step_counts c1{10, 9, 1, 0, 0, 0, 1, 0};
  step_counts c2{20, 18, 1, 1, 0, 0, 2, 0};
  return {create_execution_cmd{"job", params_for("a"), true, 1000},
          start_execution_cmd{1, 1001},
          start_step_cmd{1, "load", false, 0, 1002},
          commit_chunk_cmd{1, c1, {{"pos", 10}}, 1003},
          commit_chunk_cmd{1, c2, {{"pos", 20}}, 1004},
          request_stop_cmd{1, 1005},
          end_step_cmd{1, batch_status::stopped, exit_status::stopped(), c2, {{"pos", 20}}, 1006},
          end_execution_cmd{1, batch_status::stopped, exit_status::stopped(), 1007},
          create_execution_cmd{"job", params_for("a"), true, 2000},
          start_execution_cmd{2, 2001},
          start_step_cmd{2, "load", false, 0, 2002},
          recover_dead_cmd{"process died", 3000},
          abandon_cmd{2, 3001}};
}

}  // namespace

TEST_CASE("state machine: the same commands give byte-identical state", "[framework][state]") {
  temp_dir a, b;
  auto sa = open_store(a);
  auto sb = open_store(b);
  for (const auto& c : scenario()) {
    auto ra = sa->apply(c);
    auto rb = sb->apply(decode(encode(c)).value(), false);
    REQUIRE(ra.has_value() == rb.has_value());
  }
  CHECK(sa->dump() == sb->dump());
  CHECK(sa->applied_index() == scenario().size());
}

TEST_CASE("state machine: executions - steps - contexts and restart carry-over", "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto cmds = scenario();
  for (std::size_t i = 0; i < 8; ++i) REQUIRE(s->apply(cmds[i]));

  auto e1 = s->execution(1);
  REQUIRE(e1);
  CHECK(e1->status == batch_status::stopped);
  CHECK(e1->start_time == 1001);
  CHECK(e1->end_time == 1007);
  auto steps = s->step_executions(1);
  REQUIRE(steps.size() == 1);
  CHECK(steps[0].counts.write == 18);
  CHECK(steps[0].counts.read_skip == 1);
  CHECK(s->step_context(steps[0].id).at("pos").as_int64() == 20);
  CHECK(s->running_execution_ids().empty());

  // Same identifying parameters (the non-identifying one differs): a restart of instance 1.
  auto p = params_for("a");
  p.set("note", {std::string("other"), false});
  auto restart = s->apply(create_execution_cmd{"job", p, true, 2000});
  REQUIRE(restart);
  CHECK(restart->restart);
  CHECK(restart->instance_id == 1);
  CHECK(restart->execution_id == 2);
  REQUIRE(s->apply(start_execution_cmd{2, 2001}));
  auto st = s->apply(start_step_cmd{2, "load", false, 0, 2002});
  REQUIRE(st);
  CHECK(st->action == step_action::start);
  CHECK(st->context.at("pos").as_int64() == 20);  // resumes where the stopped step committed

  // A second execution of a running instance is refused and changes nothing.
  const auto before = s->dump();
  auto twice = s->apply(create_execution_cmd{"job", params_for("a"), true, 2100});
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code() == errc::already_running);
  auto after = s->dump();
  // Only the applied index moved.
  CHECK(before.size() == after.size());
  CHECK(s->executions().size() == 2);
}

TEST_CASE("state machine: Spring Batch's refusals", "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 1}));
  SECTION("a COMPLETED instance is refused with a message naming the fix") {
    REQUIRE(s->apply(start_execution_cmd{1, 2}));
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::completed, exit_status::completed(), 3}));
    auto again = s->apply(create_execution_cmd{"job", params_for("a"), true, 4});
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == errc::instance_complete);
    CHECK_THAT(again.error().message(), Catch::Contains("change an identifying parameter"));
    CHECK(s->apply(create_execution_cmd{"job", params_for("b"), true, 5}));
    CHECK(s->apply(create_execution_cmd{"other-job", params_for("a"), true, 6}));
  }
  SECTION("an ABANDONED instance is never restarted") {
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::failed, exit_status::failed("x"), 3}));
    REQUIRE(s->apply(abandon_cmd{1, 4}));
    auto again = s->apply(create_execution_cmd{"job", params_for("a"), true, 5});
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == errc::instance_complete);
  }
  SECTION("a non-restartable job runs an instance once") {
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::failed, exit_status::failed("x"), 3}));
    auto again = s->apply(create_execution_cmd{"job", params_for("a"), false, 4});
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == errc::not_restartable);
  }
  SECTION("running executions cannot be abandoned; ended ones cannot end again") {
    auto a = s->apply(abandon_cmd{1, 2});
    REQUIRE_FALSE(a);
    CHECK(a.error().code() == errc::invalid_transition);
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::completed, exit_status::completed(), 3}));
    CHECK_FALSE(s->apply(end_execution_cmd{1, batch_status::failed, exit_status::failed(), 4}));
    CHECK_FALSE(s->apply(start_step_cmd{1, "x", false, 0, 5}));
    CHECK_FALSE(s->apply(abandon_cmd{1, 6}));
  }
  SECTION("unknown ids are not_found") {
    auto r = s->apply(start_execution_cmd{99, 2});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::not_found);
  }
}

TEST_CASE("state machine: step start rules (skip - start limit - allow_start_if_complete)", "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto run_step = [&](std::int64_t exec, const char* step, batch_status end, bool allow = false, std::int64_t limit = 0) {
    auto r = s->apply(start_step_cmd{exec, step, allow, limit, 10});
    if (r && r->action == step_action::start) {
      REQUIRE(s->apply(end_step_cmd{r->step_execution_id, end, {}, {}, {{"done", true}}, 11}));
    }
    return r;
  };
  REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 1}));
  REQUIRE(run_step(1, "a", batch_status::completed));
  REQUIRE(run_step(1, "b", batch_status::failed));
  REQUIRE(s->apply(end_execution_cmd{1, batch_status::failed, exit_status::failed(), 12}));

  REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 20}));
  auto a = run_step(2, "a", batch_status::completed);
  REQUIRE(a);
  CHECK(a->action == step_action::skip);
  auto a_again = run_step(2, "a", batch_status::completed, true);
  REQUIRE(a_again);
  CHECK(a_again->action == step_action::start);
  CHECK(a_again->context.empty());  // a COMPLETED step starts over with a fresh context
  auto b = run_step(2, "b", batch_status::failed, false, 2);
  REQUIRE(b);
  CHECK(b->action == step_action::start);
  CHECK(b->context.at("done").as_bool());
  REQUIRE(s->apply(end_execution_cmd{2, batch_status::failed, exit_status::failed(), 21}));

  REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 30}));
  auto limited = run_step(3, "b", batch_status::failed, false, 2);
  REQUIRE_FALSE(limited);
  CHECK(limited.error().code() == errc::start_limit_exceeded);
}

TEST_CASE("state machine: recover_dead fails everything left running", "[framework][state]") {
  temp_dir dir;
  {
    auto s = open_store(dir);
    REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 1}));
    REQUIRE(s->apply(start_execution_cmd{1, 2}));
    REQUIRE(s->apply(start_step_cmd{1, "load", false, 0, 3}));
  }
  auto s = open_store(dir);  // reopening replays the WAL: the state survived
  CHECK(s->running_execution_ids() == std::vector<std::int64_t>{1});
  auto r = s->apply(recover_dead_cmd{"process died", 10});
  REQUIRE(r);
  CHECK(r->affected == 1);
  auto e = s->execution(1);
  CHECK(e->status == batch_status::failed);
  CHECK(e->exit.description == "process died");
  CHECK(s->step_executions(1)[0].status == batch_status::failed);
  CHECK(s->running_execution_ids().empty());
}

TEST_CASE("state store: one owner per data directory - readers need no lock", "[framework][state]") {
  temp_dir dir;
  auto owner = open_store(dir);
  REQUIRE(owner->apply(create_execution_cmd{"job", params_for("a"), true, 1}));
  auto second = state_store::open(dir.path() / "data", store_access::read_write);
  REQUIRE_FALSE(second);
  CHECK(second.error().code() == errc::data_dir_locked);
  CHECK_THAT(second.error().message(), Catch::Contains("in use by another Kiln process"));
  auto reader = state_store::open(dir.path() / "data", store_access::read_only);
  REQUIRE(reader);
  CHECK((*reader)->executions().size() == 1);
  CHECK_FALSE((*reader)->apply(abandon_cmd{1, 2}));
  auto none = state_store::open(dir.path() / "missing", store_access::read_only);
  REQUIRE_FALSE(none);
  CHECK(none.error().code() == errc::not_found);
}

TEST_CASE("standalone log applies proposals in order and groups syncs", "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto log = make_standalone_log(*s);
  REQUIRE(log->propose(create_execution_cmd{"job", params_for("a"), true, 1}));
  REQUIRE(log->propose(start_execution_cmd{1, 2}));
  auto st = log->propose(start_step_cmd{1, "load", false, 0, 3});
  REQUIRE(st);
  std::vector<std::future<expected<apply_result>>> futures;
  for (int i = 1; i <= 200; ++i) {
    step_counts c;
    c.read = c.write = i;
    c.commit = i;
    futures.push_back(log->propose_async(commit_chunk_cmd{st->step_execution_id, c, {{"pos", i}}, 4}));
  }
  for (auto& f : futures) REQUIRE(f.get());
  CHECK(s->step_executions(1)[0].counts.commit == 200);
  CHECK(s->step_context(st->step_execution_id).at("pos").as_int64() == 200);
}

// Counts the hand-overs of a real standalone log: how many proposals reach it, and in how many calls.
class counting_log final : public command_log {
 public:
  explicit counting_log(state_store& s) : log_(make_standalone_log(s)) {}
  expected<apply_result> propose(command cmd) override { return log_->propose(std::move(cmd)); }
  std::future<expected<apply_result>> propose_async(command cmd) override {
    ++calls;
    ++proposed;
    return log_->propose_async(std::move(cmd));
  }
  const state_store& state() const override { return log_->state(); }
  std::size_t calls = 0;
  std::size_t proposed = 0;

 private:
  std::unique_ptr<command_log> log_;
};

TEST_CASE("step committer: fast commits are folded into one per lot, slow ones proposed at once",
          "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  counting_log log(*s);
  REQUIRE(log.propose(create_execution_cmd{"job", params_for("a"), true, 1}));
  auto st = log.propose(start_step_cmd{1, "load", false, 0, 3});
  REQUIRE(st);
  auto counts = [](int i) {
    step_counts c;
    c.read = c.write = c.commit = i;
    return c;
  };
  step_committer committer(log, st->step_execution_id, 64, 16, std::chrono::milliseconds(50), std::chrono::seconds(60));

  SECTION("fast: at most 16 in a lot, the rest when drained") {
    for (int i = 1; i <= 40; ++i) REQUIRE(committer.commit(counts(i), {{"pos", i}}));
    CHECK(log.proposed == 3);  // the first (nothing came just before it), then two lots of 16; 7 held
    CHECK(log.calls == 3);
    REQUIRE(committer.drain());
    CHECK(log.proposed == 4);
    CHECK(log.calls == 4);
    CHECK(s->step_executions(1)[0].counts.commit == 40);
    CHECK(s->step_context(st->step_execution_id).at("pos").as_int64() == 40);
  }
  SECTION("slow: each commit is proposed when it is made") {
    for (int i = 1; i <= 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
      REQUIRE(committer.commit(counts(i), {{"pos", i}}));
      CHECK(log.proposed == static_cast<std::size_t>(i));
    }
    REQUIRE(committer.drain());
    CHECK(s->step_executions(1)[0].counts.commit == 3);
  }
  SECTION("none is held longer than the hold age") {
    step_committer aging(log, st->step_execution_id, 64, 64, std::chrono::milliseconds(200), std::chrono::milliseconds(20));
    for (int i = 1; i <= 6; ++i) {
      REQUIRE(aging.commit(counts(i), {{"pos", i}}));
      std::this_thread::sleep_for(std::chrono::milliseconds(8));
    }
    // Fast enough to hold (8 ms apart, under 200), too many ms for one lot (40 ms, over 20):
    // the age handed some over before the drain, and kept some held.
    CHECK(log.proposed > 1);
    CHECK(log.proposed < 6);
    REQUIRE(aging.drain());
    CHECK(log.proposed < 6);
    CHECK(s->step_executions(1)[0].counts.commit == 6);
    CHECK(s->step_context(st->step_execution_id).at("pos").as_int64() == 6);
  }
  SECTION("hand_over proposes what is held without waiting") {
    REQUIRE(committer.commit(counts(1), {{"pos", 1}}));  // the first is never fast
    REQUIRE(committer.commit(counts(2), {{"pos", 2}}));
    CHECK(log.proposed == 1);
    REQUIRE(committer.hand_over());
    CHECK(log.proposed == 2);
    REQUIRE(committer.drain());
    CHECK(s->step_context(st->step_execution_id).at("pos").as_int64() == 2);
  }
}

// Apply keeps the running executions and steps decoded in memory; these fail if that cache goes stale.
TEST_CASE("state machine: a chunk commit is refused once another command ended its step or execution",
          "[framework][state]") {
  temp_dir dir;
  auto s = open_store(dir);
  const step_counts first{10, 10, 0, 0, 0, 0, 1, 0};
  const step_counts second{20, 20, 0, 0, 0, 0, 2, 0};
  REQUIRE(s->apply(create_execution_cmd{"job", params_for("a"), true, 1}));
  REQUIRE(s->apply(start_step_cmd{1, "load", false, 0, 2}));
  REQUIRE(s->apply(commit_chunk_cmd{1, first, {{"pos", 10}}, 3}));
  auto refused = [&](const char* message) {
    auto r = s->apply(commit_chunk_cmd{1, second, {{"pos", 20}}, 9});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == errc::invalid_transition);
    CHECK(r.error().message() == message);
    CHECK(s->step_executions(1)[0].counts != second);
    CHECK(s->step_context(1).at("pos").as_int64() != 20);
  };
  SECTION("stop: a STOPPING execution still commits; ending it refuses its step") {
    REQUIRE(s->apply(request_stop_cmd{1, 4}));
    auto e = s->execution(1);
    CHECK(e->status == batch_status::stopping);
    CHECK(e->start_time == 2);  // what start_step wrote, kept by the stop
    REQUIRE(s->apply(commit_chunk_cmd{1, first, {{"pos", 15}}, 5}));
    CHECK(s->step_context(1).at("pos").as_int64() == 15);
    // A runner that ends the execution but not its step: the step stays STARTED and cannot commit.
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::stopped, exit_status::stopped(), 6}));
    refused("commit_chunk: execution 1 is STOPPED, not running");
    CHECK_FALSE(s->apply(end_step_cmd{1, batch_status::stopped, exit_status::stopped(), second, {}, 7}));
  }
  SECTION("kill") {
    REQUIRE(s->apply(kill_cmd{1, "", 4}));
    refused("commit_chunk: step execution 1 is FAILED, not running");
    REQUIRE(s->apply(abandon_cmd{1, 5}));
    refused("commit_chunk: step execution 1 is FAILED, not running");
  }
  SECTION("recover_dead") {
    REQUIRE(s->apply(recover_dead_cmd{"process died", 4}));
    refused("commit_chunk: step execution 1 is FAILED, not running");
  }
  SECTION("end_step") {
    REQUIRE(s->apply(end_step_cmd{1, batch_status::completed, exit_status::completed(), first, {{"pos", 10}}, 4}));
    refused("commit_chunk: step execution 1 is COMPLETED, not running");
    REQUIRE(s->apply(start_step_cmd{1, "write", false, 0, 5}));
    REQUIRE(s->apply(commit_chunk_cmd{2, first, {}, 6}));
    refused("commit_chunk: step execution 1 is COMPLETED, not running");
  }
  SECTION("a reopened store knows what runs") {
    s.reset();
    s = open_store(dir);
    REQUIRE(s->apply(commit_chunk_cmd{1, first, {{"pos", 15}}, 4}));
    REQUIRE(s->apply(end_execution_cmd{1, batch_status::failed, exit_status::failed(), 5}));
    refused("commit_chunk: execution 1 is FAILED, not running");
  }
}

TEST_CASE("state machine: a long-lived store applies like one reopened before every command",
          "[framework][state]") {
  const step_counts c{10, 10, 0, 0, 0, 0, 1, 0};
  auto queued = [](const char* input, std::int64_t time) {
    return create_execution_cmd{"job", params_for(input), true, time, "q"};
  };
  const std::vector<command> commands{
      create_execution_cmd{"job", params_for("a"), true, 1},
      start_step_cmd{1, "load", false, 0, 2},
      commit_chunk_cmd{1, c, {{"pos", 1}}, 3},
      request_stop_cmd{1, 4},
      commit_chunk_cmd{1, c, {{"pos", 2}}, 5},
      end_execution_cmd{1, batch_status::stopped, exit_status::stopped(), 6},
      commit_chunk_cmd{1, c, {{"pos", 3}}, 7},
      end_step_cmd{1, batch_status::stopped, exit_status::stopped(), c, {}, 8},
      create_execution_cmd{"job", params_for("a"), true, 10},  // restarts instance 1
      start_execution_cmd{2, 11},
      start_step_cmd{2, "load", false, 0, 12},
      end_step_cmd{2, batch_status::completed, exit_status::completed(), c, {}, 13},
      commit_chunk_cmd{2, c, {}, 14},
      start_step_cmd{2, "write", false, 0, 15},
      commit_chunk_cmd{3, c, {{"pos", 4}}, 16},
      kill_cmd{2, "", 17},
      commit_chunk_cmd{3, c, {}, 18},
      abandon_cmd{2, 19},
      queued("b", 20),
      start_step_cmd{3, "load", false, 0, 21},  // still queued
      claim_cmd{"node-1", 1, {}, {}, 22},
      start_execution_cmd{3, 23},
      start_step_cmd{3, "load", false, 0, 24},
      commit_chunk_cmd{4, c, {{"pos", 5}}, 25},
      queued("c", 26),
      cancel_cmd{4, 27},
      recover_dead_cmd{"node-1 died", 28},
      commit_chunk_cmd{4, c, {}, 29},
      end_step_cmd{4, batch_status::completed, exit_status::completed(), c, {}, 30},
      purge_cmd{100, 31},
      commit_chunk_cmd{4, c, {}, 32},
  };
  temp_dir kept_dir, reopened_dir;
  auto kept = open_store(kept_dir);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    INFO("command " << i);
    auto reopened = open_store(reopened_dir);
    auto a = kept->apply(commands[i]);
    auto b = reopened->apply(commands[i]);
    REQUIRE(a.has_value() == b.has_value());
    if (!a) CHECK(a.error().message() == b.error().message());
    CHECK(kept->dump() == reopened->dump());
  }
  CHECK(kept->executions().empty());  // the purge took every instance
}
