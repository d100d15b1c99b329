// Process-level tests of `kiln run` and friends: real processes, real RocksDB folders, kill -9.

#include "support/kiln_cli.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

using namespace kiln::test;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string kiln_bin = KILN_BINARY;

json::object show(const temp_dir& dir, std::int64_t id, const std::string& data = "kiln-data") {
  auto r = run_kiln(dir, {"show", std::to_string(id), "--json", "--data-dir", data});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

std::string status_of(const json::object& e) { return std::string(e.at("status").as_string()); }

std::int64_t size_of(const fs::path& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(s);
}

// A CSV input of `rows` rows (every 1000th with a bad amount) and its uninterrupted conversion.
struct reference {
  temp_dir dir;
  std::string expected;
  std::int64_t rows;

  explicit reference(std::int64_t n) : rows(n) {
    auto g = run_kiln(dir, {"run", "generate-csv", "output=in.csv", "rows=" + std::to_string(n), "bad_every=1000",
                        "--data-dir", "gen-data"});
    REQUIRE(g.exit_code == 0);
    auto r = run_kiln(dir, {"run", "csv-to-jsonl", "input=in.csv", "output=ref.jsonl", "skip_limit=100000",
                        "--data-dir", "ref-data"});
    REQUIRE(r.exit_code == 0);
    expected = read_file(dir / "ref.jsonl");
    REQUIRE(!expected.empty());
  }

  [[nodiscard]] std::vector<std::string> run_args(const std::string& output) const {
    return {"run", "csv-to-jsonl", "input=in.csv", "output=" + output, "skip_limit=100000", "commit_interval=100"};
  }
};

}  // namespace

TEST_CASE("kill -9 at several points - rerun - output byte-identical - counts add up", "[process][restart]") {
  // The killed runs write behind or in line; the rerun does the other, as both commit alike.
  const bool behind = GENERATE(true, false);
  INFO("killed runs with write_behind=" << behind);
  reference ref(300000);
  const auto& dir = ref.dir;
  auto args = ref.run_args("out.jsonl");
  auto rerun_args = args;
  args.push_back(behind ? "write_behind=true" : "write_behind=false");
  rerun_args.push_back(behind ? "write_behind=false" : "write_behind=true");
  const auto total = static_cast<std::int64_t>(ref.expected.size());
  std::vector<std::int64_t> killed_executions;
  for (double fraction : {0.05, 0.35, 0.7}) {
    child_process p(kiln_bin, args, dir.path());
    const bool reached = wait_until([&] { return size_of(dir / "out.jsonl") >= total * fraction || !p.running(); }, 120);
    REQUIRE(reached);
    p.kill(SIGKILL);
    auto r = p.wait();
    if (r.signal != SIGKILL) {
      // The run finished before the kill landed; this kill point is moot for a fast machine.
      WARN("run finished before the kill at " << fraction);
      break;
    }
    killed_executions.push_back(execution_id_of(r));
    // The dead process left its execution STARTED; nothing has repaired it yet.
    CHECK(status_of(show(dir, killed_executions.back())) == "STARTED");
  }
  REQUIRE(!killed_executions.empty());
  auto final_run = run_kiln(dir, rerun_args);
  INFO(final_run.err);
  REQUIRE(final_run.exit_code == 0);
  CHECK(read_file(dir / "out.jsonl") == ref.expected);

  // Every killed execution is now FAILED with the reason; all belong to the same instance.
  const auto last = show(dir, execution_id_of(final_run));
  CHECK(status_of(last) == "COMPLETED");
  std::int64_t written = 0, read = 0, skipped = 0;
  auto add_counts = [&](const json::object& e) {
    for (const auto& s : e.at("steps").as_array()) {
      const auto& c = s.at("counts").as_object();
      written += c.at("write").as_int64();
      read += c.at("read").as_int64();
      skipped += c.at("read_skip").as_int64();
    }
  };
  add_counts(last);
  for (auto id : killed_executions) {
    auto e = show(dir, id);
    CHECK(status_of(e) == "FAILED");
    CHECK_THAT(std::string(e.at("exit_description").as_string()), Catch::Contains("died"));
    CHECK(e.at("instance_id") == last.at("instance_id"));
    add_counts(e);
  }
  const auto expected_lines = std::count(ref.expected.begin(), ref.expected.end(), '\n');
  CHECK(written == expected_lines);
  CHECK(read == expected_lines);
  CHECK(read + skipped == ref.rows);
  CHECK(skipped == ref.rows / 1000);

  // Each bad row is in exactly one skip log, although runs died between writing to their log and
  // the commit that counts it: a restart cut the earlier logs back to their last commit.
  std::int64_t logged = 0;
  std::set<std::string> errors;
  auto add_log = [&](const json::object& e) {
    for (const auto& s : e.at("steps").as_array()) {
      const auto* log = s.as_object().if_contains("skip_log");
      if (!log) continue;
      std::ifstream in(std::string(log->as_object().at("path").as_string()));
      for (std::string line; std::getline(in, line);) {
        ++logged;
        errors.insert(std::string(json::parse(line).as_object().at("error").as_string()));
      }
    }
  };
  add_log(last);
  for (auto id : killed_executions) add_log(show(dir, id));
  CHECK(logged == ref.rows / 1000);
  CHECK(static_cast<std::int64_t>(errors.size()) == logged);
}

TEST_CASE("SIGTERM stops at a chunk boundary (exit 3 - STOPPED) - rerun completes identically", "[process][stop]") {
  reference ref(300000);
  const auto& dir = ref.dir;
  auto args = ref.run_args("out.jsonl");
  child_process p(kiln_bin, args, dir.path());
  REQUIRE(wait_until([&] { return size_of(dir / "out.jsonl") >= static_cast<std::int64_t>(ref.expected.size() / 4) || !p.running(); }, 120));
  p.kill(SIGTERM);
  auto stopped = p.wait();
  if (stopped.exit_code == 0) {
    WARN("run completed before SIGTERM landed");
  } else {
    INFO(stopped.err);
    REQUIRE(stopped.exit_code == 3);
    auto e = show(dir, execution_id_of(stopped));
    CHECK(status_of(e) == "STOPPED");
    CHECK(status_of(e.at("steps").as_array()[0].as_object()) == "STOPPED");
    auto again = run_kiln(dir, args);
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
  }
  CHECK(read_file(dir / "out.jsonl") == ref.expected);
  // The instance is complete now: the same identifying parameters are refused.
  auto refused = run_kiln(dir, args);
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("already ran to COMPLETED"));
}

TEST_CASE("a second process cannot run while the first owns the data directory", "[process][lock]") {
  reference ref(300000);
  const auto& dir = ref.dir;
  child_process first(kiln_bin, ref.run_args("out.jsonl"), dir.path());
  REQUIRE(wait_until([&] { return size_of(dir / "out.jsonl") > 0 || !first.running(); }, 60));
  if (first.running()) {
    auto second = run_kiln(dir, ref.run_args("out.jsonl"));
    CHECK(second.exit_code == 2);
    CHECK_THAT(second.err, Catch::Contains("in use by another Kiln process") && Catch::Contains("pid"));
    // Read-only commands still work while a job runs.
    auto list = run_kiln(dir, {"executions"});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.out, Catch::Contains("csv-to-jsonl"));
  }
  CHECK(first.wait().exit_code == 0);
  CHECK(read_file(dir / "out.jsonl") == ref.expected);
}

TEST_CASE("bad parameters are refused with exit 2 and nothing is written", "[process][usage]") {
  temp_dir dir;
  write_file(dir / "in.csv", "id,name,amount\n1,a,2\n");
  struct bad {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<bad> cases{
      {{"run", "csv-to-jsonl", "input=missing.csv", "output=o.jsonl"}, "parameter 'input': file not found: missing.csv"},
      {{"run", "csv-to-jsonl", "output=o.jsonl"}, "missing required parameter 'input'"},
      {{"run", "csv-to-jsonl", "input=in.csv", "output=o.jsonl", "skip_limit=lots"}, "parameter 'skip_limit'"},
      {{"run", "csv-to-jsonl", "input=in.csv", "output=o.jsonl", "inptu=x"}, "unknown parameter 'inptu'"},
      {{"run", "csv-to-jsonl", "input=in.csv", "output=o.jsonl", "commit_interval=0"}, "parameter 'commit_interval'"},
      {{"run", "no-such-job"}, "unknown job 'no-such-job'"},
      {{"run", "csv-to-jsonl", "input"}, "write name=value"},
      {{"run"}, "job is required"},
  };
  for (const auto& c : cases) {
    auto r = run_kiln(dir, c.args);
    INFO(c.message);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
    CHECK_FALSE(fs::exists(dir / "o.jsonl"));
    CHECK_FALSE(fs::exists(dir / "kiln-data"));
  }
}

TEST_CASE("examples - csv-to-jsonl converts - trims - skips - count-lines counts - abandon ends an instance",
          "[process][examples]") {
  temp_dir dir;
  write_file(dir / "in.csv",
             "id,name,amount\n1,  Ada ,12.5\n2,\"Hopper, Grace\",100\n3,Bad,n/a\n4,\"Say \"\"hi\"\"\",-0.25\n");
  auto r = run_kiln(dir, {"run", "csv-to-jsonl", "input=in.csv", "output=out.jsonl"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(dir / "out.jsonl") ==
        "{\"id\":\"1\",\"name\":\"Ada\",\"amount\":12.5}\n"
        "{\"id\":\"2\",\"name\":\"Hopper, Grace\",\"amount\":100}\n"
        "{\"id\":\"4\",\"name\":\"Say \\\"hi\\\"\",\"amount\":-0.25}\n");
  CHECK_THAT(r.err, Catch::Contains("in.csv:4: field 'amount': not a number: 'n/a'"));
  auto e = show(dir, execution_id_of(r));
  const auto& c = e.at("steps").as_array()[0].at("counts").as_object();
  CHECK(c.at("read").as_int64() == 3);
  CHECK(c.at("write").as_int64() == 3);
  CHECK(c.at("read_skip").as_int64() == 1);

  SECTION("beyond the skip limit the step fails (exit 1) and abandon retires the instance") {
    auto failed = run_kiln(dir, {"run", "csv-to-jsonl", "input=in.csv", "output=out2.jsonl", "skip_limit=0"});
    CHECK(failed.exit_code == 1);
    CHECK_THAT(failed.out, Catch::Contains("skip limit 0 exceeded"));
    const auto id = execution_id_of(failed);
    CHECK(status_of(show(dir, id)) == "FAILED");
    auto ab = run_kiln(dir, {"abandon", std::to_string(id)});
    CHECK(ab.exit_code == 0);
    CHECK(status_of(show(dir, id)) == "ABANDONED");
    auto again = run_kiln(dir, {"run", "csv-to-jsonl", "input=in.csv", "output=out2.jsonl"});
    CHECK(again.exit_code == 2);
    CHECK_THAT(again.err, Catch::Contains("ABANDONED"));
    CHECK(run_kiln(dir, {"abandon", std::to_string(id)}).exit_code == 2);
    CHECK(run_kiln(dir, {"abandon", "999"}).exit_code == 2);
  }
  SECTION("count-lines keeps its count in the step context") {
    auto cl = run_kiln(dir, {"run", "count-lines", "file=in.csv"});
    REQUIRE(cl.exit_code == 0);
    auto ce = show(dir, execution_id_of(cl));
    CHECK(ce.at("steps").as_array()[0].at("context").at("lines").as_int64() == 5);
  }
  SECTION("listing commands") {
    auto list = run_kiln(dir, {"executions", "--json"});
    REQUIRE(list.exit_code == 0);
    CHECK(json::parse(list.out).as_array().size() == 1);
    auto jobs = run_kiln(dir, {"jobs", "--json"});
    REQUIRE(jobs.exit_code == 0);
    std::set<std::string> names;
    const auto listed = json::parse(jobs.out);
    for (const auto& j : listed.as_array()) names.insert(std::string(j.as_object().at("name").as_string()));
    CHECK(names.contains("csv-to-jsonl"));
    CHECK(names.contains("count-lines"));
    CHECK(names.contains("generate-csv"));
    auto text = run_kiln(dir, {"show", std::to_string(execution_id_of(r))});
    CHECK_THAT(text.out, Catch::Contains("COMPLETED") && Catch::Contains("read 3"));
    CHECK(run_kiln(dir, {"show", "42"}).exit_code == 2);
  }
}
