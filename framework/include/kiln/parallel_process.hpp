#pragma once
// The parallel processing of one chunk (chunk_step::threads(n)): the items of a chunk are
// processed on a processing_pool, each thread with its own processor made by the step's
// processor factory; the results are then taken one by one in input order by the (single) chunk
// loop, which counts, filters, skips and writes exactly as it does for sequential processing. So
// reader and writer stay single-threaded, the output order is the input order, and a chunk's
// commit covers the same items as without threads: restart is as exact as ever.

#include <kiln/processing_pool.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace kiln::detail {

template <class I, class O>
class parallel_process {
 public:
  using process_fn = std::function<std::optional<O>(I&&)>;

  // `make` is called once per thread; each thread calls only its own processor.
  parallel_process(const std::function<process_fn()>& make, std::size_t threads) : pool_(threads) {
    for (std::size_t i = 0; i < pool_.parallelism(); ++i) processors_.push_back(make());
  }

  // Processes every item of `inputs` (moving from them); results wait for take().
  void process(std::vector<I>& inputs) {
    const std::size_t n = inputs.size();
    results_.assign(n, std::nullopt);
    errors_.assign(n, nullptr);
    next_ = 0;
    pool_.run(n, [&](std::size_t i, std::size_t slot) {
      try {
        results_[i] = processors_[slot](std::move(inputs[i]));
      } catch (...) {
        errors_[i] = std::current_exception();
      }
    });
  }

  // The result of the next item in input order: what its processor returned, or its exception
  // rethrown. Called exactly once per item, where the sequential loop would call the processor.
  std::optional<O> take() {
    const std::size_t i = next_++;
    if (errors_[i]) std::rethrow_exception(errors_[i]);
    return std::move(results_[i]);
  }

 private:
  processing_pool pool_;
  std::vector<process_fn> processors_;
  std::vector<std::optional<O>> results_;
  std::vector<std::exception_ptr> errors_;
  std::size_t next_ = 0;
};

}  // namespace kiln::detail
