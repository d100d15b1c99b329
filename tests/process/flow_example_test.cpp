// The checked-import example (a flow with a failure path and a decider) run through `kiln run`.

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>

using namespace kiln::test;
namespace json = boost::json;

namespace {

process_result kiln_in(const temp_dir& dir, std::vector<std::string> args) {
  return run_process(KILN_BINARY, std::move(args), dir.path());
}

json::object detail(const temp_dir& dir, const process_result& run) {
  const auto pos = run.out.find("execution ");
  REQUIRE(pos != std::string::npos);
  auto r = kiln_in(dir, {"show", std::to_string(std::stoll(run.out.substr(pos + 10))), "--json"});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

std::vector<std::string> step_names(const json::object& e) {
  std::vector<std::string> out;
  for (const auto& s : e.at("steps").as_array()) out.emplace_back(s.as_object().at("step").as_string());
  return out;
}

}  // namespace

TEST_CASE("examples: checked-import converts and reports when asked", "[process][flow]") {
  temp_dir dir;
  REQUIRE(kiln_in(dir, {"run", "generate-csv", "output=in.csv", "rows=3000", "bad_every=500"}).exit_code == 0);
  auto quiet = kiln_in(dir, {"run", "checked-import", "input=in.csv", "output=a.jsonl"});
  CHECK(quiet.exit_code == 0);
  CHECK(step_names(detail(dir, quiet)) == std::vector<std::string>{"convert"});
  auto reported = kiln_in(dir, {"run", "checked-import", "input=in.csv", "output=b.jsonl", "report=yes"});
  CHECK(reported.exit_code == 0);
  auto e = detail(dir, reported);
  REQUIRE(step_names(e) == std::vector<std::string>{"convert", "report"});
  CHECK(e.at("steps").as_array()[1].as_object().at("context").as_object().at("lines").as_int64() == 2994);
}

TEST_CASE("examples: checked-import quarantines an input that fails to convert", "[process][flow]") {
  temp_dir dir;
  REQUIRE(kiln_in(dir, {"run", "generate-csv", "output=bad.csv", "rows=3000", "bad_every=5"}).exit_code == 0);
  auto r = kiln_in(dir, {"run", "checked-import", "input=bad.csv", "output=out.jsonl"});
  CHECK(r.exit_code == 1);
  auto e = detail(dir, r);
  CHECK(step_names(e) == std::vector<std::string>{"convert", "quarantine"});
  CHECK(std::string(e.at("exit_description").as_string()).find("skip limit") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.csv"));
  CHECK(std::filesystem::exists(dir / "bad.csv.rejected"));
}
