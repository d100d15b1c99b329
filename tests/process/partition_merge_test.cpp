// csv-to-jsonl's merge step (partitions=N), called as the step runs it, with a crash simulated
// after any call: the call's file changes stay, its context change is lost (it was never
// committed), and the rerun continues from the last commit. The output must be byte-identical
// to partition 0's output followed by the parts, and the parts gone.

#include "example_jobs.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

using namespace kiln;
using kiln::test::read_file;
using kiln::test::temp_dir;
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
