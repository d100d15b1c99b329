// The scheduler's state machine commands and policy core, with a clock the test moves by hand:
// every "tick" asks scheduler_core what is due at that instant, applies it to a real state store,
// and feeds the committed schedules back, as the scheduler actor does.

#include "support/temp_dir.hpp"

#include <kiln/job.hpp>
#include <kiln/scheduler_core.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

using namespace kiln;
using kiln::test::temp_dir;

namespace {

constexpr std::int64_t second = 1000;
constexpr std::int64_t minute = 60 * second;
// 2026-12-01T00:00:00Z
constexpr std::int64_t t0 = 1796083200000;

registry test_jobs() {
  registry r;
  r.add(job_builder("echo")
            .parameter(param("line"))
            .step(tasklet_step("echo", [](step_context&) { return repeat_status::finished; }))
            .build());
  return r;
}

schedule_record every(const std::string& name, std::int64_t interval_ms) {
  schedule_record s;
  s.name = name;
  s.job = "echo";
  s.trigger.kind = trigger_kind::interval;
  s.trigger.interval_ms = interval_ms;
  s.trigger.start_ms = t0;
  s.parameters = {"line={schedule}@{scheduled_time}"};
  return s;
}

struct harness {
  temp_dir dir;
  registry jobs = test_jobs();
  std::unique_ptr<state_store> store;
  std::unique_ptr<scheduler_core> core;
  std::map<std::string, int> outcomes;  // of the last tick

  harness() {
    auto s = state_store::open(dir.path() / "data", store_access::read_write);
    REQUIRE(s);
    store = std::move(*s);
    reload_core();
  }
  void reload_core() {
    scheduler_core::environment env;
    env.build = [this](const schedule_record& s, std::int64_t slot, std::int64_t now) {
      return build_firing(jobs, s, slot, now);
    };
    env.running = [this](std::int64_t id) {
      auto e = store->execution(id);
      return e && is_running(e->status);
    };
    core = std::make_unique<scheduler_core>(std::move(env));
    core->load(store->schedules());
  }
  void apply(const command& c) {
    auto r = store->apply(c);
    REQUIRE(r);
  }
  void create(const schedule_record& s, std::int64_t at = t0) { apply(create_schedule_cmd{s, at}); core->put(sched(s.name)); }
  schedule_record sched(const std::string& name) { return store->schedule(name).value(); }
  // What the proposer does at `now`: the due commands, applied, then the committed state fed back.
  std::vector<fire_cmd> tick(std::int64_t now) { return apply_all(core->due(now)); }
  // The same, firing ahead at `pace` as the scheduler actor does.
  std::vector<fire_cmd> tick_ahead(std::int64_t now, const fire_pace& pace) {
    return apply_all(core->due(now, core->horizon(now, pace), {}));
  }
  // Applies the fire commands, counting their outcomes, and reloads the core from the store.
  std::vector<fire_cmd> apply_all(std::vector<fire_cmd> cmds) {
    outcomes.clear();
    for (const auto& c : cmds) {
      auto r = store->apply(c);
      REQUIRE(r);
      ++outcomes[r->outcome];
    }
    core->load(store->schedules());
    return cmds;
  }
  std::vector<job_execution_record> runs() {
    auto all = store->executions();
    std::reverse(all.begin(), all.end());
    return all;
  }
};

}  // namespace

TEST_CASE("schedule: interval slots fire once each with substituted parameters and a run key", "[framework][schedule]") {
  harness h;
  h.create(every("ping", second));
  CHECK(h.core->next_due() == t0 + second);
  CHECK(h.tick(t0 + 500).empty());
  auto cmds = h.tick(t0 + 3 * second);
  CHECK(cmds.size() == 3);
  CHECK(h.outcomes["fired"] == 3);
  auto runs = h.runs();
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].parameters.get_string("line") == "ping@2026-12-01T00:00:01Z");
  CHECK(runs[0].run_key == "ping@2026-12-01T00:00:01Z#1");
  CHECK(runs[0].queue == "default");
  CHECK(runs[2].parameters.find("scheduled_time")->identifying);
  // The same commands again (a proposer that crashed before it saw them applied) change nothing.
  for (const auto& c : cmds) CHECK(h.store->apply(c)->outcome == "duplicate");
  CHECK(h.runs().size() == 3);
  // A proposer that starts over from committed state proposes nothing already decided.
  h.reload_core();
  CHECK(h.tick(t0 + 3 * second).empty());
  CHECK(h.core->next_due() == t0 + 4 * second);
  auto s = h.sched("ping");
  CHECK(s.counts.fired == 3);
  CHECK(s.last_slot == t0 + 3 * second);
  CHECK(s.last_execution_id == runs[2].id);
  CHECK(h.store->fire_outcome_of("ping", t0 + 2 * second, 1) == "fired");
}

TEST_CASE("schedule: misfire policies", "[framework][schedule]") {
  harness h;
  auto s = every("m", minute);
  SECTION("fire_once_now fires the latest missed slot once and counts the rest") {
    h.create(s);
    h.tick(t0 + 10 * minute + second);  // slots 1..9 are late (> 60 s), slot 10 is on time
    auto r = h.sched("m");
    CHECK(r.counts.misfired_skipped == 8);
    CHECK(r.counts.misfired_fired == 1);
    CHECK(r.counts.fired == 2);
    auto runs = h.runs();
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].run_key == "m@2026-12-01T00:09:00Z#1");
    CHECK(runs[1].run_key == "m@2026-12-01T00:10:00Z#1");
  }
  SECTION("fire_all fires each missed slot oldest first, at most max_catchup") {
    s.misfire = misfire_policy::fire_all;
    s.max_catchup = 3;
    h.create(s);
    h.tick(t0 + 10 * minute + second);
    auto r = h.sched("m");
    CHECK(r.counts.misfired_skipped == 6);
    CHECK(r.counts.misfired_fired == 3);
    CHECK(r.counts.fired == 4);
    auto runs = h.runs();
    REQUIRE(runs.size() == 4);
    CHECK(runs[0].run_key == "m@2026-12-01T00:07:00Z#1");
    CHECK(runs[3].run_key == "m@2026-12-01T00:10:00Z#1");
  }
  SECTION("skip drops every missed slot") {
    s.misfire = misfire_policy::skip;
    h.create(s);
    h.tick(t0 + 10 * minute + 30 * second);
    auto r = h.sched("m");
    CHECK(r.counts.misfired_skipped == 9);
    CHECK(r.counts.fired == 1);
    CHECK(h.runs().at(0).run_key == "m@2026-12-01T00:10:00Z#1");
  }
  SECTION("a slot within the threshold is not a misfire") {
    h.create(s);
    h.tick(t0 + minute + 59 * second);
    CHECK(h.sched("m").counts.misfired_fired == 0);
    CHECK(h.sched("m").counts.fired == 1);
  }
}

TEST_CASE("schedule: overlap policies while the previous run still runs", "[framework][schedule]") {
  harness h;
  auto s = every("o", minute);
  auto end_run = [&](std::int64_t id, std::int64_t at) { h.apply(cancel_cmd{id, at}); };

  SECTION("allow runs every slot") {
    h.create(s);
    h.tick(t0 + minute);
    h.tick(t0 + 2 * minute);
    CHECK(h.runs().size() == 2);
  }
  SECTION("skip (and Kubernetes' Forbid) drops the slot") {
    s.overlap = parse_overlap_policy("Forbid").value();
    h.create(s);
    h.tick(t0 + minute);
    h.tick(t0 + 2 * minute);
    CHECK(h.outcomes["skipped_overlap"] == 1);
    end_run(h.runs().at(0).id, t0 + 2 * minute + 1);
    h.tick(t0 + 3 * minute);
    CHECK(h.outcomes["fired"] == 1);
    CHECK(h.sched("o").counts.overlap_skipped == 1);
    CHECK(h.runs().size() == 2);
  }
  SECTION("buffer_one keeps one slot for when the previous run ends") {
    s.overlap = overlap_policy::buffer_one;
    h.create(s);
    h.tick(t0 + minute);
    h.tick(t0 + 2 * minute);
    CHECK(h.outcomes["buffered"] == 1);
    h.tick(t0 + 3 * minute);
    CHECK(h.outcomes["skipped_overlap"] == 1);
    CHECK(h.core->waiting());
    CHECK(h.tick(t0 + 3 * minute + 10).empty());  // still running: nothing to release
    end_run(h.runs().at(0).id, t0 + 3 * minute + 20);
    h.tick(t0 + 3 * minute + 30);
    CHECK(h.outcomes["fired"] == 1);
    auto runs = h.runs();
    REQUIRE(runs.size() == 2);
    CHECK(runs[1].run_key == "o@2026-12-01T00:02:00Z#1");
    auto r = h.sched("o");
    CHECK(r.counts.buffered == 1);
    CHECK(r.counts.overlap_skipped == 1);
    CHECK(r.buffered.empty());
  }
  SECTION("buffer_all keeps every slot and runs them one after another") {
    s.overlap = overlap_policy::buffer_all;
    h.create(s);
    h.tick(t0 + 3 * minute);  // slot 1 fires, 2 and 3 wait
    CHECK(h.outcomes["fired"] == 1);
    CHECK(h.outcomes["buffered"] == 2);
    end_run(h.runs().at(0).id, t0 + 3 * minute + 1);
    h.tick(t0 + 3 * minute + 2);
    end_run(h.runs().at(1).id, t0 + 3 * minute + 3);
    h.tick(t0 + 3 * minute + 4);
    auto runs = h.runs();
    REQUIRE(runs.size() == 3);
    CHECK(runs[2].run_key == "o@2026-12-01T00:03:00Z#1");
    CHECK(!h.core->waiting());
  }
  SECTION("cancel_running (and Replace) ends the previous run and starts the new one") {
    s.overlap = parse_overlap_policy("Replace").value();
    h.create(s);
    h.tick(t0 + minute);
    h.tick(t0 + 2 * minute);
    auto runs = h.runs();
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].status == batch_status::stopped);
    CHECK(runs[0].exit.code == "CANCELLED");
    CHECK(is_running(runs[1].status));
    CHECK(h.sched("o").counts.cancelled_running == 1);
  }
}

TEST_CASE("schedule: pause and resume, with and without catch-up", "[framework][schedule]") {
  harness h;
  auto s = every("p", minute);
  s.misfire = misfire_policy::fire_all;
  h.create(s);
  h.tick(t0 + minute);
  h.apply(pause_schedule_cmd{"p", "maintenance", t0 + minute + 1});
  h.core->load(h.store->schedules());
  CHECK(h.sched("p").pause_note == "maintenance");
  CHECK(!h.core->next_due());
  CHECK(h.tick(t0 + 5 * minute).empty());
  SECTION("resume does not burst the slots missed while paused") {
    h.apply(resume_schedule_cmd{"p", false, t0 + 5 * minute + 30 * second});
    h.core->load(h.store->schedules());
    CHECK(h.tick(t0 + 5 * minute + 40 * second).empty());
    h.tick(t0 + 6 * minute);
    CHECK(h.runs().size() == 2);
    CHECK(h.runs().back().run_key == "p@2026-12-01T00:06:00Z#1");
  }
  SECTION("resume with catch-up runs them through the misfire policy") {
    h.apply(resume_schedule_cmd{"p", true, t0 + 5 * minute + 30 * second});
    h.core->load(h.store->schedules());
    h.tick(t0 + 5 * minute + 31 * second);
    CHECK(h.runs().size() == 5);  // 1 before the pause, 2..5 caught up
    CHECK(h.sched("p").counts.misfired_fired == 3);
  }
}

TEST_CASE("schedule: jitter is deterministic and within bounds", "[framework][schedule]") {
  auto s = every("j", minute);
  s.jitter_ms = 5000;
  for (std::int64_t k = 1; k < 50; ++k) {
    const auto j = jitter_of(s, t0 + k * minute);
    CHECK(j >= 0);
    CHECK(j < 5000);
    CHECK(j == jitter_of(s, t0 + k * minute));
  }
  harness h;
  h.create(s);
  const auto due = h.core->next_due().value();
  CHECK(due == t0 + minute + jitter_of(s, t0 + minute));
  if (due > t0 + minute) CHECK(h.tick(due - 1).empty());
  h.tick(due);
  CHECK(h.runs().size() == 1);
}

TEST_CASE("schedule: versions, stale firings, delete and bad definitions", "[framework][schedule]") {
  harness h;
  h.create(every("v", minute));
  auto dup = h.store->apply(create_schedule_cmd{every("v", minute), t0});
  REQUIRE(!dup);
  CHECK(dup.error().code() == errc::invalid_transition);
  auto stale = h.core->due(t0 + minute);
  REQUIRE(stale.size() == 1);
  auto changed = every("v", 2 * minute);
  h.apply(update_schedule_cmd{changed, t0 + 30 * second});
  CHECK(h.sched("v").version == 2);
  auto r = h.store->apply(stale[0]);
  REQUIRE(!r);
  CHECK(r.error().code() == errc::invalid_transition);
  h.core->load(h.store->schedules());
  h.tick(t0 + 2 * minute);
  REQUIRE(h.runs().size() == 1);
  CHECK(h.runs()[0].run_key == "v@2026-12-01T00:02:00Z#2");
  // A job that is not registered: the slot is decided, the failure counted and shown.
  auto missing = every("x", minute);
  missing.job = "nope";
  h.create(missing, t0 + 2 * minute + 30 * second);
  h.tick(t0 + 3 * minute);
  CHECK(h.sched("x").counts.failed == 1);
  CHECK(h.sched("x").last_error.find("'nope' is not registered") != std::string::npos);
  h.apply(delete_schedule_cmd{"v", t0 + 4 * minute});
  CHECK(!h.store->schedule("v"));
  CHECK(!h.store->fire_outcome_of("v", t0 + 2 * minute, 2));
  CHECK(!h.store->apply(delete_schedule_cmd{"v", t0 + 4 * minute}));
}

TEST_CASE("schedule: manual firings (trigger, backfill) are deduplicated by run key", "[framework][schedule]") {
  harness h;
  auto s = every("b", minute);
  s.trigger.start_ms = t0 - 10 * minute;
  h.create(s);
  auto slots = slots_between(h.sched("b"), t0 - 3 * minute, t0, 100).value();
  CHECK(slots == std::vector<std::int64_t>{t0 - 3 * minute, t0 - 2 * minute, t0 - minute, t0});
  for (auto slot : slots) {
    fire_cmd c{"b", slot, 1, t0 + 1};
    c.manual = true;
    c.execution = build_firing(h.jobs, h.sched("b"), slot, t0 + 1).value();
    CHECK(h.store->apply(c)->outcome == "fired");
    CHECK(h.store->apply(c)->outcome == "duplicate");
  }
  CHECK(h.runs().size() == 4);
  // Backfill does not move the schedule: its next slot still fires.
  h.tick(t0 + minute);
  CHECK(h.runs().size() == 5);
  CHECK(upcoming_slots(h.sched("b"), t0 + minute, 3) ==
        std::vector<std::int64_t>{t0 + 2 * minute, t0 + 3 * minute, t0 + 4 * minute});
}

TEST_CASE("schedule: commands survive encode/decode and apply deterministically", "[framework][schedule]") {
  harness a, b;
  auto s = every("d", minute);
  s.misfire = misfire_policy::fire_all;
  s.overlap = overlap_policy::buffer_all;
  s.jitter_ms = 300;
  a.create(s);
  b.apply(decode(encode(command(create_schedule_cmd{s, t0}))).value());
  b.core->load(b.store->schedules());
  for (auto now : {t0 + 3 * minute + 400, t0 + 5 * minute + 400}) {
    for (const auto& c : a.core->due(now)) {
      auto ra = a.store->apply(c);
      auto rb = b.store->apply(decode(encode(command(c))).value());
      REQUIRE(ra.has_value() == rb.has_value());
      CHECK(ra->outcome == rb->outcome);
    }
    a.core->load(a.store->schedules());
  }
  a.apply(pause_schedule_cmd{"d", "n", t0 + 6 * minute});
  b.apply(decode(encode(command(pause_schedule_cmd{"d", "n", t0 + 6 * minute}))).value());
  a.apply(resume_schedule_cmd{"d", true, t0 + 7 * minute});
  b.apply(decode(encode(command(resume_schedule_cmd{"d", true, t0 + 7 * minute}))).value());
  CHECK(a.store->dump() == b.store->dump());
}

namespace {

fire_pace ahead_pace() {
  fire_pace p;
  p.per_ms = 5;
  p.latency_ms = 10;
  p.max_lead_ms = 2000;
  return p;
}

std::vector<std::int64_t> claim_at(state_store& s, std::int64_t time) {
  auto r = s.apply(claim_cmd{"node-a", 100000, {}, {}, time});
  REQUIRE(r);
  return r->executions;
}

}  // namespace

TEST_CASE("schedule: firing ahead of the slot, not claimable before it", "[framework][schedule][ahead]") {
  harness h;
  const auto pace = ahead_pace();
  const auto slot = t0 + minute;
  SECTION("a lone slot is proposed a few ms early") {
    h.create(every("lone", minute));
    CHECK(pace.lead(1) == 21);  // 2 x 10 ms + 2 x 1 / (5 per ms), rounded up
    const auto wake = h.core->next_wake(pace).value();
    CHECK(wake == slot - 21);
    CHECK(h.tick_ahead(wake - 1, pace).empty());
    auto cmds = h.tick_ahead(wake, pace);
    REQUIRE(cmds.size() == 1);
    CHECK_FALSE(cmds[0].misfired);
    CHECK(h.outcomes["fired"] == 1);
    auto run = h.runs().at(0);
    CHECK(run.not_before == slot);
    CHECK(run.create_time == wake);
    CHECK(run.queued());
    CHECK(run.run_key == "lone@2026-12-01T00:01:00Z#1");
    CHECK(h.sched("lone").early == std::vector<early_firing>{{slot, slot, run.id, t0}});
    CHECK(h.sched("lone").last_slot == slot);
    // Its instant has not come: it is still the next fire time.
    CHECK(upcoming_slots(h.sched("lone"), wake, 2) == std::vector<std::int64_t>{slot, slot + minute});
    CHECK(upcoming_slots(h.sched("lone"), slot, 1) == std::vector<std::int64_t>{slot + minute});
    // Claims decide by their own time: before the slot nothing, at the slot the execution.
    CHECK(claim_at(*h.store, slot - 1).empty());
    CHECK(claim_at(*h.store, slot) == std::vector<std::int64_t>{run.id});
    // The slot is decided: at its instant nothing fires again, and the next slot comes next.
    CHECK(h.tick(slot).empty());
    CHECK(h.core->next_due() == slot + minute);
  }
  SECTION("slots due together are proposed by a lead that grows with their number, capped") {
    for (int i = 0; i < 300; ++i) h.create(every(fmt::format("m{:04}", i), minute));
    CHECK(pace.lead(300) == 140);
    CHECK(pace.lead(100000) == 2000);
    const auto wake = h.core->next_wake(pace).value();
    CHECK(wake == slot - 140);
    CHECK(h.core->horizon(wake - 1, pace) == wake - 1);  // nothing must go yet
    CHECK(h.core->horizon(wake, pace) == slot);
    std::size_t fired = 0;
    for (auto now = wake; fired < 300 && now < slot; ++now) fired += h.tick_ahead(now, pace).size();
    auto runs = h.runs();
    REQUIRE(runs.size() == 300);
    CHECK(std::all_of(runs.begin(), runs.end(), [&](const auto& r) { return r.not_before == slot && r.queued(); }));
    CHECK(claim_at(*h.store, slot - 1).empty());
    CHECK(claim_at(*h.store, slot).size() == 300);
  }
  SECTION("without a lead every slot waits for its instant") {
    auto none = pace;
    none.max_lead_ms = 0;
    h.create(every("z", minute));
    CHECK(none.lead(1000) == 0);
    CHECK(h.core->next_wake(none) == h.core->next_due());
    CHECK(h.tick_ahead(slot - 1, none).empty());
    h.tick_ahead(slot, none);
    CHECK(h.runs().at(0).not_before == 0);
    CHECK(h.sched("z").early.empty());
  }
  SECTION("jitter: not_before is the slot's instant") {
    auto s = every("j", minute);
    s.jitter_ms = 5000;
    h.create(s);
    const auto instant = slot + jitter_of(s, slot);
    CHECK(h.core->next_wake(pace) == instant - 21);
    h.tick_ahead(instant - 21, pace);
    CHECK(h.runs().at(0).not_before == instant);
  }
  SECTION("allow: a frequent schedule has several slots ahead, each with its own not_before") {
    h.create(every("f", 100));
    auto wide = pace;
    wide.latency_ms = 200;  // lead 401 ms
    for (int i = 0; i < 4; ++i) {
      const auto wake = h.core->next_wake(wide).value();
      CHECK(wake == t0 + 100 * (i + 1) - 401);
      CHECK(h.tick_ahead(wake, wide).size() == 1);
    }
    auto runs = h.runs();
    REQUIRE(runs.size() == 4);
    for (std::size_t i = 0; i < runs.size(); ++i) CHECK(runs[i].not_before == t0 + 100 * static_cast<std::int64_t>(i + 1));
    CHECK(h.sched("f").early.size() == 4);
    CHECK(claim_at(*h.store, t0 + 250).size() == 2);
  }
  SECTION("misfire accounting is the same as without firing ahead") {
    harness plain;
    auto late = every("late", minute);
    late.misfire = misfire_policy::fire_all;
    h.create(late);
    plain.create(late);
    // Slots 1-4 are more than 60 s late (misfired), 5 is late within the threshold.
    const auto now = t0 + 5 * minute + 59 * second + 990;
    h.tick_ahead(now, pace);
    plain.tick(now);
    CHECK(h.sched("late").counts == plain.sched("late").counts);
    CHECK(h.sched("late").counts.misfired_fired == 4);
    CHECK(h.sched("late").counts.fired == 5);
    // Then slot 6, 10 ms away, goes ahead: not a misfire.
    CHECK(h.core->next_wake(pace) == t0 + 6 * minute - 21);
    h.tick_ahead(now, pace);
    CHECK(h.sched("late").counts.fired == 6);
    CHECK(h.sched("late").counts.misfired_fired == 4);
    CHECK(h.runs().back().not_before == t0 + 6 * minute);
  }
}

TEST_CASE("schedule: overlap decisions are never taken ahead of the slot", "[framework][schedule][ahead]") {
  harness h;
  const auto pace = ahead_pace();
  auto s = every("o", minute);
  for (auto policy : {overlap_policy::skip, overlap_policy::buffer_one, overlap_policy::cancel_running}) {
    DYNAMIC_SECTION("overlap " << to_string(policy)) {
      s.overlap = policy;
      h.create(s);
      // No previous run: the slot fires ahead.
      h.tick_ahead(t0 + minute - 21, pace);
      REQUIRE(h.runs().size() == 1);
      const auto first = h.runs().at(0);
      CHECK(first.not_before == t0 + minute);
      // Its run is still queued or running at the next slot: that one waits for its instant, and
      // the policy decides then on what runs then.
      CHECK(h.core->next_wake(pace) == t0 + 2 * minute);
      CHECK(h.tick_ahead(t0 + 2 * minute - 21, pace).empty());
      SECTION("the previous run ended just before the slot: it fires") {
        h.apply(cancel_cmd{first.id, t0 + 2 * minute - 10});
        h.tick_ahead(t0 + 2 * minute, pace);
        CHECK(h.outcomes["fired"] == 1);
        CHECK(h.runs().at(1).not_before == 0);
      }
      SECTION("the previous run still runs at the slot: the policy applies") {
        claim_at(*h.store, t0 + minute);
        h.tick_ahead(t0 + 2 * minute, pace);
        if (policy == overlap_policy::skip) CHECK(h.outcomes["skipped_overlap"] == 1);
        if (policy == overlap_policy::buffer_one) CHECK(h.outcomes["buffered"] == 1);
        if (policy == overlap_policy::cancel_running) CHECK(h.sched("o").counts.cancelled_running == 1);
      }
    }
  }
}

TEST_CASE("schedule: pause, update and delete before the slot withdraw a firing recorded ahead",
          "[framework][schedule][ahead]") {
  harness h;
  const auto pace = ahead_pace();
  const auto slot = t0 + minute;
  auto s = every("w", minute);
  s.misfire = misfire_policy::fire_all;
  h.create(s);
  h.tick_ahead(slot - 21, pace);
  REQUIRE(h.runs().size() == 1);
  const auto id = h.runs().at(0).id;
  auto withdrawn = [&] {
    auto e = h.store->execution(id).value();
    CHECK(e.status == batch_status::stopped);
    CHECK(e.exit.code == "CANCELLED");
    CHECK_FALSE(h.store->queue_claimable(slot));
    CHECK(claim_at(*h.store, slot).empty());
  };
  SECTION("pause: the slot is undecided again; resume without catch-up skips it") {
    auto r = h.store->apply(pause_schedule_cmd{"w", "", slot - 5});
    REQUIRE(r);
    CHECK(r->executions == std::vector<std::int64_t>{id});
    withdrawn();
    auto p = h.sched("w");
    CHECK(p.counts.fired == 0);
    CHECK(p.counts.withdrawn == 1);
    CHECK(p.last_slot == t0);  // as before the firing
    CHECK(p.early.empty());
    CHECK_FALSE(h.store->fire_outcome_of("w", slot, 1));
    CHECK(h.store->execution(id)->exit.description.find("paused before its slot") != std::string::npos);
    h.apply(resume_schedule_cmd{"w", false, slot + 10 * second});
    h.core->load(h.store->schedules());
    h.tick_ahead(slot + 10 * second, pace);
    CHECK(h.runs().size() == 1);
    CHECK(h.core->next_due() == slot + minute);
  }
  SECTION("pause, then resume with catch-up: the slot fires once, late") {
    h.apply(pause_schedule_cmd{"w", "", slot - 5});
    h.apply(resume_schedule_cmd{"w", true, slot + 10 * second});
    h.core->load(h.store->schedules());
    h.tick_ahead(slot + 10 * second, pace);
    CHECK(h.outcomes["fired"] == 1);
    auto runs = h.runs();
    REQUIRE(runs.size() == 2);
    CHECK(runs[1].run_key == "w@2026-12-01T00:01:00Z#1");
    CHECK(runs[1].instance_id == runs[0].instance_id);
    CHECK(runs[1].not_before == 0);
    CHECK(h.sched("w").counts.fired == 1);
    CHECK(h.store->fire_outcome_of("w", slot, 1) == std::string("fired"));
  }
  SECTION("a pause after the slot's instant leaves the firing alone") {
    auto r = h.store->apply(pause_schedule_cmd{"w", "", slot});
    REQUIRE(r);
    CHECK(r->executions.empty());
    CHECK(h.store->execution(id)->queued());
    CHECK(h.sched("w").counts.fired == 1);
    CHECK(h.sched("w").last_slot == slot);
  }
  SECTION("an execution already claimed stays decided") {
    CHECK(claim_at(*h.store, slot) == std::vector<std::int64_t>{id});
    auto r = h.store->apply(pause_schedule_cmd{"w", "", slot - 5});
    REQUIRE(r);
    CHECK(r->executions.empty());
    CHECK(h.sched("w").counts.fired == 1);
    CHECK(h.sched("w").last_slot == slot);
  }
  SECTION("update: the old version's firing goes, the new version starts after the update") {
    auto changed = every("w", 2 * minute);
    auto r = h.store->apply(update_schedule_cmd{changed, slot - 5});
    REQUIRE(r);
    CHECK(r->executions == std::vector<std::int64_t>{id});
    withdrawn();
    CHECK(h.sched("w").last_slot == slot - 5);  // as if nothing had fired: the update's time
    h.core->load(h.store->schedules());
    CHECK(h.core->next_due() == t0 + 2 * minute);
  }
  SECTION("delete cancels it") {
    auto r = h.store->apply(delete_schedule_cmd{"w", slot - 5});
    REQUIRE(r);
    CHECK(r->executions == std::vector<std::int64_t>{id});
    withdrawn();
  }
  SECTION("the record of it goes once its slot has come") {
    h.tick_ahead(slot + minute - 21, pace);
    auto early = h.sched("w").early;
    REQUIRE(early.size() == 1);
    CHECK(early[0].slot == slot + minute);
  }
}

TEST_CASE("schedule: firing ahead and its withdrawal replay to byte-identical state", "[framework][schedule][ahead]") {
  harness a, b;
  const auto pace = ahead_pace();
  for (const auto* name : {"x", "y"}) {
    auto s = every(name, minute);
    s.jitter_ms = 300;
    a.create(s);
    b.apply(decode(encode(command(create_schedule_cmd{s, t0}))).value());
  }
  b.core->load(b.store->schedules());
  auto both = [&](const command& c) {
    auto ra = a.store->apply(c);
    auto rb = b.store->apply(decode(encode(c)).value());
    REQUIRE(ra.has_value() == rb.has_value());
    if (ra) CHECK(ra->executions == rb->executions);
  };
  const auto wake = a.core->next_wake(pace).value();
  const auto cmds = a.core->due(wake, a.core->horizon(wake, pace), {});
  REQUIRE_FALSE(cmds.empty());
  for (const auto& c : cmds) {
    CHECK(c.execution.not_before > wake);
    both(c);
  }
  both(claim_cmd{"n", 10, {}, {}, wake});  // nothing is claimable yet
  both(pause_schedule_cmd{"x", "", wake + 1});
  both(delete_schedule_cmd{"y", wake + 2});
  CHECK(a.store->queue_depth() == 0);
  CHECK(a.store->dump() == b.store->dump());
}

TEST_CASE("schedule: purge deletes fire records decided before the cutoff, a bounded number per command",
          "[framework][schedule][purge]") {
  harness h;
  auto s = every("p", minute);
  s.overlap = overlap_policy::allow;
  h.create(s);
  for (int i = 1; i <= 4; ++i) h.tick(t0 + i * minute);
  REQUIRE(h.runs().size() == 4);
  const auto cutoff = t0 + 3 * minute;  // the slots of t0+1min and t0+2min were decided before it
  CHECK(h.store->fire_records_before(cutoff) == 2);
  for (const std::int64_t expected : {1, 1, 0}) {
    auto r = h.store->apply(purge_cmd{cutoff, t0 + 5 * minute, 1});
    REQUIRE(r);
    CHECK(r->fire_records == expected);
    CHECK(r->affected == 0);  // the executions are queued, not ended: they stay
  }
  CHECK(h.store->fire_records_before(cutoff) == 0);
  CHECK(!h.store->fire_outcome_of("p", t0 + minute, 1));
  CHECK(!h.store->fire_outcome_of("p", t0 + 2 * minute, 1));
  CHECK(h.store->fire_outcome_of("p", t0 + 3 * minute, 1) == std::optional<std::string>("fired"));
  CHECK(h.runs().size() == 4);
  // The schedule neither fires the purged slots again nor stops: the next slot fires.
  h.core->load(h.store->schedules());
  h.tick(t0 + 4 * minute + 10);
  CHECK(h.runs().size() == 4);
  h.tick(t0 + 5 * minute);
  CHECK(h.runs().size() == 5);
}
