#include <kiln/command_log.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <thread>
#include <vector>

namespace kiln {

namespace {

class standalone_log final : public command_log {
 public:
  standalone_log(state_store& store, standalone_log_options options)
      : store_(store), options_(std::move(options)), sync_thread_([this] { sync_loop(); }),
        apply_thread_([this] { apply_loop(); }) {}

  ~standalone_log() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    apply_thread_.join();  // applies and hands over what was proposed before closing
    {
      std::lock_guard lock(sync_mu_);
      applier_done_ = true;
    }
    sync_cv_.notify_all();
    sync_thread_.join();
  }

  expected<apply_result> propose(command cmd) override { return propose_async(std::move(cmd)).get(); }

  std::future<expected<apply_result>> propose_async(command cmd) override {
    std::future<expected<apply_result>> f;
    enqueue(std::move(cmd), fulfil(f));
    return f;
  }

  void propose_then(command cmd, std::function<void(expected<apply_result>)> done) override {
    enqueue(std::move(cmd), std::move(done));
  }

  const state_store& state() const override { return store_; }

 private:
  struct pending {
    command cmd;
    std::function<void(expected<apply_result>)> done;
    std::chrono::steady_clock::time_point proposed;
    std::optional<expected<apply_result>> result;
  };

  // A completion that sets the value of `f`'s promise.
  static std::function<void(expected<apply_result>)> fulfil(std::future<expected<apply_result>>& f) {
    auto p = std::make_shared<std::promise<expected<apply_result>>>();
    f = p->get_future();
    return [p](expected<apply_result> r) { p->set_value(std::move(r)); };
  }

  void enqueue(command cmd, std::function<void(expected<apply_result>)> done) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back({std::move(cmd), std::move(done), std::chrono::steady_clock::now(), std::nullopt});
    }
    cv_.notify_one();
  }

  // Applies each group (each command its own atomic batch, none synced) and writes its WAL
  // records out, then passes it to the sync thread. Nobody hears of a result before that sync.
  void apply_loop() {
    ::pthread_setname_np(::pthread_self(), "kiln-apply");
    std::deque<pending> group;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        group.swap(queue_);
      }
      for (auto& p : group) p.result = store_.apply(p.cmd, false);
      if (auto w = store_.write_wal(); !w) {
        for (auto& p : group) p.result = std::unexpected(w.error());
      }
      {
        std::lock_guard lock(sync_mu_);
        for (auto& p : group) to_sync_.push_back(std::move(p));
      }
      sync_cv_.notify_one();
      group.clear();
    }
  }

  // One fdatasync covers every group written out before it began.
  void sync_loop() {
    ::pthread_setname_np(::pthread_self(), "kiln-sync");
    std::deque<pending> batch;
    for (;;) {
      {
        std::unique_lock lock(sync_mu_);
        sync_cv_.wait(lock, [&] { return applier_done_ || !to_sync_.empty(); });
        if (to_sync_.empty()) return;
        batch.swap(to_sync_);
      }
      if (auto s = store_.sync_wal(); !s) {
        for (auto& p : batch) p.result = std::unexpected(s.error());
      }
      if (options_.on_durable) {
        const auto now = std::chrono::steady_clock::now();
        for (const auto& p : batch) options_.on_durable(p.cmd, now - p.proposed);
      }
      for (auto& p : batch) p.done(std::move(*p.result));
      batch.clear();
    }
  }

  state_store& store_;
  standalone_log_options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pending> queue_;
  bool closing_ = false;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<pending> to_sync_;
  bool applier_done_ = false;
  std::thread sync_thread_;
  std::thread apply_thread_;
};

}  // namespace

std::unique_ptr<command_log> make_standalone_log(state_store& store, standalone_log_options options) {
  return std::make_unique<standalone_log>(store, std::move(options));
}

}  // namespace kiln
