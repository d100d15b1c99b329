#pragma once
// Runs a job of one tasklet step through the real framework (run_job over a RocksDB folder) and
// reads back what the repository recorded: the execution, the step and its committed context.

#include "support/temp_dir.hpp"

#include <kiln/command_log.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace kiln::test {

struct step_outcome_record {
  run_result run;
  step_execution_record step;
  execution_context context;  // as committed
};

class tasklet_run {
 public:
  tasklet_run() {
    store_ = std::move(state_store::open(dir_.path() / "data", store_access::read_write).value());
    log_ = make_standalone_log(*store_);
  }

  // Job parameter (a string); identifying unless told otherwise.
  void set(const std::string& name, const std::string& value, bool identifying = true) {
    params_.set(name, {value, identifying});
  }

  step_outcome_record run(const tasklet& t, const std::atomic<bool>* stop = nullptr) {
    auto j = job_builder("tasklet-job").allow_unknown_parameters().step(tasklet_step("work", t)).build();
    auto r = run_job(j, params_, *log_, stop);
    REQUIRE(r);
    auto steps = store_->step_executions(r->execution_id);
    REQUIRE(steps.size() == 1);
    return {*r, steps.back(), store_->step_context(steps.back().id)};
  }

  [[nodiscard]] const temp_dir& dir() const { return dir_; }

 private:
  temp_dir dir_;
  std::unique_ptr<state_store> store_;
  std::unique_ptr<command_log> log_;
  job_parameters params_;
};

inline std::string text_of(const execution_context& ctx, const char* key) {
  const auto* v = ctx.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string("<no ") + key + ">";
}

}  // namespace kiln::test
