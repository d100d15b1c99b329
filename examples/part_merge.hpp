#pragma once
// The partitioned output of csv-to-jsonl partitions=N. Partition 0 writes OUTPUT itself,
// partition i > 0 writes OUTPUT.part<i>, and the step after the partitions appends the parts to
// OUTPUT in the order of their input ranges (merge_parts, example_jobs.hpp). Rebalancing
// (part_rebalancing) adds partitions while the step runs; their ranges come from the end of
// another partition's, so the order is that of the ranges, not of the partition numbers.
//
// Eager merge: once partition 0 has completed, a thread of this process appends the parts to
// OUTPUT while the other partitions still run, as far as their writers have handed committed
// lines to the kernel. When partition 0 ends first, the merge step is left with the last lot of
// lines instead of the whole parts (38-49 ms for 117 MB on the benchmark machine, 8-11 ms left).
// Every byte it copies is final: a part's writer hands over only lines of commits
// (item_stream::flush) and truncates its file only when it opens, before it hands anything over.
// The merge step trusts the copy only in the job execution that made it and only after checking
// each part's size; after a crash or a restart it copies the parts again. Partition 0's size is
// kept in OUTPUT.part0.size once it completes, so that what an eager merge appended in an
// execution that then failed is cut off by the next one.

#include <kiln/item.hpp>
#include <kiln/partition.hpp>
#include <kiln/listeners.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace kiln::examples {

// The name of csv-to-jsonl's partitioned step, whose plan the merge step reads.
inline constexpr const char* partitioned_step = "convert-partitioned";

class eager_merge;

// What the writer of one partition tells the eager merge of its job execution.
class part_progress {
 public:
  // The writer of this partition (partition.index of ctx) opened; its file holds `committed` bytes.
  explicit part_progress(const step_context& ctx, std::int64_t committed);
  // Its lines up to byte `end` are in the kernel, and the commits that count them go to the log.
  void handed(std::int64_t end) const;
  // It closed (it hands over nothing more).
  void closed() const;

 private:
  std::shared_ptr<eager_merge> merge_;
  std::size_t index_ = 0;
};

// The writer of a partition: a jsonl_writer of "{output}{partition.suffix}" that reports what
// it hands to the kernel (the writer's flush) to the eager merge.
template <class T>
class part_writer final : public item_writer<T> {
 public:
  explicit part_writer(typename jsonl_writer<T>::serializer s) : inner_("{output}{partition.suffix}", std::move(s)) {}

  void open(step_context& ctx) override {
    inner_.open(ctx);
    const auto* committed = ctx.context().if_contains("writer.offset");
    pending_ = committed ? committed->as_int64() : 0;
    progress_.emplace(ctx, pending_);
  }
  void write(const chunk<T>& items) override { inner_.write(items); }
  void update(execution_context& ctx) override {
    inner_.update(ctx);
    pending_ = ctx.at("writer.offset").as_int64();
  }
  void flush() override {
    inner_.flush();
    if (progress_) progress_->handed(pending_);
  }
  void close() override {
    inner_.close();
    if (progress_) progress_->closed();
    progress_.reset();
  }

 private:
  jsonl_writer<T> inner_;
  std::int64_t pending_ = 0;
  std::optional<part_progress> progress_;
};

// The step listener of every partition: when partition 0 completes, records its output's size
// (OUTPUT.part0.size) and starts the eager merge; partition 0 starting (a new plan, or a rerun
// of a partition 0 that did not complete) removes that record.
step_listener part_merge_listener();

// Adds `partition.suffix` to each partition of the plan: "" for partition 0, ".part<i>" for the
// others. A new plan (not a restart) also releases the output of an earlier run.
partitioner with_output_suffix(partitioner split);

// Rebalancing for the partitioned step: a split leaves at least 4 MiB of input to each side
// (about 30 ms of work on the benchmark machine), and the new partition writes OUTPUT.part<i>.
rebalancing part_rebalancing();

// Partition 0 appends the others' output after its own (the eager merge), so it gets less of
// the input: copying a line costs about 6 % of making it (33 ms against 0.53 s for 117 MB of
// output on the benchmark machine). With a share of 0.97 it ends first, as a rule, and the merge
// step is left with 8-11 ms; measured there, the last partition then ends about as much later
// as that saves (docs/benchmarks.md, session 9).
double partition0_weight(std::size_t index, std::size_t count);

}  // namespace kiln::examples
