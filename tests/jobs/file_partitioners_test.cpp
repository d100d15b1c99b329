// The ready-made file partitioners, and a flat_file_reader reading one line range.

#include "support/temp_dir.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_partitioners.hpp>
#include <kiln/jobs/flat_file.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
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
std::vector<numbered> read_partitions(const std::string& path, std::int64_t grid,
                                      std::vector<std::int64_t>* sizes = nullptr) {
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
    flat_file_reader<numbered> reader(
        path,
        [](const csv_record& r) {
          return numbered{std::string(r.get("id")), r.line()};
        },
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
    flat_file_reader<numbered> whole((dir / "in.csv").string(), [](const csv_record& r) {
      return numbered{std::string(r.get("id")), r.line()};
    });
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
  CHECK_THROWS_WITH(line_range_partitioner((dir / "missing.csv").string())(ctx, 2),
                    Catch::Contains("missing.csv"));
}

TEST_CASE("line_range_partitioner: each boundary is the first line start at or after i*size/n",
          "[jobs][partition]") {
  // The plan reads only around each boundary; a brute-force scan of the whole file must agree,
  // for lines longer than a range, CRLF, a missing last newline and a leading newline.
  temp_dir dir;
  std::vector<std::string> files = {
      "id\n1\n2\n3\n",
      "\nid\n1\n",
      "id\r\n1\r\n22\r\n333",
      "id\n" + std::string(200000, 'x') + "\n1\n2\n" + std::string(70000, 'y') + "\n3",
      "no newline at all",
      "",
  };
  std::string mixed = "id\n";
  for (int i = 0; i < 3000; ++i) mixed += std::string(static_cast<std::size_t>((i * 7919) % 113), 'z') + "\n";
  files.push_back(mixed);
  for (std::size_t f = 0; f < files.size(); ++f) {
    auto name = std::to_string(f);
    name += ".csv";
    const auto path = (dir / name).string();
    write_file(path, files[f]);
    const auto& text = files[f];
    const std::uint64_t size = text.size();
    auto first_line_start_at_or_after = [&](std::uint64_t target) {
      for (std::uint64_t at = target; at < size; ++at) {
        if (at == 0 || text[at - 1] == '\n') return at;
      }
      return size;
    };
    job_parameters none;
    step_context ctx("job", "step", 1, 1, none, {});
    for (std::int64_t grid : {1, 2, 3, 5, 16}) {
      INFO("file " << f << ", grid " << grid);
      auto plan = line_range_partitioner(path)(ctx, grid);
      REQUIRE(plan.size() == static_cast<std::size_t>(grid));
      for (std::size_t i = 0; i < plan.size(); ++i) {
        const auto n = static_cast<std::uint64_t>(grid);
        CHECK(plan[i].get_int64("partition.begin") ==
              static_cast<std::int64_t>(i == 0 ? 0 : first_line_start_at_or_after(i * size / n)));
        CHECK(plan[i].get_int64("partition.end") ==
              static_cast<std::int64_t>(i + 1 == n ? size : first_line_start_at_or_after((i + 1) * size / n)));
        CHECK_FALSE(plan[i].contains("partition.line"));
      }
      // Weighted: boundary i is the first line start at or after the share of the partitions
      // before it (weights 1, 2, 3, ...).
      auto weighted = line_range_partitioner(path, [](std::size_t i, std::size_t) { return 1.0 + static_cast<double>(i); })(ctx, grid);
      REQUIRE(weighted.size() == static_cast<std::size_t>(grid));
      const auto n = static_cast<std::uint64_t>(grid);
      const double total = static_cast<double>(n * (n + 1) / 2);
      auto target = [&](std::uint64_t i) {
        return static_cast<std::uint64_t>(static_cast<double>(size) * (static_cast<double>(i * (i + 1) / 2) / total));
      };
      for (std::uint64_t i = 0; i < n; ++i) {
        CHECK(weighted[i].get_int64("partition.begin") ==
              static_cast<std::int64_t>(i == 0 ? 0 : first_line_start_at_or_after(target(i))));
        CHECK(weighted[i].get_int64("partition.end") ==
              static_cast<std::int64_t>(i + 1 == n ? size : first_line_start_at_or_after(target(i + 1))));
      }
    }
    CHECK_THROWS_WITH(line_range_partitioner(path, [](std::size_t i, std::size_t) { return i == 1 ? 0.0 : 1.0; })(ctx, 3),
                      Catch::Contains("weight of partition 1 is 0") && Catch::Contains("must be positive"));
  }
}

TEST_CASE("flat_file_reader with partition_range: errors, restarts and old plans number lines as the whole file",
          "[jobs][partition]") {
  temp_dir dir;
  std::string text = "id,amount\n";
  for (int i = 1; i <= 5000; ++i) {
    text += std::to_string(i) + "," + (i % 1000 == 0 ? std::string("bad") : std::to_string(i)) + "\n";
    if (i % 700 == 0) text += "\n";  // empty lines count
  }
  const auto path = (dir / "in.csv").string();
  write_file(path, text);
  // What a whole-file read reports for each bad row.
  std::vector<std::string> expected_errors;
  {
    job_parameters none;
    step_context ctx("job", "step", 1, 1, none, {});
    flat_file_reader<double> whole(path, [](const csv_record& r) { return r.get_double("amount"); });
    whole.open(ctx);
    for (;;) {
      try {
        if (!whole.read()) break;
      } catch (const parse_error& e) {
        expected_errors.push_back(e.what());
      }
    }
  }
  REQUIRE(expected_errors.size() == 5);
  CHECK_THAT(expected_errors[4], Catch::Contains("in.csv:5008: field 'amount': not a number: 'bad'"));

  job_parameters base;
  step_context plan_ctx("job", "step", 1, 1, base, {});
  auto plan = line_range_partitioner(path)(plan_ctx, 3);
  csv_options options;
  options.partition_range = true;
  auto make_reader = [&] {
    return flat_file_reader<double>(path, [](const csv_record& r) { return r.get_double("amount"); }, options);
  };
  // Reads partition `p` to its end, collecting parse errors; `stop_after` records then returns
  // the context saved at that point (a commit), to restart from.
  auto read = [&](const job_parameters& p, execution_context saved, std::vector<std::string>& errors,
                  std::int64_t stop_after) {
    step_context ctx("job", "step", 1, 1, p, std::move(saved));
    auto reader = make_reader();
    reader.open(ctx);
    for (std::int64_t n = 0; n != stop_after; ++n) {
      try {
        if (!reader.read()) break;
      } catch (const parse_error& e) {
        errors.push_back(e.what());
      }
    }
    reader.update(ctx.context());
    reader.close();
    return ctx.context();
  };

  SECTION("straight through") {
    std::vector<std::string> errors;
    for (const auto& p : plan) read(p, {}, errors, -1);
    CHECK(errors == expected_errors);
  }
  SECTION("restarted mid-partition") {
    std::vector<std::string> errors;
    for (const auto& p : plan) {
      auto saved = read(p, {}, errors, 500);
      saved = read(p, saved, errors, 700);
      read(p, saved, errors, -1);
    }
    CHECK(errors == expected_errors);
  }
  SECTION("a plan stored with partition.line, as line_range_partitioner made them before") {
    std::vector<std::string> errors;
    std::int64_t line = 1;
    for (auto p : plan) {
      const auto begin = static_cast<std::size_t>(p.get_int64("partition.begin"));
      line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(begin), '\n');
      p.set("partition.line", {line, false});
      auto saved = read(p, {}, errors, 600);
      CHECK(saved.at("reader.line").as_int64() > line);  // saved as a whole-file line number
      read(p, saved, errors, -1);
    }
    CHECK(errors == expected_errors);
  }
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

TEST_CASE("flat_file_reader line range split: the rest goes to a new range with the right line numbers; "
          "a withdrawn split gives the old end back",
          "[jobs][partition][rebalance]") {
  temp_dir dir;
  std::string text = "id,amount\n";
  for (int i = 1; i <= 600'000; ++i) {
    text += std::to_string(i) + "," + std::to_string(i % 13) + "\n";
    if (i % 7000 == 0) text += "\n";  // empty lines count
  }
  const auto path = (dir / "in.csv").string();
  write_file(path, text);
  // The whole file, each record with its line.
  const auto all = read_partitions(path, 1);
  REQUIRE(all.size() == 600'000);  // partitions of about 3 MB: more than the reader's 1 MiB lease

  job_parameters base;
  step_context plan_ctx("job", "step", 1, 1, base, {});
  const auto plan = line_range_partitioner(path)(plan_ctx, 2);
  csv_options options;
  options.partition_range = true;
  auto make_reader = [&] {
    return flat_file_reader<numbered>(
        path, [](const csv_record& r) { return numbered{std::string(r.get("id")), r.line()}; }, options);
  };
  // Appends the records of the range `values` to `out`, read without splits.
  auto read_range = [&](const partition_values& values, std::vector<numbered>& out) {
    step_context ctx("job", "step", 1, 1, values, {});
    auto reader = make_reader();
    reader.open(ctx);
    while (auto item = reader.read()) out.push_back(*item);
    reader.close();
  };
  // Reads `values`' range, offering it for splitting; `split_after` records in, asks the slot to
  // split with `commit` deciding. Returns the records read and the split's values.
  auto read_with_split = [&](const partition_values& values, std::size_t split_after, bool commit,
                             std::optional<splittable_input::split_result>& split) {
    auto slot = std::make_shared<split_slot>();
    step_context ctx("job", "step", 1, 1, values, {});
    ctx.set_split_slot(slot);
    auto reader = make_reader();
    reader.open(ctx);
    std::vector<numbered> got;
    for (;;) {
      // A range within the reader's lease (1 MiB) has nothing left to give.
      if (got.size() == split_after && slot->remaining() > 0) {
        const bool done = slot->split(values, 1000, [&](const splittable_input::split_result& r) {
          split = r;
          return commit;
        });
        CHECK(done == commit);
      }
      auto item = reader.read();
      if (!item) break;
      got.push_back(*item);
    }
    reader.close();
    CHECK(slot->remaining() == 0);  // closed: nothing offered any more
    return got;
  };

  for (std::size_t p = 0; p < 2; ++p) {
    INFO("partition " << p);
    // The records of partition p, as an unsplit read gives them.
    std::vector<numbered> whole;
    read_range(plan[p], whole);
    REQUIRE(whole.size() > 50'000);

    std::optional<splittable_input::split_result> withdrawn;
    CHECK(read_with_split(plan[p], 10, false, withdrawn) == whole);
    REQUIRE(withdrawn);  // the split was made, then withdrawn: the reader read to its old end

    // Split as soon as the reader opened, before it asked for its first lease.
    {
      std::optional<splittable_input::split_result> early;
      auto kept = read_with_split(plan[p], 0, true, early);
      REQUIRE(early);
      read_range(early->rest, kept);
      CHECK(kept == whole);
    }

    // A rollback after the split reopens the reader at its last update: it keeps its new end.
    {
      auto slot = std::make_shared<split_slot>();
      step_context ctx("job", "step", 1, 1, plan[p], {});
      ctx.set_split_slot(slot);
      auto reader = make_reader();
      reader.open(ctx);
      std::vector<numbered> got;
      for (int i = 0; i < 10; ++i) got.push_back(*reader.read());
      reader.update(ctx.context());  // the last commit
      std::optional<splittable_input::split_result> cut;
      REQUIRE(slot->split(plan[p], 1000, [&](const splittable_input::split_result& r) {
        cut = r;
        return true;
      }));
      for (int i = 0; i < 5; ++i) (void)reader.read();  // read, then rolled back
      reader.close();
      reader.open(ctx);
      while (auto item = reader.read()) got.push_back(*item);
      reader.close();
      read_range(cut->rest, got);
      CHECK(got == whole);
    }

    std::optional<splittable_input::split_result> split;
    const auto kept = read_with_split(plan[p], 10, true, split);
    REQUIRE(split);
    const auto cut = split->kept.get_int64("partition.end");
    CHECK(split->rest.get_int64("partition.begin") == cut);
    CHECK(split->rest.get_int64("partition.end") == plan[p].get_int64("partition.end"));
    CHECK(cut > plan[p].get_int64("partition.begin"));
    // About half of what was left after the first lease (1 MiB) goes to the rest.
    CHECK(kept.size() > 10);
    CHECK(kept.size() < whole.size());
    // The rest, read as its own partition (split again, as rebalancing may), numbers its lines as
    // the whole file does.
    std::optional<splittable_input::split_result> again;
    auto rest = read_with_split(split->rest, 5, true, again);
    std::vector<numbered> joined = kept;
    joined.insert(joined.end(), rest.begin(), rest.end());
    if (again) read_range(again->rest, joined);
    CHECK(joined == whole);
  }
}
