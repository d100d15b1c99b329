#include <kiln/command_log.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace kiln {

namespace {

class standalone_log final : public command_log {
 public:
  standalone_log(state_store& store, standalone_log_options options)
      : store_(store), options_(std::move(options)), thread_([this] { loop(); }) {}

  ~standalone_log() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  expected<apply_result> propose(command cmd) override { return propose_async(std::move(cmd)).get(); }

  std::future<expected<apply_result>> propose_async(command cmd) override {
    std::promise<expected<apply_result>> p;
    auto f = p.get_future();
    {
      std::lock_guard lock(mu_);
      queue_.push_back({std::move(cmd), std::move(p), std::chrono::steady_clock::now()});
    }
    cv_.notify_one();
    return f;
  }

  const state_store& state() const override { return store_; }

 private:
  struct pending {
    command cmd;
    std::promise<expected<apply_result>> promise;
    std::chrono::steady_clock::time_point proposed;
  };

  void loop() {
    std::deque<pending> group;
    std::vector<expected<apply_result>> results;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        group.swap(queue_);
      }
      // Each command is its own atomic batch; only the last is synced, which makes the WAL, and
      // with it every batch of the group, durable. Nobody hears of a result before that sync.
      results.clear();
      for (std::size_t i = 0; i < group.size(); ++i) {
        results.push_back(store_.apply(group[i].cmd, i + 1 == group.size()));
      }
      if (options_.on_durable) {
        const auto now = std::chrono::steady_clock::now();
        for (const auto& p : group) options_.on_durable(p.cmd, now - p.proposed);
      }
      for (std::size_t i = 0; i < group.size(); ++i) group[i].promise.set_value(std::move(results[i]));
      group.clear();
    }
  }

  state_store& store_;
  standalone_log_options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pending> queue_;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<command_log> make_standalone_log(state_store& store, standalone_log_options options) {
  return std::make_unique<standalone_log>(store, std::move(options));
}

}  // namespace kiln
