#include "part_merge.hpp"

#include "example_jobs.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_io.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace kiln::examples {

namespace {

// The outputs of earlier runs being released on another thread, by path.
std::mutex releases_mutex;
std::map<std::string, std::future<void>> releases;

// Removes the output of an earlier run at `path` (a regular file with no other link) and frees
// its pages on another thread. Freeing the pages of a large file takes long (0.1 to 0.4 s for
// 230 MB on the benchmark machine); done by partition 0's writer, which truncates its file, it
// would delay that partition and so the whole step, while here it overlaps the partitions' work.
void release_earlier_output(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return;
  detail::file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || ::unlink(path.c_str()) != 0) return;  // partition 0's writer truncates it
  auto done = std::async(std::launch::async, [fd = std::move(fd)]() mutable { fd.reset(); });
  std::lock_guard lock(releases_mutex);
  releases[path] = std::move(done);
}

// Waits until release_earlier_output(path) has freed the file, so that no job leaves work behind.
void wait_for_release(const std::string& path) {
  std::future<void> done;
  {
    std::lock_guard lock(releases_mutex);
    if (auto it = releases.find(path); it != releases.end()) {
      done = std::move(it->second);
      releases.erase(it);
    }
  }
  if (done.valid()) done.wait();
}

// The suffix of partition i's output file: "" for partition 0, which writes OUTPUT itself,
// ".part<i>" for the others.
std::string part_suffix(std::size_t i) { return i == 0 ? std::string() : ".part" + std::to_string(i); }

// The file that records the size of partition 0's output, written when partition 0 completes:
// OUTPUT.part0.size. The merge appends the parts after that many bytes, whatever the output
// holds beyond them (an eager merge of an execution that then failed).
std::string part0_size_path(const std::string& output) { return output + ".part0.size"; }

void write_part0_size(const std::string& output, std::int64_t size) {
  const auto path = part0_size_path(output);
  const auto text = std::to_string(size);
  detail::file_descriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid() || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      !fd.reset()) {
    throw io_error("cannot write '" + path + "': " + std::strerror(errno));
  }
}

std::optional<std::int64_t> read_part0_size(const std::string& output) {
  const auto path = part0_size_path(output);
  detail::file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::nullopt;
    throw io_error("cannot read '" + path + "': " + std::strerror(errno));
  }
  char buf[32];
  const auto n = ::read(fd.get(), buf, sizeof buf);
  std::int64_t size = -1;
  if (n <= 0 || std::from_chars(buf, buf + n, size).ec != std::errc() || size < 0) {
    throw io_error("'" + path + "' does not hold a byte count; remove it and the output, and run the job again");
  }
  return size;
}

// Copies bytes [from, to) of `in` to `out_fd` at `at`, in the kernel where it can.
void copy_range(int in_fd, std::int64_t from, std::int64_t to, int out_fd, std::int64_t at, const std::string& in,
                const std::string& out) {
  loff_t src = from;
  loff_t dst = at;
  while (src < to) {
    const auto n = ::copy_file_range(in_fd, &src, out_fd, &dst, static_cast<std::size_t>(to - src), 0);
    if (n > 0) continue;
    if (n == 0) throw io_error("'" + in + "' ended before byte " + std::to_string(to));
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL) {
      throw io_error("cannot copy '" + in + "' to '" + out + "': " + std::strerror(errno));
    }
    break;  // not supported here: copy through a buffer
  }
  std::vector<char> buf(std::size_t{1} << 20);
  while (src < to) {
    const auto n = ::pread(in_fd, buf.data(), std::min<std::size_t>(buf.size(), static_cast<std::size_t>(to - src)), src);
    if (n == 0) throw io_error("'" + in + "' ended before byte " + std::to_string(to));
    if (n < 0) throw io_error("cannot read '" + in + "': " + std::strerror(errno));
    for (ssize_t done = 0; done < n;) {
      const auto w = ::pwrite(out_fd, buf.data() + done, static_cast<std::size_t>(n - done), dst);
      if (w < 0) throw io_error("cannot write '" + out + "': " + std::strerror(errno));
      done += w;
      dst += w;
    }
    src += n;
  }
}

}  // namespace

// The eager merge of one execution's partitions: once partition 0 has completed, a thread
// appends the parts to the output in the order of their input ranges, as their writers hand
// committed lines to the kernel, so that the merge step finds most of the work done. Every byte
// it copies is final: a part's writer hands over only lines of commits (item_stream::flush), and
// truncates its file only when it opens, which happens before it hands anything over. The part
// after a completed one is the one whose range begins where that one's ended (rebalancing adds
// partitions while others run). The merge step trusts the copy only for the execution it was
// made in and only as far as it checks (the plan's order, part sizes); anything else, such as a
// restart in a new process, it copies again.
class eager_merge {
 public:
  eager_merge(std::string output, std::int64_t execution) : output_(std::move(output)), execution_(execution) {}
  eager_merge(const eager_merge&) = delete;
  eager_merge& operator=(const eager_merge&) = delete;
  ~eager_merge() { stop(); }

  [[nodiscard]] std::int64_t execution() const { return execution_; }

  // The writer of part i, whose input range begins at `begin`, opened; its file holds
  // `committed` final bytes.
  void opened(std::size_t i, std::int64_t begin, std::int64_t committed) {
    std::lock_guard lock(mutex_);
    auto& p = parts_[i];
    p.open = true;
    p.closed = false;
    p.begin = begin;
    p.handed = committed;
    changed_.notify_all();
  }
  // The writer of part i handed the lines of its commits up to byte `end` to the kernel.
  void handed(std::size_t i, std::int64_t end) {
    std::lock_guard lock(mutex_);
    parts_[i].handed = end;
    changed_.notify_all();
  }
  void closed(std::size_t i) {
    std::lock_guard lock(mutex_);
    parts_[i].closed = true;
    changed_.notify_all();
  }
  // Partition i > 0 completed; its input range ended at `end`.
  void completed(std::size_t i, std::int64_t end) {
    std::lock_guard lock(mutex_);
    parts_[i].end = end;
    changed_.notify_all();
  }
  // Partition 0 completed, leaving `size0` bytes in the output, its range ending at `end0`:
  // starts appending the parts.
  void start(std::int64_t size0, std::int64_t end0) {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    size0_ = size0;
    parts_[0].end = end0;
    thread_ = std::thread([this] { follow(); });
  }

  // What the eager merge appended after partition 0's bytes: whole parts, then maybe a prefix
  // of the last one, in order.
  struct result {
    std::int64_t size0 = -1;
    std::vector<std::pair<std::size_t, std::int64_t>> copied;  // (partition index, bytes)
  };
  // Stops the thread (it no longer waits for parts) and returns what it did.
  result stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    return {size0_, copied_};
  }

 private:
  struct part_state {
    bool open = false;
    bool closed = false;
    std::int64_t begin = -1;
    std::int64_t handed = 0;
    std::optional<std::int64_t> end;  // of its input range, once it completed
  };

  // The open part, not yet appended, whose range begins at `begin` (the lowest index: an empty
  // range begins where the next one does).
  std::optional<std::size_t> part_at(std::int64_t begin) const {
    for (const auto& [i, p] : parts_) {
      if (i == 0 || !p.open || p.begin != begin) continue;
      const bool done = std::any_of(copied_.begin(), copied_.end(), [&](const auto& c) { return c.first == i; });
      if (!done) return i;
    }
    return std::nullopt;
  }

  void follow() {
    try {
      detail::file_descriptor out(::open(output_.c_str(), O_WRONLY | O_CLOEXEC));
      if (!out.valid()) return;
      std::int64_t at = size0_;
      std::unique_lock lock(mutex_);
      std::int64_t next = *parts_[0].end;
      for (;;) {
        std::optional<std::size_t> found;
        changed_.wait(lock, [&] { return stopping_ || (found = part_at(next)); });
        if (stopping_) return;
        const std::size_t i = *found;
        const std::string part = output_ + part_suffix(i);
        copied_.emplace_back(i, 0);
        detail::file_descriptor in;
        for (;;) {
          auto& p = parts_[i];
          changed_.wait(lock, [&] { return stopping_ || p.handed > copied_.back().second || (p.closed && p.end); });
          if (stopping_) return;
          const std::int64_t to = p.handed;
          const std::int64_t from = copied_.back().second;
          if (to <= from) break;  // closed and completed, all copied
          lock.unlock();
          if (!in.valid()) in = detail::file_descriptor(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
          if (!in.valid()) return;
          copy_range(in.get(), from, to, out.get(), at + from, part, output_);
          lock.lock();
          copied_.back().second = to;
        }
        at += copied_.back().second;
        next = *parts_[i].end;
      }
    } catch (const std::exception&) {
      // The merge step copies what this did not.
    }
  }

  const std::string output_;
  const std::int64_t execution_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::size_t, part_state> parts_;
  std::vector<std::pair<std::size_t, std::int64_t>> copied_;
  std::int64_t size0_ = -1;
  bool stopping_ = false;
  std::thread thread_;
};

namespace {

// The eager merges of this process, by output path: the newest execution's only.
std::mutex eager_mutex;
std::map<std::string, std::shared_ptr<eager_merge>> eager_merges;

// The eager merge of `execution` writing `output`, made when missing; an older execution's is
// stopped and dropped.
std::shared_ptr<eager_merge> eager_for(const std::string& output, std::int64_t execution) {
  std::shared_ptr<eager_merge> old;
  std::shared_ptr<eager_merge> current;
  {
    std::lock_guard lock(eager_mutex);
    auto& slot = eager_merges[output];
    if (!slot || slot->execution() != execution) {
      old = std::move(slot);
      slot = std::make_shared<eager_merge>(output, execution);
    }
    current = slot;
  }
  if (old) old->stop();
  return current;
}

// Takes the eager merge of `execution` writing `output` out of the registry, if there is one.
std::shared_ptr<eager_merge> take_eager(const std::string& output, std::int64_t execution) {
  std::lock_guard lock(eager_mutex);
  auto it = eager_merges.find(output);
  if (it == eager_merges.end() || it->second->execution() != execution) return nullptr;
  auto found = std::move(it->second);
  eager_merges.erase(it);
  return found;
}

}  // namespace

part_progress::part_progress(const step_context& ctx, std::int64_t committed)
    : merge_(eager_for(ctx.resolve("{output}"), ctx.job_execution_id())),
      index_(static_cast<std::size_t>(ctx.parameters().get_int64("partition.index"))) {
  const auto& p = ctx.parameters();
  merge_->opened(index_, p.contains("partition.begin") ? p.get_int64("partition.begin") : -1, committed);
}

void part_progress::handed(std::int64_t end) const { merge_->handed(index_, end); }

void part_progress::closed() const { merge_->closed(index_); }

step_listener part_merge_listener() {
  return step_listener{
      .before_step =
          [](step_context& ctx) {
            if (ctx.parameters().get_int64("partition.index") == 0) {
              std::filesystem::remove(part0_size_path(ctx.resolve("{output}")));
            }
          },
      .after_step = [](step_context& ctx, const step_result& r) -> std::optional<exit_status> {
        const auto output = ctx.resolve("{output}");
        if (r.status != batch_status::completed) {
          // No merge follows in this execution: the eager merge stops waiting for parts.
          if (auto eager = take_eager(output, ctx.job_execution_id())) eager->stop();
          return std::nullopt;
        }
        // Where the partition's input range ended: rebalancing may have moved its end.
        const auto* ended = ctx.context().if_contains("reader.offset");
        const auto index = static_cast<std::size_t>(ctx.parameters().get_int64("partition.index"));
        if (!ended) return std::nullopt;
        auto eager = eager_for(output, ctx.job_execution_id());
        if (index != 0) {
          eager->completed(index, ended->as_int64());
          return std::nullopt;
        }
        const auto* written = ctx.context().if_contains("writer.offset");
        if (!written) return std::nullopt;
        const auto size0 = written->as_int64();
        write_part0_size(output, size0);
        eager->start(size0, ended->as_int64());
        return std::nullopt;
      }};
}

namespace {

// The partitions after partition 0, in the order of their input ranges: from the plan of the
// partitioned step (rebalancing appends partitions that take over the end of another's range);
// called outside a job (as its tests do), 1 .. partitions-1.
std::vector<std::size_t> parts_in_order(const step_context& ctx) {
  std::vector<std::size_t> order;
  if (!ctx.step_context_lookup_fn()) {
    for (std::int64_t i = 1; i < ctx.parameters().get_int64("partitions"); ++i) order.push_back(static_cast<std::size_t>(i));
    return order;
  }
  const auto plan_context = ctx.step_context_of(partitioned_step);
  const auto* plan = plan_context ? plan_context->if_contains("partitions") : nullptr;
  if (!plan || !plan->is_array()) {
    throw io_error("no partition plan of step '" + std::string(partitioned_step) +
                   "' in this job instance; the parts cannot be put in order");
  }
  std::vector<std::pair<std::int64_t, std::size_t>> by_begin;  // (range begin, partition index)
  const auto& entries = plan->as_array();
  for (std::size_t i = 1; i < entries.size(); ++i) {
    auto values = job_parameters::from_json(entries[i]);
    if (!values || !values->contains("partition.begin")) {
      throw io_error("the plan of step '" + std::string(partitioned_step) + "' has no range for partition " +
                     std::to_string(i) + "; run the job again with a new output");
    }
    by_begin.emplace_back(values->get_int64("partition.begin"), i);
  }
  std::sort(by_begin.begin(), by_begin.end());  // an empty range sorts before the one at its begin
  for (const auto& [begin, i] : by_begin) order.push_back(i);
  return order;
}

}  // namespace

// Completes OUTPUT, which partition 0 wrote, with the parts in the order of their ranges, and
// removes the parts. Two calls, each committed:
//   1. cuts OUTPUT to partition 0's size (OUTPUT.part0.size) plus what the eager merge appended
//      in this execution, and appends the rest of the parts, so that a rerun after a crash here
//      writes the same bytes again;
//   2. removes the parts.
// Executions of earlier versions, which did not write OUTPUT.part0.size, first record the size of
// OUTPUT in the context ("first_part_size").
// Like the JSON Lines writer by default, it leaves syncing the output to the kernel:
// exactly-once after a crash of the process, not after a power loss.
repeat_status merge_parts(step_context& ctx) {
  const std::string output = ctx.resolve("{output}");
  const auto order = parts_in_order(ctx);
  auto part = [&](std::size_t i) { return output + part_suffix(i); };
  auto& state = ctx.context();
  if (state.contains("merged")) {
    for (auto i : order) std::filesystem::remove(part(i));
    std::filesystem::remove(part0_size_path(output));
    return repeat_status::finished;
  }
  eager_merge::result done;
  if (auto eager = take_eager(output, ctx.job_execution_id())) done = eager->stop();
  std::int64_t size = 0;
  if (const auto* first_size = state.if_contains("first_part_size")) {
    size = first_size->as_int64();
  } else if (auto recorded = read_part0_size(output)) {
    size = *recorded;
  } else {
    wait_for_release(output);
    std::error_code ec;
    const auto on_disk = std::filesystem::file_size(output, ec);
    if (ec) throw io_error("cannot read the output of partition 0 '" + output + "': " + ec.message());
    state["first_part_size"] = static_cast<std::int64_t>(on_disk);
    return repeat_status::continuable;
  }
  // The eager merge's copy counts when it started from the same size, followed the same order,
  // and each part it copied whole still has the size it copied.
  std::int64_t keep = 0;
  std::size_t first = 0;  // in `order`: the first part to copy from
  std::int64_t from = 0;  // of that part: what the eager merge appended already
  if (done.size0 == size) {
    for (; first < order.size() && first < done.copied.size(); ++first) {
      const auto [index, copied] = done.copied[first];
      std::error_code ec;
      const auto part_size = static_cast<std::int64_t>(std::filesystem::file_size(part(order[first]), ec));
      if (index != order[first] || ec || copied > part_size) break;
      keep += copied;
      if (copied < part_size) {
        from = copied;
        break;
      }
    }
  }
  wait_for_release(output);
  detail::file_descriptor out(::open(output.c_str(), O_WRONLY | O_CLOEXEC));
  if (!out.valid()) throw io_error("cannot write '" + output + "': " + std::strerror(errno));
  const auto end = static_cast<off_t>(size + keep);
  struct stat st {};
  if (::fstat(out.get(), &st) != 0 || st.st_size < end || (st.st_size > end && ::ftruncate(out.get(), end) != 0)) {
    throw io_error("cannot write '" + output + "': " + (st.st_size < end ? std::string("it is shorter than its parts' merge")
                                                                           : std::strerror(errno)));
  }
  std::int64_t at = end;
  for (std::size_t k = first; k < order.size(); ++k) {
    const auto path = part(order[k]);
    detail::file_descriptor in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) throw io_error("cannot read partition output '" + path + "': " + std::strerror(errno));
    struct stat pst {};
    if (::fstat(in.get(), &pst) != 0) throw io_error("cannot read '" + path + "': " + std::strerror(errno));
    const std::int64_t skip = k == first ? from : 0;  // what the eager merge appended already
    copy_range(in.get(), skip, pst.st_size, out.get(), at, path, output);
    at += pst.st_size - skip;
  }
  if (!out.reset()) throw io_error("cannot write '" + output + "': " + std::strerror(errno));
  state["merged"] = true;
  return repeat_status::continuable;
}

// Adds `partition.suffix` to each partition of the plan: "" for partition 0, which writes
// straight into the output, ".part<i>" for the others, whose part files the merge appends. A new
// plan (not a restart) also releases the output of an earlier run.
partitioner with_output_suffix(partitioner split) {
  return [split = std::move(split)](const step_context& ctx, std::int64_t grid_size) {
    auto plan = split(ctx, grid_size);
    release_earlier_output(ctx.resolve("{output}"));
    for (std::size_t i = 0; i < plan.size(); ++i) plan[i].set("partition.suffix", {part_suffix(i), false});
    return plan;
  };
}

// [docs:rebalancing]
// A split of a running partition leaves at least 4 MiB of input (about 30 ms of work) to each
// side: a smaller imbalance costs less than a split, whose new partition competes with the eager
// merge's copy. The new partition writes its own part file, OUTPUT.part<i>.
rebalancing part_rebalancing() {
  return rebalancing{.min_rest = std::uint64_t{4} << 20, .values = [](partition_values& values, std::size_t index) {
                       values.set("partition.suffix", {part_suffix(index), false});
                     }};
}
// [docs:rebalancing]

double partition0_weight(std::size_t index, std::size_t count) {
  if (index != 0) return 1.0;
  return std::max(0.5, 1.0 - 0.03 * static_cast<double>(count - 1));
}

}  // namespace kiln::examples
