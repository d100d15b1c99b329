#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <vector>
#include <unistd.h>

namespace kiln::examples {


std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

void trim_in_place(std::string& s) {
  const auto last = s.find_last_not_of(" \t");
  s.erase(last == std::string::npos ? 0 : last + 1);
  s.erase(0, s.find_first_not_of(" \t"));
}

sale_row map_sale(const csv_record& r) { return {std::string(r.get("id")), std::string(r.get("name")), r.get_double("amount")}; }

void write_sale_json(const sale_row& s, std::string& out) {
  out += "{\"id\":";
  out += boost::json::serialize(boost::json::string_view(s.id));
  out += ",\"name\":";
  out += boost::json::serialize(boost::json::string_view(s.name));
  fmt::format_to(std::back_inserter(out), ",\"amount\":{}}}", s.amount);
}

job_builder& sales_parameters(job_builder& b) {
  return b.parameter(param("input").required().existing_file().describe("CSV file with header id,name,amount"))
      .parameter(param("output").required().non_empty().describe("JSON Lines file to write"))
      .parameter(param("skip_limit", param_type::int64).default_value(std::int64_t{100}).at_least(0)
                     .non_identifying().describe("bad rows tolerated before the step fails"))
      .parameter(param("commit_interval", param_type::int64).default_value(std::int64_t{1000}).positive()
                     .non_identifying().describe("rows per checkpoint"));
}

chunk_step<sale_row> convert_sales_step() {
  return std::move(chunk_step<sale_row>("convert")
                       .reader(flat_file_reader<sale_row>("{input}", map_sale))
                       .process_in_place([](sale_row& r) { trim_in_place(r.name); })
                       .writer(jsonl_writer<sale_row>("{output}", write_sale_json))
                       .commit_interval_from([](const job_parameters& p) { return p.get_int64("commit_interval"); })
                       .skip<parse_error>()
                       .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); }));
}

// A check for parameters that start threads: at most 64.
std::optional<std::string> at_most_64(const job_parameter& p) {
  if (std::get<std::int64_t>(p.value) > 64) return "must be at most 64";
  return std::nullopt;
}

// The number of threads that process each chunk, from the `threads` parameter.
std::int64_t threads_parameter(const job_parameters& p) { return p.get_int64("threads"); }

// Whether chunks are written behind, from the `write_behind` parameter.
bool write_behind_parameter(const job_parameters& p) { return p.get_string("write_behind") == "true"; }

// Appends the whole of `from` to the open file `to_fd`, in the kernel where it can.
void append_file(const std::string& from, int to_fd, const std::string& to) {
  detail::file_descriptor in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) throw io_error("cannot read partition output '" + from + "': " + std::strerror(errno));
  for (;;) {
    const auto n = ::copy_file_range(in.get(), nullptr, to_fd, nullptr, std::size_t{1} << 30, 0);
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL) {
      throw io_error("cannot copy '" + from + "' to '" + to + "': " + std::strerror(errno));
    }
    break;  // not supported here: copy through a buffer
  }
  std::vector<char> buf(std::size_t{1} << 20);
  for (;;) {
    const auto n = ::read(in.get(), buf.data(), buf.size());
    if (n == 0) return;
    if (n < 0) throw io_error("cannot read '" + from + "': " + std::strerror(errno));
    for (ssize_t done = 0; done < n;) {
      const auto w = ::write(to_fd, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0) throw io_error("cannot write '" + to + "': " + std::strerror(errno));
      done += w;
    }
  }
}

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

// Completes OUTPUT, which partition 0 wrote, with OUTPUT.part1 .. OUTPUT.part<N-1>, and removes
// the parts. Three calls, each committed:
//   1. records the size of OUTPUT as partition 0 left it;
//   2. cuts OUTPUT to that size and appends the parts, so that a rerun after a crash here
//      writes the same bytes again;
//   3. removes the parts.
// Like the JSON Lines writer by default, it leaves syncing the output to the kernel:
// exactly-once after a crash of the process, not after a power loss.
repeat_status merge_parts(step_context& ctx) {
  const std::string output = ctx.resolve("{output}");
  const auto parts = ctx.parameters().get_int64("partitions");
  auto part = [&](std::int64_t i) { return output + ".part" + std::to_string(i); };
  auto& state = ctx.context();
  if (state.contains("merged")) {
    for (std::int64_t i = 1; i < parts; ++i) std::filesystem::remove(part(i));
    return repeat_status::finished;
  }
  const auto* first_size = state.if_contains("first_part_size");
  if (!first_size) {
    wait_for_release(output);
    std::error_code ec;
    const auto size = std::filesystem::file_size(output, ec);
    if (ec) throw io_error("cannot read the output of partition 0 '" + output + "': " + ec.message());
    state["first_part_size"] = static_cast<std::int64_t>(size);
    return repeat_status::continuable;
  }
  const auto size = static_cast<off_t>(first_size->as_int64());
  detail::file_descriptor out(::open(output.c_str(), O_WRONLY | O_CLOEXEC));
  if (!out.valid()) throw io_error("cannot write '" + output + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(out.get(), &st) != 0 || (st.st_size > size && ::ftruncate(out.get(), size) != 0) ||
      ::lseek(out.get(), size, SEEK_SET) != size) {
    throw io_error("cannot write '" + output + "': " + std::strerror(errno));
  }
  for (std::int64_t i = 1; i < parts; ++i) append_file(part(i), out.get(), output);
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
    for (std::size_t i = 0; i < plan.size(); ++i) {
      plan[i].set("partition.suffix", {i == 0 ? std::string() : ".part" + std::to_string(i), false});
    }
    return plan;
  };
}

// [docs:partitioning]
// partitions=N: the input is split into N line ranges converted in parallel. The first writes
// the start of the output, the others part files, which a last step appends in order.
partition_step convert_partitioned_step() {
  csv_options ranges;
  ranges.partition_range = true;  // read only this partition's lines
  auto worker = convert_sales_step();
  worker.reader(flat_file_reader<sale_row>("{input}", map_sale, ranges))
      .writer(jsonl_writer<sale_row>("{output}{partition.suffix}", write_sale_json))
      .threads_from(threads_parameter)
      .write_behind_from(write_behind_parameter);
  return std::move(partition_step("convert-partitioned")
                       .partitioner(with_output_suffix(line_range_partitioner("{input}")))
                       .worker(std::move(worker))
                       .grid_size_from([](const job_parameters& p) { return p.get_int64("partitions"); }));
}
// [docs:partitioning]

job csv_to_jsonl() {
  job_builder b("csv-to-jsonl");
  b.describe("CSV (id,name,amount) to JSON Lines; rows with a non-numeric amount are skipped");
  sales_parameters(b)
      .parameter(param("threads", param_type::int64)
                     .default_value(std::int64_t{1})
                     .positive()
                     .check(at_most_64)
                     .non_identifying()
                     .describe("threads that process each chunk (the output does not change)"))
      .parameter(param("partitions", param_type::int64)
                     .default_value(std::int64_t{1})
                     .positive()
                     .check(at_most_64)
                     .describe("line ranges of the input converted in parallel, then merged (the output does "
                               "not change)"))
      .parameter(param("write_behind")
                     .default_value(std::string("false"))
                     .one_of({"true", "false"})
                     .non_identifying()
                     .describe("write each chunk on a second thread while the next is read (the output does "
                               "not change)"));
  // [docs:threads]
  auto plain = convert_sales_step();
  plain.threads_from(threads_parameter).write_behind_from(write_behind_parameter);
  // [docs:threads]
  return b
      .decider("mode",
               [](const flow_state& s) {
                 return s.parameters.get_int64("partitions") > 1 ? "PARTITIONED" : "PLAIN";
               })
      .on("PARTITIONED").to("convert-partitioned")
      .on("*").to("convert")
      .step(std::move(plain))
      .on("COMPLETED").end()
      .on("*").fail()
      .step(convert_partitioned_step())
      .next(tasklet_step("merge", merge_parts))
      .build();
}

}  // namespace kiln::examples
