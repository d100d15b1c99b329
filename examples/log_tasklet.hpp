#pragma once
// A tasklet step whose function also gets the command log, for example jobs that act on Kiln's
// own state (purge-history proposes purge commands, fan-out runs child jobs). Each call is one
// committed transaction, as for a tasklet_step; `stop` turns true when a stop was requested;
// `counts` (as of the last commit) may be raised, e.g. `write` for the items a call handled.

#include <kiln/command_log.hpp>
#include <kiln/step.hpp>
#include <kiln/step_worker.hpp>

#include <atomic>
#include <functional>
#include <memory>

namespace kiln::examples {

using log_tasklet = std::function<repeat_status(step_context&, command_log&, const std::atomic<bool>& stop,
                                               step_counts& counts)>;

class log_tasklet_step : public step_settings<log_tasklet_step> {
 public:
  log_tasklet_step(std::string name, log_tasklet fn) : step_settings(std::move(name)), fn_(std::move(fn)) {}
  [[nodiscard]] std::string kind() const override { return "tasklet"; }
  [[nodiscard]] std::unique_ptr<step_worker> make_worker(
      step_context ctx, command_log& log, std::shared_ptr<run_progress> progress) const override {
    return std::make_unique<worker>(fn_, std::move(ctx), log, std::move(progress));
  }

 private:
  class worker final : public step_worker {
   public:
    worker(const log_tasklet& fn, step_context ctx, command_log& log, std::shared_ptr<run_progress> progress)
        : step_worker(std::move(ctx), log, std::move(progress)), fn_(fn), log_(log) {}

   protected:
    void do_open() override {}
    step_outcome do_run_once() override {
      step_counts c = counts();
      const auto status = fn_(context(), log_, stop_flag(), c);
      commit(c);
      return status == repeat_status::finished ? step_outcome::completed : step_outcome::continuing;
    }
    void do_close() override {}

   private:
    const log_tasklet& fn_;
    command_log& log_;
  };

  log_tasklet fn_;
};

}  // namespace kiln::examples
