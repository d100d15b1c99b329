// The resilient-import example (retry, skips in read/process/write, skip log, step listener)
// run through `kiln run`, checked row by row against the generator's formulas.

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace kiln::test;
namespace json = boost::json;

namespace {

process_result kiln_in(const temp_dir& dir, std::vector<std::string> args) {
  return run_process(KILN_BINARY, std::move(args), dir.path());
}

std::int64_t execution_of(const process_result& run) {
  const auto pos = run.out.find("execution ");
  REQUIRE(pos != std::string::npos);
  return std::stoll(run.out.substr(pos + 10));
}

}  // namespace

TEST_CASE("examples: resilient-import retries, skips in every phase and logs each skip", "[process][fault]") {
  temp_dir dir;
  REQUIRE(kiln_in(dir, {"run", "generate-csv", "output=in.csv", "rows=200", "bad_every=50"}).exit_code == 0);
  auto run = kiln_in(dir, {"run", "resilient-import", "input=in.csv", "output=out.jsonl", "flaky_every=7",
                           "max_amount=90000", "max_name=20", "commit_interval=50"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);

  // What generate-csv wrote for row i, and what the job must make of it.
  std::vector<std::string> expected_ids;
  std::int64_t read_skips = 0, process_skips = 0, write_skips = 0, retries = 0;
  for (int i = 1; i <= 200; ++i) {
    if (i % 50 == 0) {
      ++read_skips;
      continue;
    }
    if (i % 7 == 0) ++retries;
    const double amount = static_cast<double>((i * 7919) % 100000) + static_cast<double>((i * 31) % 100) / 100;
    if (amount > 90000) {
      ++process_skips;
    } else if (i % 8 == 3) {  // "Edsger \"EWD\" Dijkstra": 21 characters
      ++write_skips;
    } else {
      expected_ids.push_back(std::to_string(i));
    }
  }
  REQUIRE(process_skips > 0);
  std::vector<std::string> ids;
  std::ifstream out(dir / "out.jsonl");
  for (std::string line; std::getline(out, line);) ids.emplace_back(json::parse(line).as_object().at("id").as_string());
  CHECK(ids == expected_ids);

  const auto id = std::to_string(execution_of(run));
  auto shown = kiln_in(dir, {"show", id, "--json"});
  REQUIRE(shown.exit_code == 0);
  const auto step = json::parse(shown.out).as_object().at("steps").as_array().at(0).as_object();
  const auto& c = step.at("counts").as_object();
  CHECK(c.at("read_skip").as_int64() == read_skips);
  CHECK(c.at("process_skip").as_int64() == process_skips);
  CHECK(c.at("write_skip").as_int64() == write_skips);
  CHECK(c.at("retry").as_int64() == retries);
  CHECK(step.at("exit_code") == "COMPLETED WITH SKIPS");
  const auto& log = step.at("skip_log").as_object();
  CHECK(log.at("lines").as_int64() == read_skips + process_skips + write_skips);
  CHECK(std::filesystem::exists(std::string(log.at("path").as_string())));

  auto text = kiln_in(dir, {"show", id});
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("retries " + std::to_string(retries)));
  CHECK_THAT(text.out, Catch::Contains("skip log ") &&
                           Catch::Contains("(" + std::to_string(read_skips + process_skips + write_skips) + " lines)"));
}
