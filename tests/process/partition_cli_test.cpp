// csv-to-jsonl with threads=N and partitions=N, as a user runs it: the output is byte-identical
// to the plain run's, also after kill -9 and a rerun; csv-dir converts a directory per file.

#include "support/kiln_cli.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

using namespace kiln::test;
namespace fs = std::filesystem;

namespace {

const std::string kiln_bin = KILN_BINARY;

// The bytes the partitions wrote: partition 0 into out.jsonl, the others into part files.
std::int64_t parts_size(const fs::path& dir) {
  std::int64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with("out.jsonl")) {
      auto s = fs::file_size(e.path(), ec);
      if (!ec) total += static_cast<std::int64_t>(s);
    }
  }
  return total;
}

std::int64_t size_of(const fs::path& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(s);
}

std::vector<std::string> convert(const std::string& output, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{
      "run", "csv-to-jsonl", "input=in.csv", "output=" + output, "skip_limit=100000", "commit_interval=100"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Generates in.csv (300,000 rows, a bad one every 1000) in `dir` and returns what a plain run
// converts it to.
std::string reference_output(const temp_dir& dir) {
  REQUIRE(run_kiln(dir, {"run", "generate-csv", "output=in.csv", "rows=300000", "bad_every=1000",
                         "--data-dir", "g"})
              .exit_code == 0);
  REQUIRE(run_kiln(dir, convert("ref.jsonl", {"--data-dir", "ref"})).exit_code == 0);
  return read_file(dir / "ref.jsonl");
}

}  // namespace

TEST_CASE("csv-to-jsonl - plain, threads=2 and partitions=3 write the same bytes", "[process][partition]") {
  temp_dir dir;
  REQUIRE(run_kiln(dir,
                   {"run", "generate-csv", "output=in.csv", "rows=50000", "bad_every=700", "--data-dir", "g"})
              .exit_code == 0);
  auto plain = run_kiln(dir, convert("plain.jsonl"));
  REQUIRE(plain.exit_code == 0);
  const auto expected = read_file(dir / "plain.jsonl");
  REQUIRE(expected.size() > 1000);

  auto threads = run_kiln(dir, convert("threads.jsonl", {"threads=2"}));
  REQUIRE(threads.exit_code == 0);
  CHECK(read_file(dir / "threads.jsonl") == expected);

  auto parts = run_kiln(dir, convert("parts.jsonl", {"partitions=3", "threads=2"}));
  REQUIRE(parts.exit_code == 0);
  CHECK(read_file(dir / "parts.jsonl") == expected);
  CHECK_FALSE(fs::exists(dir / "parts.jsonl.part1"));  // the merge removed its parts
  CHECK_FALSE(fs::exists(dir / "parts.jsonl.part2"));
  // The summary counts every row once, skips included.
  CHECK_THAT(parts.out, Catch::Contains("read 49,929") && Catch::Contains("skipped 71"));

  auto show = run_kiln(dir, {"show", "3"});
  CHECK_THAT(show.out, Catch::Contains("convert-partitioned:partition2") && Catch::Contains("merge"));

  // More partitions than lines: the empty ones write empty parts.
  temp_dir small;
  std::ofstream(small.path() / "in.csv") << "id,name,amount\n1, a ,2\n";
  REQUIRE(run_kiln(small, convert("out.jsonl", {"partitions=5"})).exit_code == 0);
  CHECK(read_file(small.path() / "out.jsonl") == "{\"id\":\"1\",\"name\":\"a\",\"amount\":2}\n");
}

TEST_CASE("csv-to-jsonl partitions=3 or threads=2 - kill -9 mid-way - rerun - byte-identical",
          "[process][partition][restart]") {
  temp_dir dir;
  const auto expected = reference_output(dir);
  const auto total = static_cast<std::int64_t>(expected.size());

  SECTION("partitions=3") {
    const auto args = convert("out.jsonl", {"partitions=3"});
    {
      child_process p(kiln_bin, args, dir.path());
      REQUIRE(wait_until([&] { return parts_size(dir.path()) >= total * 3 / 10 || !p.running(); }, 120));
      p.kill(SIGKILL);
      REQUIRE(p.wait().signal == SIGKILL);  // killed mid-way, not finished
    }
    // Not merged yet: the output holds partition 0's rows at most, the last part is there.
    CHECK(size_of(dir / "out.jsonl") < total);
    CHECK(fs::exists(dir / "out.jsonl.part2"));
    auto again = run_kiln(dir, args);
    INFO(again.out << again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(read_file(dir / "out.jsonl") == expected);
    // The restart used the stored plan: completed partitions skipped, the others resumed.
    CHECK_THAT(again.err + again.out, Catch::Contains("resumes its plan of 3 partitions"));
  }
  SECTION("threads=2") {
    const auto args = convert("out.jsonl", {"threads=2"});
    for (double fraction : {0.2, 0.6}) {
      child_process p(kiln_bin, args, dir.path());
      REQUIRE(
          wait_until([&] { return size_of(dir / "out.jsonl") >= total * fraction || !p.running(); }, 120));
      p.kill(SIGKILL);
      REQUIRE(p.wait().signal == SIGKILL);
    }
    auto again = run_kiln(dir, args);
    INFO(again.out << again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(read_file(dir / "out.jsonl") == expected);
  }
}

TEST_CASE("csv-to-jsonl partitions=2 - SIGTERM stops every partition (exit 3) - rerun completes identically",
          "[process][partition][stop]") {
  temp_dir dir;
  const auto expected = reference_output(dir);
  const auto args = convert("out.jsonl", {"partitions=2"});
  child_process p(kiln_bin, args, dir.path());
  REQUIRE(wait_until(
      [&] {
        return parts_size(dir.path()) >= static_cast<std::int64_t>(expected.size()) / 4 || !p.running();
      },
      120));
  p.kill(SIGTERM);
  auto stopped = p.wait();
  if (stopped.exit_code == 0) {
    WARN("run completed before SIGTERM landed");
  } else {
    INFO(stopped.out << stopped.err);
    REQUIRE(stopped.exit_code == 3);
    auto again = run_kiln(dir, args);
    INFO(again.out << again.err);
    REQUIRE(again.exit_code == 0);
  }
  CHECK(read_file(dir / "out.jsonl") == expected);
}

namespace {

// in.csv whose first half (in bytes) holds many short rows and whose second half few long ones:
// partition 1 of partitions=2 ends long before partition 0, whose rest rebalancing then splits.
// Returns what a plain run converts it to.
std::string lopsided_reference(const temp_dir& dir) {
  {
    std::ofstream out(dir / "in.csv");
    out << "id,name,amount\n";
    for (int i = 0; i < 2'000'000; ++i) out << i << ",a," << i % 97 << "\n";
    const std::string long_name(1000, 'n');
    for (int i = 0; i < 30'000; ++i) out << 2'000'000 + i << "," << long_name << "," << (i % 500 == 7 ? "x" : "1") << "\n";
  }
  REQUIRE(run_kiln(dir, convert("ref.jsonl", {"--data-dir", "ref"})).exit_code == 0);
  return read_file(dir / "ref.jsonl");
}

}  // namespace

TEST_CASE("csv-to-jsonl partitions=2 rebalance - the early partition takes over the other's rest - byte-identical",
          "[process][partition][rebalance]") {
  temp_dir dir;
  const auto expected = lopsided_reference(dir);

  auto run = run_kiln(dir, convert("out.jsonl", {"partitions=2"}));
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(read_file(dir / "out.jsonl") == expected);
  CHECK_THAT(run.err + run.out, Catch::Contains("convert-partitioned:partition2 takes over part of the input of "
                                                "convert-partitioned:partition0"));
  CHECK_FALSE(fs::exists(dir / "out.jsonl.part2"));  // the merge removed every part
  auto show = run_kiln(dir, {"show", "1"});
  CHECK_THAT(show.out, Catch::Contains("convert-partitioned:partition2"));

  // rebalance=false keeps the plan of partitions=2.
  auto fixed = run_kiln(dir, convert("fixed.jsonl", {"partitions=2", "rebalance=false"}));
  REQUIRE(fixed.exit_code == 0);
  CHECK(read_file(dir / "fixed.jsonl") == expected);
  CHECK_THAT(fixed.err + fixed.out, !Catch::Contains("takes over"));
}

TEST_CASE("csv-to-jsonl partitions=2 rebalance - kill -9 after a split - rerun - byte-identical",
          "[process][partition][rebalance][restart]") {
  temp_dir dir;
  const auto expected = lopsided_reference(dir);
  const auto args = convert("out.jsonl", {"partitions=2"});
  {
    child_process p(kiln_bin, args, dir.path());
    // Partition 2 exists once a split was committed; its first lines, once it has run a while.
    REQUIRE(wait_until([&] { return size_of(dir / "out.jsonl.part2") > 100'000 || !p.running(); }, 120));
    p.kill(SIGKILL);
    REQUIRE(p.wait().signal == SIGKILL);  // killed mid-way, not finished
  }
  CHECK(size_of(dir / "out.jsonl") < static_cast<std::int64_t>(expected.size()));
  auto again = run_kiln(dir, args);
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(read_file(dir / "out.jsonl") == expected);
  // The restart used the plan as the split left it: three partitions at least.
  CHECK_THAT(again.err + again.out, Catch::Contains("resumes its plan of"));
  CHECK_THAT(again.err + again.out, !Catch::Contains("resumes its plan of 2 partitions"));
}

TEST_CASE("csv-dir - one partition per file - same output as csv-to-jsonl per file", "[process][partition]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  for (auto [name, rows] : {std::pair{"a", 3000}, {"b", 10}, {"c", 7000}}) {
    REQUIRE(
        run_kiln(dir, {"run", "generate-csv", std::string("output=in/") + name + ".csv",
                       "rows=" + std::to_string(rows), "bad_every=0", "--data-dir", std::string("g") + name})
            .exit_code == 0);
  }
  std::ofstream(dir / "in" / "notes.txt") << "not a csv\n";
  auto r = run_kiln(dir, {"run", "csv-dir", "input_dir=in", "output_dir=out", "grid_size=2"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (std::string name : {"a", "b", "c"}) {
    REQUIRE(run_kiln(dir, {"run", "csv-to-jsonl", "input=in/" + name + ".csv", "output=" + name + ".ref"})
                .exit_code == 0);
    CHECK(read_file(dir / "out" / (name + ".jsonl")) == read_file(dir / (name + ".ref")));
  }
  CHECK_FALSE(fs::exists(dir / "out" / "notes.jsonl"));

  auto none = run_kiln(dir, {"run", "csv-dir", "input_dir=in", "output_dir=out", "pattern=*.tsv"});
  CHECK(none.exit_code != 0);
  CHECK_THAT(none.out + none.err, Catch::Contains("no file in 'in' matches '*.tsv'"));
}

TEST_CASE("csv-dir - kill -9 mid-way - rerun - every file byte-identical", "[process][partition][restart]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  std::int64_t total = 0;
  for (std::string name : {"a", "b", "c"}) {
    REQUIRE(run_kiln(dir, {"run", "generate-csv", "output=in/" + name + ".csv", "rows=150000", "bad_every=0",
                           "--data-dir", "g" + name})
                .exit_code == 0);
    REQUIRE(run_kiln(dir, {"run", "csv-to-jsonl", "input=in/" + name + ".csv", "output=" + name + ".ref",
                           "--data-dir", "ref"})
                .exit_code == 0);
    total += size_of(dir / (name + ".ref"));
  }
  const std::vector<std::string> args{"run", "csv-dir", "input_dir=in", "output_dir=out", "grid_size=2"};
  {
    child_process p(kiln_bin, args, dir.path());
    auto written = [&] {
      return size_of(dir / "out" / "a.jsonl") + size_of(dir / "out" / "b.jsonl") +
             size_of(dir / "out" / "c.jsonl");
    };
    REQUIRE(wait_until([&] { return written() >= total * 4 / 10 || !p.running(); }, 120));
    p.kill(SIGKILL);
    REQUIRE(p.wait().signal == SIGKILL);
  }
  auto again = run_kiln(dir, args);
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  for (std::string name : {"a", "b", "c"}) {
    CHECK(read_file(dir / "out" / (name + ".jsonl")) == read_file(dir / (name + ".ref")));
  }
}
