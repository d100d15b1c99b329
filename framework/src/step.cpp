#include <kiln/step.hpp>

#include <spdlog/spdlog.h>

namespace kiln {

void detail::log_skip(const std::string& step_name, const std::exception_ptr& e, std::int64_t n) {
  constexpr std::int64_t loud = 10;
  if (n < loud) {
    spdlog::warn("step '{}': skipped an item: {}", step_name, describe_exception(e));
  } else if (n == loud) {
    spdlog::warn("step '{}': skipped an item: {} (further skips are logged at debug level; `show` has the counts)",
                 step_name, describe_exception(e));
  } else if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("step '{}': skipped an item: {}", step_name, describe_exception(e));
  }
}

void detail::log_write_behind_failure(const std::string& step_name, const std::exception_ptr& e) {
  spdlog::info("step '{}': a write behind failed ({}); going on in line from the last commit", step_name,
               describe_exception(e));
}

namespace {

class tasklet_worker final : public step_worker {
 public:
  tasklet_worker(const tasklet& fn, step_context ctx, command_log& log, std::shared_ptr<run_progress> progress)
      : step_worker(std::move(ctx), log, std::move(progress)), fn_(fn) {}

 protected:
  void do_open() override {}
  step_outcome do_run_once() override {
    const auto status = fn_(context());
    commit(counts());
    return status == repeat_status::finished ? step_outcome::completed : step_outcome::continuing;
  }
  void do_close() override {}

 private:
  const tasklet& fn_;
};

}  // namespace

std::unique_ptr<step_worker> tasklet_step::make_worker(step_context ctx, command_log& log,
                                                       std::shared_ptr<run_progress> progress) const {
  return std::make_unique<tasklet_worker>(fn_, std::move(ctx), log, std::move(progress));
}

}  // namespace kiln
