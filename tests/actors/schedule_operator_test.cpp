// The schedule operations of the C++ API (kiln::job_operator) on an embedded node.

#include "support/temp_dir.hpp"

#include <kiln/node.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using namespace kiln;
using kiln::test::temp_dir;

namespace {

std::atomic<int> runs{0};

registry counting_jobs() {
  registry r;
  r.add(job_builder("count")
            .parameter(param("tag"))
            .step(tasklet_step("count", [](step_context&) {
              ++runs;
              return repeat_status::finished;
            }))
            .build());
  return r;
}

template <class F>
bool eventually(F pred, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace

TEST_CASE("job_operator: create, fire, pause, trigger, backfill and delete a schedule", "[actors][schedule]") {
  temp_dir dir;
  const auto jobs = counting_jobs();
  node_options o;
  o.data_dir = dir.path() / "data";
  o.listen = "127.0.0.1:0";
  auto n = node::start(jobs, o);
  REQUIRE(n);
  auto& ops = (*n)->operations();

  schedule_definition d;
  d.name = "every-second";
  d.job = "count";
  d.every = "1s";
  d.parameters = {"tag={schedule}@{scheduled_time}"};
  auto s = ops.create_schedule(d);
  REQUIRE(s);
  CHECK(s->version == 1);
  CHECK(!ops.create_schedule(d));  // the name is taken

  REQUIRE(eventually([&] { return ops.schedule("every-second")->counts.fired >= 2; }, 10));
  const auto fired = ops.schedule("every-second").value();
  auto e = ops.execution(fired.last_execution_id).value();
  CHECK(e.parameters.get_string("tag").rfind("every-second@", 0) == 0);
  CHECK(e.run_key.rfind("every-second@", 0) == 0);

  auto paused = ops.pause_schedule("every-second", "quiet please");
  REQUIRE(paused);
  CHECK(paused->paused);
  auto id = ops.trigger_schedule("every-second");
  REQUIRE(id);
  CHECK(*id > fired.last_execution_id);

  auto dry = ops.backfill_schedule("every-second", 1796083200000, 1796083202000, std::nullopt, true);
  REQUIRE(dry);
  CHECK(dry->slots.size() == 3);
  CHECK(dry->execution_ids.empty());
  auto run = ops.backfill_schedule("every-second", 1796083200000 - 86400000, 1796083202000 - 86400000,
                                   overlap_policy::allow, false);
  REQUIRE(run);
  CHECK(run->execution_ids.size() == 3);

  d.every = "2s";
  auto updated = ops.update_schedule(d);
  REQUIRE(updated);
  CHECK(updated->version == 2);
  CHECK(updated->paused);  // an update keeps the pause
  CHECK(ops.resume_schedule("every-second", false));
  CHECK(ops.schedules().size() == 1);
  CHECK(ops.delete_schedule("every-second"));
  CHECK(!ops.schedule("every-second"));
  auto missing = ops.delete_schedule("every-second");
  REQUIRE(!missing);
  CHECK(missing.error().code() == errc::not_found);

  schedule_definition bad = d;
  bad.name = "bad";
  bad.every.clear();
  bad.cron = "0 0 25 * * ?";
  auto refused = ops.create_schedule(bad);
  REQUIRE(!refused);
  CHECK(refused.error().message().find("hour") != std::string::npos);
  (*n)->shutdown();
}
