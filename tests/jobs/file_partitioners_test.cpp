// The ready-made file partitioners, and a flat_file_reader reading one line range.

#include "support/temp_dir.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace kiln;
using kiln::test::temp_dir;
using kiln::test::write_file;

namespace {

struct numbered {
  std::string id;
  std::int64_t line;
  friend bool operator==(const numbered&, const numbered&) = default;
};

// The records of every partition, in partition order, each with the line it was read from.
std::vector<numbered> read_partitions(const std::string& path, std::int64_t grid, std::vector<std::int64_t>* sizes = nullptr) {
  job_parameters base;
  step_context plan_ctx("job", "step", 1, 1, base, {});
  auto plan = line_range_partitioner(path)(plan_ctx, grid);
  REQUIRE(plan.size() == static_cast<std::size_t>(grid));
  std::vector<numbered> out;
  std::int64_t previous_end = 0;
  for (const auto& p : plan) {
    // The ranges tile the file.
    CHECK(p.get_int64("partition.begin") == previous_end);
    previous_end = p.get_int64("partition.end");
    csv_options options;
    options.partition_range = true;
    flat_file_reader<numbered> reader(path, [](const csv_record& r) { return numbered{std::string(r.get("id")), r.line()}; },
                                      options);
    step_context ctx("job", "step", 1, 1, p, {});
    reader.open(ctx);
    std::int64_t n = 0;
    while (auto item = reader.read()) {
      out.push_back(*item);
      ++n;
    }
    reader.close();
    if (sizes) sizes->push_back(n);
  }
  return out;
}

}  // namespace

TEST_CASE("line_range_partitioner: ranges at line starts cover every record once, with its line number",
          "[jobs][partition]") {
  temp_dir dir;
  std::string text = "id,value\n";
  std::vector<numbered> expected;
  for (int i = 1; i <= 1000; ++i) {
    text += std::to_string(i) + "," + std::string(static_cast<std::size_t>(i % 37), 'x') + "\n";
    if (i % 100 == 0) text += "\n";  // empty lines are skipped but counted
    expected.push_back({std::to_string(i), 0});
  }
  write_file(dir / "in.csv", text);
  // Line numbers as a whole-file read sees them.
  {
    job_parameters none;
    step_context ctx("job", "step", 1, 1, none, {});
    flat_file_reader<numbered> whole((dir / "in.csv").string(),
                                     [](const csv_record& r) { return numbered{std::string(r.get("id")), r.line()}; });
    whole.open(ctx);
    for (auto& e : expected) e = *whole.read();
  }
  for (std::int64_t grid : {1, 2, 3, 7}) {
    std::vector<std::int64_t> sizes;
    CHECK(read_partitions((dir / "in.csv").string(), grid, &sizes) == expected);
    if (grid > 1) CHECK(sizes.front() > 0);
  }
}

TEST_CASE("line_range_partitioner: more partitions than lines gives empty ones; errors name the file",
          "[jobs][partition]") {
  temp_dir dir;
  write_file(dir / "tiny.csv", "id\n1\n2");  // no newline after the last line
  std::vector<std::int64_t> sizes;
  auto all = read_partitions((dir / "tiny.csv").string(), 6, &sizes);
  REQUIRE(all.size() == 2);
  CHECK(all[0] == numbered{"1", 2});
  CHECK(all[1] == numbered{"2", 3});

  job_parameters none;
  step_context ctx("job", "step", 1, 1, none, {});
  CHECK_THROWS_WITH(line_range_partitioner((dir / "missing.csv").string())(ctx, 2), Catch::Contains("missing.csv"));
}

TEST_CASE("file_partitioner: one partition per matching file, in name order", "[jobs][partition]") {
  temp_dir dir;
  write_file(dir / "b.csv", "x\n");
  write_file(dir / "a.csv", "x\n");
  write_file(dir / "c.txt", "x\n");
  job_parameters params;
  params.set("dir", {dir.path().string(), true});
  step_context ctx("job", "step", 1, 1, params, {});
  auto plan = file_partitioner("{dir}", "*.csv")(ctx, 2);
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].get_string("partition.name") == "a.csv");
  CHECK(plan[0].get_string("partition.stem") == "a");
  CHECK(plan[1].get_string("partition.file") == (dir / "b.csv").string());
  CHECK_THROWS_WITH(file_partitioner("{dir}", "*.tsv")(ctx, 2), Catch::Contains("matches '*.tsv'"));
  CHECK_THROWS_WITH(file_partitioner("{dir}/nope", "*")(ctx, 2), Catch::Contains("cannot list directory"));
}
