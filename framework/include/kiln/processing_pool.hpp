#pragma once
// A fixed pool of threads that runs one batch of independent calls at a time: the parallel
// processing of a chunk step (`chunk_step::threads(n)`). The calling thread works too, so a pool
// for n-way parallelism owns n-1 threads. Not a general executor: run() is called by one thread
// at a time (the step's), and returns only when every call of the batch has returned.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class processing_pool {
 public:
  // `parallelism` >= 1 threads work on a batch, the caller of run() included.
  explicit processing_pool(std::size_t parallelism);
  ~processing_pool();
  processing_pool(const processing_pool&) = delete;
  processing_pool& operator=(const processing_pool&) = delete;

  [[nodiscard]] std::size_t parallelism() const { return threads_.size() + 1; }

  // Calls fn(i, slot) once for every i in [0, count), spread over the threads; `slot` in
  // [0, parallelism()) names the thread (0 = the caller), so per-thread state can be indexed
  // by it. fn must not throw (capture errors into the results instead).
  void run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void work(std::size_t slot);
  void drain(std::size_t slot);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(std::size_t, std::size_t)>* fn_ = nullptr;
  std::size_t count_ = 0;
  std::size_t min_block_ = 1;  // the smallest block a thread takes (drain())
  std::atomic<std::size_t> next_{0};
  std::size_t generation_ = 0;
  std::size_t busy_ = 0;  // pool threads still working on the current batch
  bool closing_ = false;
};

// One thread that runs one task at a time beside its owner: the write-behind of a chunk step
// (chunk_step::write_behind), which writes and commits chunk k while the step's thread reads and
// processes chunk k+1. post() hands over a task once the previous one was waited for; wait()
// blocks until it has returned, and rethrows what it threw.
class handoff_thread {
 public:
  handoff_thread();
  ~handoff_thread();  // waits for the task in hand
  handoff_thread(const handoff_thread&) = delete;
  handoff_thread& operator=(const handoff_thread&) = delete;

  void post(std::function<void()> task);
  void wait();

 private:
  void work();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> task_;
  bool busy_ = false;
  std::exception_ptr error_;
  bool closing_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace kiln
