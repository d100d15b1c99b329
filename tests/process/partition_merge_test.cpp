// csv-to-jsonl's merge step (partitions=N), called as the step runs it, with a crash simulated
// after any call: the call's file changes stay, its context change is lost (it was never
// committed), and the rerun continues from the last commit. The output must be byte-identical
// to partition 0's output followed by the parts, and the parts gone.

#include "example_jobs.hpp"
#include "part_merge.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

using namespace kiln;
using kiln::test::read_file;
using kiln::test::temp_dir;
using kiln::test::wait_until;
using kiln::test::write_file;
namespace fs = std::filesystem;

namespace {

std::string lines(const std::string& tag, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "{\"id\":\"";
    s += tag;
    s += std::to_string(i);
    s += "\"}\n";
  }
  return s;
}

// Runs the merge step of job execution `execution`, committing each call, until it finishes
// (at most 5 calls); true when it did. `lookup` gives the step the contexts of earlier steps, as
// a job does (none: the merge runs on its own).
bool merge_to_end(const job_parameters& params, std::int64_t execution,
                  const step_context::step_context_lookup& lookup = {}) {
  execution_context committed;
  for (int call = 0; call < 5; ++call) {
    step_context ctx("csv-to-jsonl", "merge", execution, 9, params, committed);
    if (lookup) ctx.set_step_context_lookup(lookup);
    const auto status = examples::merge_parts(ctx);
    committed = ctx.context();
    if (status == repeat_status::finished) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("csv-to-jsonl merge - crash after any call, or mid-append - rerun - byte-identical",
          "[process][partition][restart]") {
  temp_dir dir;
  const std::string out = (dir / "out.jsonl").string();
  const std::vector<std::string> parts = {lines("a", 3000), lines("b", 2000), "", lines("d", 10)};
  std::string expected;
  for (const auto& p : parts) expected += p;
  job_parameters params;
  params.set("output", {out, true});
  params.set("partitions", {static_cast<std::int64_t>(parts.size()), true});

  // crash_after: the call (0-based) whose commit is lost; cut_to: for a crash in the middle of
  // the appending call, the output size it left (a prefix of what it appends).
  struct crash {
    int crash_after;
    std::int64_t cut_to;
  };
  const auto first = static_cast<std::int64_t>(parts[0].size());
  for (auto c : {crash{-1, -1}, crash{0, -1}, crash{1, -1}, crash{1, first}, crash{1, first + 777},
                 crash{1, first + static_cast<std::int64_t>(parts[1].size()) + 5}, crash{2, -1}}) {
    INFO("crash after call " << c.crash_after << ", output cut to " << c.cut_to);
    // As the partitions leave them: partition 0 wrote the output itself.
    write_file(out, parts[0]);
    for (std::size_t i = 1; i < parts.size(); ++i) write_file(out + ".part" + std::to_string(i), parts[i]);
    execution_context committed;
    bool finished = false;
    for (int call = 0; call < 10 && !finished; ++call) {
      step_context ctx("csv-to-jsonl", "merge", 1, 1, params, committed);
      const auto status = examples::merge_parts(ctx);
      if (call == c.crash_after) {
        if (c.cut_to >= 0) REQUIRE(::truncate(out.c_str(), static_cast<off_t>(c.cut_to)) == 0);
        continue;  // the process died before the commit: `committed` stays as it was
      }
      committed = ctx.context();
      finished = status == repeat_status::finished;
    }
    REQUIRE(finished);
    CHECK(read_file(out) == expected);
    for (std::size_t i = 0; i < parts.size(); ++i) CHECK_FALSE(fs::exists(out + ".part" + std::to_string(i)));
  }
}

TEST_CASE("csv-to-jsonl merge - partition 0's recorded size wins over bytes an earlier eager merge appended",
          "[process][partition][restart]") {
  // An execution whose partition 0 completed appended parts eagerly and then failed; the
  // restart's merge must cut the output back to partition 0's size (OUTPUT.part0.size).
  temp_dir dir;
  const std::string out = (dir / "out.jsonl").string();
  const std::vector<std::string> parts = {lines("a", 300), lines("b", 200), lines("c", 50)};
  job_parameters params;
  params.set("output", {out, true});
  params.set("partitions", {static_cast<std::int64_t>(parts.size()), true});
  for (const std::string& junk : std::vector<std::string>{"", "{\"id\":\"b0\"}\n{\"id\"", lines("x", 900)}) {
    INFO("junk of " << junk.size() << " bytes");
    write_file(out, parts[0] + junk);
    write_file(out + ".part0.size", std::to_string(parts[0].size()));
    for (std::size_t i = 1; i < parts.size(); ++i) write_file(out + ".part" + std::to_string(i), parts[i]);
    REQUIRE(merge_to_end(params, 2));
    CHECK(read_file(out) == parts[0] + parts[1] + parts[2]);
    CHECK_FALSE(fs::exists(out + ".part0.size"));
    CHECK_FALSE(fs::exists(out + ".part1"));
  }
}

TEST_CASE("csv-to-jsonl eager merge - parts appended while later partitions run - merge copies the rest",
          "[process][partition]") {
  temp_dir dir;
  const std::string out = (dir / "out.jsonl").string();
  const std::vector<std::string> rows = {lines("a", 4000), lines("b", 3000), lines("c", 2000)};
  constexpr std::int64_t execution = 41;
  job_parameters job;
  job.set("output", {out, true});
  job.set("partitions", {std::int64_t{3}, true});
  // The partitions' parameters, as the partition step gives them.
  // Their input ranges: partition i reads [100 i, 100 (i + 1)) of a 300-byte input.
  std::vector<job_parameters> params(3, job);
  for (std::int64_t i = 0; i < 3; ++i) {
    auto& p = params[static_cast<std::size_t>(i)];
    p.set("partition.index", {i, false});
    p.set("partition.count", {std::int64_t{3}, false});
    p.set("partition.suffix", {i == 0 ? std::string() : ".part" + std::to_string(i), false});
    p.set("partition.begin", {100 * i, false});
    p.set("partition.end", {100 * (i + 1), false});
  }

  auto append = [](const std::string& s, std::string& o) { o += s; };
  // Each partition's rows in chunks of one line.
  auto chunks_of = [](const std::string& text) {
    std::vector<std::string> out;
    for (std::size_t at = 0; at < text.size();) {
      const auto nl = text.find('\n', at);
      out.push_back(text.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  };
  struct partition {
    std::unique_ptr<step_context> ctx;
    examples::part_writer<std::string> writer;
  };
  std::vector<partition> ps;
  for (std::size_t i = 0; i < 3; ++i) {
    ps.push_back({std::make_unique<step_context>("csv-to-jsonl", "convert:partition" + std::to_string(i), execution,
                                                 10 + static_cast<std::int64_t>(i), params[i], execution_context{}),
                  examples::part_writer<std::string>(append)});
    ps.back().writer.open(*ps.back().ctx);
  }
  auto write_commits = [&](partition& p, const std::vector<std::string>& lines_, std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; k += 100) {
      p.writer.write(chunk<std::string>(lines_.begin() + static_cast<std::ptrdiff_t>(k),
                                        lines_.begin() + static_cast<std::ptrdiff_t>(std::min(to, k + 100))));
      p.writer.update(p.ctx->context());
    }
    p.writer.flush();  // the lot goes to the log
  };
  const auto listener = examples::part_merge_listener();
  // A partition completes: its reader ended at the end of its range, and the listener hears it.
  auto complete = [&](std::size_t i) {
    ps[i].ctx->context()["reader.offset"] = static_cast<std::int64_t>(100 * (i + 1));
    REQUIRE_FALSE(listener.after_step(*ps[i].ctx, step_result{}).has_value());
  };
  const auto a = chunks_of(rows[0]);
  const auto b = chunks_of(rows[1]);
  const auto c = chunks_of(rows[2]);
  write_commits(ps[1], b, 0, b.size());
  ps[1].writer.close();
  complete(1);
  write_commits(ps[2], c, 0, 1000);
  // Lines written but not yet handed over: the eager merge must not copy them.
  ps[2].writer.write(chunk<std::string>(c.begin() + 1000, c.begin() + 1100));
  write_commits(ps[0], a, 0, a.size());
  ps[0].writer.close();
  complete(0);
  CHECK(read_file(out + ".part0.size") == std::to_string(rows[0].size()));

  // Partition 0 done: the eager merge appends part 1 and what part 2 handed over.
  const auto handed2 = ps[2].ctx->context().at("writer.offset").as_int64();
  const auto eager_size = static_cast<std::int64_t>(rows[0].size() + rows[1].size()) + handed2;
  REQUIRE(wait_until([&] { return static_cast<std::int64_t>(fs::file_size(out)) >= eager_size; }, 10));
  CHECK(read_file(out) == rows[0] + rows[1] + rows[2].substr(0, static_cast<std::size_t>(handed2)));

  // The rest of part 2, then the merge step.
  ps[2].writer.update(ps[2].ctx->context());
  write_commits(ps[2], c, 1100, c.size());
  ps[2].writer.close();
  complete(2);
  REQUIRE(merge_to_end(job, execution));
  CHECK(read_file(out) == rows[0] + rows[1] + rows[2]);
  CHECK_FALSE(fs::exists(out + ".part1"));
  CHECK_FALSE(fs::exists(out + ".part2"));
  CHECK_FALSE(fs::exists(out + ".part0.size"));
}

TEST_CASE("csv-to-jsonl merge - a rebalanced plan - parts appended in the order of their ranges, not their numbers",
          "[process][partition][rebalance]") {
  temp_dir dir;
  const std::string out = (dir / "out.jsonl").string();
  job_parameters params;
  params.set("output", {out, true});
  params.set("partitions", {std::int64_t{2}, true});
  // Partition 2 was split off partition 0, partition 3 off partition 1: ranges 0, 2, 1, 3.
  auto range = [](std::int64_t begin, std::int64_t end, const std::string& suffix) {
    job_parameters p;
    p.set("partition.begin", {begin, false});
    p.set("partition.end", {end, false});
    p.set("partition.suffix", {suffix, false});
    return p.to_json();
  };
  execution_context manager;
  manager["partitions"] = boost::json::array{range(0, 100, ""), range(200, 400, ".part1"), range(100, 200, ".part2"),
                                             range(400, 500, ".part3")};
  write_file(out, lines("a", 100));
  write_file(out + ".part1", lines("c", 200));
  write_file(out + ".part2", lines("b", 100));
  write_file(out + ".part3", lines("d", 100));
  REQUIRE(merge_to_end(params, 3, [&](const std::string& step) -> std::optional<execution_context> {
    if (step == examples::partitioned_step) return manager;
    return std::nullopt;
  }));
  CHECK(read_file(out) == lines("a", 100) + lines("b", 100) + lines("c", 200) + lines("d", 100));
  for (int i = 1; i <= 3; ++i) CHECK_FALSE(fs::exists(out + ".part" + std::to_string(i)));

  // Without the plan (no such step in the job instance), the merge refuses to guess an order.
  write_file(out, lines("a", 100));
  write_file(out + ".part1", lines("c", 200));
  step_context lost("csv-to-jsonl", "merge", 4, 10, params, execution_context{});
  lost.set_step_context_lookup([](const std::string&) -> std::optional<execution_context> { return std::nullopt; });
  CHECK_THROWS_WITH(examples::merge_parts(lost), Catch::Contains("no partition plan of step 'convert-partitioned'"));
  CHECK(read_file(out) == lines("a", 100));
}
