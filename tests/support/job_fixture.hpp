#pragma once
// The base of the framework tests' fixtures: a fresh data dir with a state store and a standalone
// command log, identifying parameters `run=1`, and run() that runs a job to its end through
// run_job and requires that it could start.

#include "support/temp_dir.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>

namespace kiln::test {

struct job_fixture {
  temp_dir dir;
  std::unique_ptr<state_store> store;
  std::unique_ptr<command_log> log;
  job_parameters params;

  job_fixture() {
    store = std::move(state_store::open(dir.path() / "data", store_access::read_write).value());
    log = make_standalone_log(*store);
    params.set("run", {std::string("1"), true});
  }

  run_result run(const job& j, const std::atomic<bool>* stop = nullptr) {
    auto r = run_job(j, params, *log, stop);
    REQUIRE(r);
    return *r;
  }
};

}  // namespace kiln::test
