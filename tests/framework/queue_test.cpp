// The queue commands of the state machine: submit into a queue, claim by priority and limits,
// concurrency forbid, cancel, kill (fencing) and recovery that leaves queued work alone.

#include "support/temp_dir.hpp"

#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

using namespace kiln;
using kiln::test::temp_dir;

namespace {

std::unique_ptr<state_store> open_store(const temp_dir& dir) {
  auto s = state_store::open(dir.path() / "data", store_access::read_write);
  REQUIRE(s);
  return std::move(*s);
}

create_execution_cmd submit(const std::string& job, const std::string& key, std::int64_t priority,
                            std::string queue = "default", bool forbid = false, std::int64_t time = 1000) {
  create_execution_cmd c;
  c.job = job;
  c.parameters.set("k", {key, true});
  c.time = time;
  c.queue = std::move(queue);
  c.priority = priority;
  c.forbid_concurrent = forbid;
  return c;
}

std::vector<std::int64_t> claim(state_store& s, std::int64_t max, std::vector<std::string> queues = {},
                                std::map<std::string, std::int64_t> free = {}) {
  auto r = s.apply(claim_cmd{"node-a", max, std::move(queues), std::move(free), 5000});
  REQUIRE(r);
  return r->executions;
}

std::int64_t submitted(state_store& s, const create_execution_cmd& c) {
  auto r = s.apply(c);
  REQUIRE(r);
  return r->execution_id;
}

}  // namespace

TEST_CASE("queue: claims by priority then submission order", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto low = submitted(*s, submit("j", "1", 0));
  auto high = submitted(*s, submit("j", "2", 10));
  auto low2 = submitted(*s, submit("j", "3", 0));
  auto negative = submitted(*s, submit("j", "4", -5));
  auto high2 = submitted(*s, submit("j", "5", 10));

  auto waiting = s->queued();
  REQUIRE(waiting.size() == 5);
  CHECK(waiting.front().id == high);
  CHECK(waiting.front().queued());

  CHECK(claim(*s, 3) == std::vector<std::int64_t>{high, high2, low});
  CHECK(claim(*s, 10) == std::vector<std::int64_t>{low2, negative});
  CHECK(claim(*s, 10).empty());
  auto e = s->execution(high).value();
  CHECK(e.node == "node-a");
  CHECK(e.claim_time == 5000);
  CHECK_FALSE(e.queued());
  CHECK(e.status == batch_status::starting);
}

TEST_CASE("queue: a claim takes only served queues within their free slots", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto a1 = submitted(*s, submit("j", "1", 0, "a"));
  auto b1 = submitted(*s, submit("j", "2", 0, "b"));
  auto a2 = submitted(*s, submit("j", "3", 0, "a"));
  auto c1 = submitted(*s, submit("j", "4", 0, "c"));
  CHECK(claim(*s, 10, {"a", "b"}, {{"a", 1}}) == std::vector<std::int64_t>{a1, b1});
  CHECK(claim(*s, 10, {"a"}, {{"a", 1}}) == std::vector<std::int64_t>{a2});
  CHECK(s->queued().size() == 1);
  CHECK(claim(*s, 10) == std::vector<std::int64_t>{c1});
}

TEST_CASE("queue: concurrency forbid holds a second execution of the job until the first ends",
          "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto first = submitted(*s, submit("nightly", "1", 0, "default", true));
  auto second = submitted(*s, submit("nightly", "2", 0, "default", true));
  auto other = submitted(*s, submit("other", "1", 0, "default", true));
  CHECK(claim(*s, 10) == std::vector<std::int64_t>{first, other});
  CHECK(claim(*s, 10).empty());
  REQUIRE(s->apply(start_execution_cmd{first, 6000}));
  REQUIRE(s->apply(end_execution_cmd{first, batch_status::completed, exit_status::completed(), 7000}));
  CHECK(claim(*s, 10) == std::vector<std::int64_t>{second});
}

TEST_CASE("queue: a queued execution cannot start and is cancelled to STOPPED", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto id = submitted(*s, submit("j", "1", 0));
  auto start = s->apply(start_execution_cmd{id, 2000});
  REQUIRE_FALSE(start);
  CHECK(start.error().message().find("waits in queue 'default'") != std::string::npos);
  REQUIRE_FALSE(s->apply(request_stop_cmd{id, 2000}));

  REQUIRE(s->apply(cancel_cmd{id, 3000}));
  auto e = s->execution(id).value();
  CHECK(e.status == batch_status::stopped);
  CHECK(e.exit.code == "CANCELLED");
  CHECK(s->queued().empty());
  CHECK(claim(*s, 10).empty());
  // The instance can be submitted again (a restart of it).
  auto again = s->apply(submit("j", "1", 0));
  REQUIRE(again);
  CHECK(again->restart);
  // Cancelling twice, or cancelling a claimed execution, is refused.
  CHECK_FALSE(s->apply(cancel_cmd{id, 4000}));
  claim(*s, 10);
  auto refused = s->apply(cancel_cmd{again->execution_id, 4000});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == errc::invalid_transition);
}

TEST_CASE("queue: kill fails the execution and fences its worker", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto id = submitted(*s, submit("j", "1", 0));
  claim(*s, 1);
  REQUIRE(s->apply(start_execution_cmd{id, 2000}));
  auto step = s->apply(start_step_cmd{id, "load", false, 0, 2001});
  REQUIRE(step);
  REQUIRE(s->apply(commit_chunk_cmd{step->step_execution_id, {}, {{"pos", 1}}, 2002}));
  REQUIRE(s->apply(kill_cmd{id, "operator asked", 2003}));
  auto e = s->execution(id).value();
  CHECK(e.status == batch_status::failed);
  CHECK(e.exit.code == "KILLED");
  CHECK(s->step_execution(step->step_execution_id)->status == batch_status::failed);
  auto late = s->apply(commit_chunk_cmd{step->step_execution_id, {}, {{"pos", 2}}, 2004});
  REQUIRE_FALSE(late);
  CHECK(late.error().code() == errc::invalid_transition);
  CHECK(s->step_context(step->step_execution_id).at("pos").as_int64() == 1);
  // Restarting the killed instance resumes from its last commit.
  auto again = submitted(*s, submit("j", "1", 0));
  claim(*s, 1);
  auto resumed = s->apply(start_step_cmd{again, "load", false, 0, 3000});
  REQUIRE(resumed);
  CHECK(resumed->context.at("pos").as_int64() == 1);
}

TEST_CASE("queue: recovery fails claimed executions and leaves queued ones waiting", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto running = submitted(*s, submit("j", "1", 5));
  auto waiting = submitted(*s, submit("j", "2", 0));
  CHECK(claim(*s, 1) == std::vector<std::int64_t>{running});
  REQUIRE(s->apply(start_execution_cmd{running, 2000}));
  auto r = s->apply(recover_dead_cmd{"the node died", 3000});
  REQUIRE(r);
  CHECK(r->executions == std::vector<std::int64_t>{running});
  CHECK(s->execution(running)->status == batch_status::failed);
  CHECK(s->execution(waiting)->queued());
  CHECK(claim(*s, 1) == std::vector<std::int64_t>{waiting});
}

TEST_CASE("queue: the queue commands replay to byte-identical state", "[framework][queue]") {
  temp_dir a, b;
  auto sa = open_store(a);
  auto sb = open_store(b);
  std::vector<command> commands{submit("j", "1", 1, "q1", true),
                                submit("j", "2", 2, "q2", true),
                                submit("k", "1", 0, "q1"),
                                claim_cmd{"n1", 2, {"q1", "q2"}, {{"q1", 1}}, 2000},
                                cancel_cmd{3, 2001},
                                kill_cmd{2, "gone", 2002},
                                claim_cmd{"n2", 5, {}, {}, 2003}};
  for (const auto& c : commands) {
    auto ra = sa->apply(c);
    auto rb = sb->apply(decode(encode(c)).value(), false);
    REQUIRE(ra.has_value() == rb.has_value());
    if (ra) CHECK(ra->executions == rb->executions);
  }
  CHECK(sa->dump() == sb->dump());
}

TEST_CASE("queue: execution pages go below 'before' and end at id 1", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  for (int i = 1; i <= 3; ++i) submitted(*s, submit("j", std::to_string(i), 0));
  auto ids = [&](std::optional<std::int64_t> before) {
    execution_filter f;
    f.before = before;
    f.limit = 2;
    std::vector<std::int64_t> out;
    for (const auto& e : s->executions(f)) out.push_back(e.id);
    return out;
  };
  CHECK(ids(std::nullopt) == std::vector<std::int64_t>{3, 2});
  CHECK(ids(2) == std::vector<std::int64_t>{1});
  CHECK(ids(1).empty());
  CHECK(ids(0).empty());
  CHECK(ids(-7).empty());
}

TEST_CASE("queue: an execution with not_before waits for a claim at or after it", "[framework][queue]") {
  temp_dir dir;
  auto s = open_store(dir);
  auto later = submit("j", "1", 10);
  later.not_before = 6000;
  auto early = submitted(*s, later);
  CHECK(s->execution(early)->not_before == 6000);
  CHECK_FALSE(s->queue_claimable(5999));
  CHECK(s->queue_claimable(6000));
  CHECK(s->queue_next_not_before(5000) == 6000);
  CHECK_FALSE(s->queue_next_not_before(6000));
  auto now = submitted(*s, submit("j", "2", 0));
  CHECK(s->queue_claimable(5000));
  // The claim's own time decides: at 5000 the higher-priority execution is passed over.
  CHECK(claim(*s, 10) == std::vector<std::int64_t>{now});
  CHECK(s->execution(early)->queued());
  CHECK_FALSE(s->queue_claimable(5000));
  auto at = s->apply(claim_cmd{"node-a", 10, {}, {}, 6000});
  REQUIRE(at);
  CHECK(at->executions == std::vector<std::int64_t>{early});
  CHECK_FALSE(s->queue_next_not_before(0));

  // The index of not_before times is rebuilt when the store opens again.
  auto third = submit("j", "3", 0);
  third.not_before = 9000;
  auto waiting = submitted(*s, third);
  s.reset();
  s = open_store(dir);
  CHECK_FALSE(s->queue_claimable(8999));
  CHECK(s->queue_next_not_before(8000) == 9000);
  CHECK(claim(*s, 10).empty());
  CHECK(s->apply(cancel_cmd{waiting, 7000}));
  CHECK_FALSE(s->queue_next_not_before(0));
  CHECK_FALSE(s->queue_claimable(9000));

  // Only a queued execution can wait; the command survives encode/decode.
  auto direct = submit("j", "4", 0, "");
  direct.not_before = 9000;
  auto refused = s->apply(direct);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == errc::bad_command);
  auto round = std::get<create_execution_cmd>(decode(encode(command(third))).value());
  CHECK(round.not_before == 9000);
}
