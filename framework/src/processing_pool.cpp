#include <kiln/processing_pool.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace kiln {

processing_pool::processing_pool(std::size_t parallelism) {
  const std::size_t extra = parallelism > 1 ? parallelism - 1 : 0;
  threads_.reserve(extra);
  for (std::size_t i = 0; i < extra; ++i) threads_.emplace_back([this, slot = i + 1] { work(slot); });
}

processing_pool::~processing_pool() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void processing_pool::drain(std::size_t slot) {
  // Guided blocks of consecutive items: each thread takes a share of what is left, so cheap items
  // cost few atomic operations, and the blocks shrink towards the end of the batch, where a large
  // block would leave the other threads waiting at the barrier (the chunk's end).
  const std::size_t shares = parallelism() * 2;
  for (;;) {
    std::size_t begin = next_.load();
    std::size_t block = 0;
    do {
      if (begin >= count_) return;
      block = std::max(min_block_, (count_ - begin) / shares);
    } while (!next_.compare_exchange_weak(begin, begin + block));
    const std::size_t end = std::min(count_, begin + block);
    for (std::size_t i = begin; i < end; ++i) (*fn_)(i, slot);
  }
}

void processing_pool::work(std::size_t slot) {
  std::size_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      start_cv_.wait(lock, [&] { return closing_ || generation_ != seen; });
      if (closing_) return;
      seen = generation_;
    }
    drain(slot);
    {
      std::lock_guard lock(mu_);
      if (--busy_ == 0) done_cv_.notify_one();
    }
  }
}

void processing_pool::run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& fn) {
  if (count == 0) return;
  if (threads_.empty() || count == 1) {
    for (std::size_t i = 0; i < count; ++i) fn(i, 0);
    return;
  }
  {
    std::lock_guard lock(mu_);
    fn_ = &fn;
    count_ = count;
    min_block_ = std::max<std::size_t>(1, count / (parallelism() * 64));
    next_.store(0);
    busy_ = threads_.size();
    ++generation_;
  }
  start_cv_.notify_all();
  drain(0);
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

handoff_thread::handoff_thread() : thread_([this] { work(); }) {}

handoff_thread::~handoff_thread() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void handoff_thread::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (busy_) throw std::logic_error("handoff_thread::post while a task is in hand");
    task_ = std::move(task);
    busy_ = true;
  }
  cv_.notify_all();
}

void handoff_thread::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !busy_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void handoff_thread::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || busy_; });
      if (closing_) return;
      task = std::move(task_);
    }
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    task = nullptr;  // what it holds is released before the owner goes on
    {
      std::lock_guard lock(mu_);
      error_ = error;
      busy_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace kiln
