// fan-out through real `kiln run` processes: one write-item child execution per input line; after
// a child fails, the rerun restarts that child only and relaunches none that completed.

#include "support/kiln_cli.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace kiln::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// item -> statuses of its write-item executions, oldest first.
std::map<std::string, std::vector<std::string>> children(const temp_dir& dir) {
  auto r = run_kiln(dir, {"executions", "write-item", "--json", "--limit", "0"});
  REQUIRE(r.exit_code == 0);
  const json::value list = json::parse(r.out);
  std::map<std::string, std::vector<std::string>> out;
  const auto& arr = list.as_array();
  for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
    const auto& e = it->as_object();
    const std::string item(e.at("parameters").at("item").at("value").as_string());
    out[item].emplace_back(e.at("status").as_string());
  }
  return out;
}

}  // namespace

TEST_CASE("fan-out: a child per line - the rerun after a failed child relaunches no completed child",
          "[process][fan-out]") {
  temp_dir dir;
  write_file(dir / "items.txt", "alpha\nbeta\n\ngamma\r\ndelta");
  fs::create_directories(dir / "out" / "gamma.txt");  // a folder in the way: gamma's child fails

  auto first = run_kiln(dir, {"run", "fan-out", "input=items.txt", "output_dir=out"});
  INFO(first.out << first.err);
  CHECK(first.exit_code != 0);
  CHECK(first.out.find("FAILED") != std::string::npos);
  CHECK(first.err.find("item 'gamma'") != std::string::npos);
  CHECK(children(dir) == std::map<std::string, std::vector<std::string>>{
                             {"alpha", {"COMPLETED"}}, {"beta", {"COMPLETED"}}, {"gamma", {"FAILED"}}});

  fs::remove(dir / "out" / "gamma.txt");
  auto second = run_kiln(dir, {"run", "fan-out", "input=items.txt", "output_dir=out"});
  INFO(second.out << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("restarting job 'fan-out'") != std::string::npos);
  CHECK(children(dir) == std::map<std::string, std::vector<std::string>>{{"alpha", {"COMPLETED"}},
                                                                         {"beta", {"COMPLETED"}},
                                                                         {"gamma", {"FAILED", "COMPLETED"}},
                                                                         {"delta", {"COMPLETED"}}});
  for (const char* item : {"alpha", "beta", "gamma", "delta"}) {
    CHECK(read_file(dir / "out" / (std::string(item) + ".txt")) == std::string(item) + "\n");
  }
}

TEST_CASE("fan-out refuses an item that is not a plain file name", "[process][fan-out]") {
  temp_dir dir;
  write_file(dir / "items.txt", "ok\n../escape\n");
  auto r = run_kiln(dir, {"run", "fan-out", "input=items.txt", "output_dir=out"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("item '../escape'") != std::string::npos);
  CHECK(r.err.find("plain file name") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "escape.txt"));
  CHECK(fs::exists(dir / "out" / "ok.txt"));
}

TEST_CASE("fan-out counts a child that completed earlier as done without running it again",
          "[process][fan-out]") {
  temp_dir dir;
  write_file(dir / "items.txt", "one\ntwo\nthree\n");
  // The state a parent killed after its child completed but before its own commit leaves behind.
  REQUIRE(run_kiln(dir, {"run", "write-item", "item=two", "output_dir=out"}).exit_code == 0);
  write_file(dir / "out" / "two.txt", "left alone\n");

  auto r = run_kiln(dir, {"run", "fan-out", "input=items.txt", "output_dir=out"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("read 3, written 2, filtered 1") != std::string::npos);
  CHECK(r.err.find("item 'two' was done by an earlier attempt") != std::string::npos);
  CHECK(children(dir) == std::map<std::string, std::vector<std::string>>{
                             {"one", {"COMPLETED"}}, {"two", {"COMPLETED"}}, {"three", {"COMPLETED"}}});
  CHECK(read_file(dir / "out" / "two.txt") == "left alone\n");
}
