#pragma once
// Private: the node's internals, which are also its job_operator.

#include <kiln/actors/dispatcher.hpp>
#include <kiln/actors/scheduler.hpp>
#include <kiln/command_log.hpp>
#include <kiln/job_operator.hpp>
#include <kiln/node.hpp>
#include <kiln/state_store.hpp>

#include "metrics.hpp"
#include "schedule_metrics.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

namespace kiln::node_detail {

class gateway;

class node_impl final : public job_operator {
 public:
  node_impl(const registry& jobs, node_options options);
  ~node_impl() override;

  // Opens the store, recovers what a dead node left running, starts the actor system.
  expected<void> open();
  void shutdown();
  void set_gateway(gateway* g) { gateway_ = g; }
  [[nodiscard]] const node_options& options() const { return options_; }
  [[nodiscard]] std::string metrics_text();

  // job_operator
  [[nodiscard]] const registry& jobs() const override { return jobs_; }
  expected<std::int64_t> submit(const std::string& job, const std::vector<std::string>& parameters,
                                const submit_options& options) override;
  expected<void> stop(std::int64_t execution_id) override;
  expected<void> kill(std::int64_t execution_id) override;
  expected<void> cancel(std::int64_t execution_id) override;
  expected<std::int64_t> restart(std::int64_t execution_id) override;
  expected<void> abandon(std::int64_t execution_id) override;
  [[nodiscard]] std::vector<job_execution_record> executions(const execution_filter& filter) const override;
  [[nodiscard]] expected<job_execution_record> execution(std::int64_t id) const override;
  [[nodiscard]] std::optional<live_progress> progress(std::int64_t id) const override;
  [[nodiscard]] std::vector<job_execution_record> queued(std::size_t limit) const override;
  [[nodiscard]] node_status status() const override;
  [[nodiscard]] const state_store& store() const override { return *store_; }
  expected<schedule_record> create_schedule(const schedule_definition& d) override;
  expected<schedule_record> update_schedule(const schedule_definition& d) override;
  expected<void> delete_schedule(const std::string& name) override;
  expected<schedule_record> pause_schedule(const std::string& name, const std::string& note) override;
  expected<schedule_record> resume_schedule(const std::string& name, bool catch_up) override;
  expected<std::int64_t> trigger_schedule(const std::string& name) override;
  expected<backfill_result> backfill_schedule(const std::string& name, std::int64_t from, std::int64_t to,
                                              std::optional<overlap_policy> overlap, bool dry_run) override;
  [[nodiscard]] std::vector<schedule_record> schedules() const override { return store_->schedules(); }
  [[nodiscard]] expected<schedule_record> schedule(const std::string& name) const override {
    return store_->schedule(name);
  }

 private:
  void recover();
  expected<std::int64_t> requeue(const job_execution_record& e);
  expected<std::int64_t> enqueue(const job& j, const job_parameters& params, const submit_options& o);
  // The scheduler actor's observers (metrics, waking the dispatcher); node_schedules.cpp.
  actors::scheduler_config scheduler_config();
  // Proposes a schedule command, tells the scheduler, returns the committed schedule.
  expected<schedule_record> change_schedule(command cmd, const std::string& name);
  // Applies manual firings; the created executions' ids.
  expected<std::vector<std::int64_t>> fire_manual(const std::vector<fire_cmd>& cmds);

  const registry& jobs_;
  node_options options_;
  node_metrics metrics_;
  schedule_metrics schedule_metrics_;
  std::unique_ptr<state_store> store_;
  std::unique_ptr<command_log> log_;
  std::unique_ptr<caf::actor_system_config> system_config_;
  std::unique_ptr<caf::actor_system> system_;
  actors::dispatcher_actor dispatcher_;
  actors::scheduler_actor scheduler_;
  std::shared_ptr<actors::running_table> running_ = std::make_shared<actors::running_table>();
  gateway* gateway_ = nullptr;
  std::int64_t started_at_ = 0;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> shut_down_{false};

  struct rate_sample {
    std::int64_t time = 0;
    std::int64_t read = 0;
    double rate = 0.0;
  };
  mutable std::mutex rate_mu_;
  mutable std::map<std::int64_t, rate_sample> rates_;
};

}  // namespace kiln::node_detail
