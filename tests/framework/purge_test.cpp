// purge_cmd: deletes whole instance histories that ended before the cutoff, never running, queued
// or recent ones; deterministic and round-trips through the command encoding.

#include "support/temp_dir.hpp"

#include <kiln/command.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

using namespace kiln;
using kiln::test::temp_dir;

namespace {

job_parameters input(const std::string& v) {
  job_parameters p;
  p.set("input", {v, true});
  return p;
}

// One execution of (job, input) that runs step "s" and ends with `status` at `end`.
std::int64_t ended_run(state_store& s, const std::string& input_value, batch_status status,
                       std::int64_t start, std::int64_t end) {
  auto c = s.apply(create_execution_cmd{"job", input(input_value), true, start});
  REQUIRE(c);
  auto id = c->execution_id;
  auto st = s.apply(start_step_cmd{id, "s", false, 0, start + 1});
  REQUIRE(st);
  REQUIRE(s.apply(commit_chunk_cmd{st->step_execution_id, {1, 1}, {{"pos", 1}}, start + 2}));
  auto exit = status == batch_status::completed ? exit_status::completed() : exit_status::failed("x");
  REQUIRE(s.apply(end_step_cmd{st->step_execution_id, status, exit, {1, 1}, {{"pos", 1}}, end}));
  REQUIRE(s.apply(end_execution_cmd{id, status, exit, end}));
  return id;
}

std::unique_ptr<state_store> open_store(const temp_dir& dir, const char* name = "data") {
  auto s = state_store::open(dir.path() / name, store_access::read_write);
  REQUIRE(s);
  return std::move(*s);
}

}  // namespace

TEST_CASE("purge deletes instances whose executions all ended before the cutoff", "[framework][purge]") {
  temp_dir dir;
  auto s = open_store(dir);
  const auto old_done = ended_run(*s, "a", batch_status::completed, 100, 200);
  const auto old_failed = ended_run(*s, "b", batch_status::failed, 110, 210);
  REQUIRE(s->apply(abandon_cmd{old_failed, 220}));
  // Instance c: failed long ago, restarted and failed again recently -> kept whole.
  const auto c1 = ended_run(*s, "c", batch_status::failed, 120, 230);
  const auto c2 = ended_run(*s, "c", batch_status::failed, 900, 950);
  const auto recent = ended_run(*s, "d", batch_status::completed, 800, 1000);
  // A running and a queued execution, both created long ago.
  auto running = s->apply(create_execution_cmd{"job", input("e"), true, 50});
  REQUIRE(running);
  REQUIRE(s->apply(start_step_cmd{running->execution_id, "s", false, 0, 60}));
  auto queued = s->apply(create_execution_cmd{"job", input("f"), true, 40, "default"});
  REQUIRE(queued);
  const auto old_steps = s->step_executions(old_done);
  REQUIRE(old_steps.size() == 1);

  auto r = s->apply(purge_cmd{500, 2000});
  REQUIRE(r);
  CHECK(r->executions == std::vector<std::int64_t>{old_done, old_failed});
  CHECK(r->affected == 2);
  CHECK(s->execution(old_done).error().code() == errc::not_found);
  CHECK(s->execution(old_failed).error().code() == errc::not_found);
  CHECK(s->step_executions(old_done).empty());
  CHECK_FALSE(s->step_execution(old_steps[0].id));
  CHECK(s->step_context(old_steps[0].id).empty());
  CHECK_FALSE(s->instance(1));
  CHECK_FALSE(s->instance(2));
  for (auto id : {c1, c2, recent, running->execution_id, queued->execution_id}) CHECK(s->execution(id));
  CHECK(s->executions().size() == 5);
  CHECK(s->queue_depth() == 1);
  // The purged instance's key is gone: the same identifying parameters make a new instance.
  auto again = s->apply(create_execution_cmd{"job", input("a"), true, 3000});
  REQUIRE(again);
  CHECK_FALSE(again->restart);
  // Nothing left to purge before 500.
  auto second = s->apply(purge_cmd{500, 3001});
  REQUIRE(second);
  CHECK(second->affected == 0);
}

TEST_CASE("purge is bounded per command and deterministic", "[framework][purge]") {
  temp_dir dir;
  auto a = open_store(dir, "a");
  auto b = open_store(dir, "b");
  std::vector<command> cmds;
  for (auto* s : {a.get(), b.get()}) {
    for (int i = 0; i < 5; ++i) {
      ended_run(*s, std::string(1, static_cast<char>('a' + i)), batch_status::completed, 100 + i, 200 + i);
    }
    auto r1 = s->apply(decode(encode(purge_cmd{1000, 5000, 2})).value());
    REQUIRE(r1);
    CHECK(r1->affected == 2);
    auto r2 = s->apply(purge_cmd{1000, 5001, 0});
    REQUIRE(r2);
    CHECK(r2->affected == 3);
    CHECK(s->executions().empty());
  }
  CHECK(a->dump() == b->dump());
  auto text = encode(purge_cmd{123, 456, 7});
  auto back = decode(text);
  REQUIRE(back);
  CHECK(std::get<purge_cmd>(*back).before_time == 123);
  CHECK(std::get<purge_cmd>(*back).max_instances == 7);
  CHECK(encode(*back) == text);
}
