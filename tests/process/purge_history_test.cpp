// purge-history through real `kiln run` processes on a real data dir: the dry run lists, the real
// run deletes only executions that ended before the cutoff, and `kiln executions` agrees.

#include "support/kiln_cli.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <set>
#include <thread>

using namespace kiln::test;
namespace json = boost::json;

namespace {

const std::string kiln_bin = KILN_BINARY;

std::set<std::int64_t> listed_ids(const temp_dir& dir) {
  auto r = run_kiln(dir, {"executions", "--json", "--limit", "0"});
  REQUIRE(r.exit_code == 0);
  std::set<std::int64_t> ids;
  const json::value list = json::parse(r.out);
  for (const auto& e : list.as_array()) ids.insert(e.at("id").as_int64());
  return ids;
}

}  // namespace

TEST_CASE("purge-history: dry run lists - the real run deletes only old ended executions",
          "[process][purge]") {
  temp_dir dir;
  auto old_a = run_kiln(dir, {"run", "sleep", "ms=0", "tag=a"});
  REQUIRE(old_a.exit_code == 0);
  const auto a = execution_id_of(old_a);
  auto old_b = run_kiln(dir, {"run", "sleep", "ms=0", "tag=b"});
  REQUIRE(old_b.exit_code == 0);
  const auto b = execution_id_of(old_b);
  // Started long ago but never ended: the next process recovers it as FAILED, ending it then.
  std::int64_t killed = 0;
  {
    child_process p(kiln_bin, {"run", "sleep", "ms=600000", "tag=k"}, dir.path());
    REQUIRE(wait_until([&] { return p.out().find("execution ") != std::string::npos; }, 30));
    killed = std::stoll(p.out().substr(p.out().find("execution ") + 10));
    p.kill(SIGKILL);
    p.wait();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto recent = run_kiln(dir, {"run", "sleep", "ms=0", "tag=c"});
  REQUIRE(recent.exit_code == 0);
  const auto c = execution_id_of(recent);
  REQUIRE(listed_ids(dir) == std::set<std::int64_t>{a, b, killed, c});

  auto dry = run_kiln(dir, {"run", "purge-history", "older_than=2s", "dry_run=true"});
  INFO(dry.out << dry.err);
  REQUIRE(dry.exit_code == 0);
  const auto listed = [&](std::int64_t id) {
    return dry.out.find("would delete execution " + std::to_string(id) + " ") != std::string::npos;
  };
  CHECK(dry.out.find("would delete execution " + std::to_string(a) + " (sleep COMPLETED") !=
        std::string::npos);
  CHECK(listed(b));
  CHECK_FALSE(listed(killed));
  CHECK_FALSE(listed(c));
  const auto dry_id = execution_id_of(dry);
  CHECK(listed_ids(dir) == std::set<std::int64_t>{a, b, killed, c, dry_id});

  auto real = run_kiln(dir, {"run", "purge-history", "older_than=2s"});
  INFO(real.out << real.err);
  REQUIRE(real.exit_code == 0);
  CHECK(real.out.find("written 2") != std::string::npos);
  const auto real_id = execution_id_of(real);
  CHECK(listed_ids(dir) == std::set<std::int64_t>{killed, c, dry_id, real_id});
  auto show = run_kiln(dir, {"show", std::to_string(a)});
  CHECK(show.exit_code != 0);
  // The purged instance can run again with the same parameters: it is a new instance.
  auto again = run_kiln(dir, {"run", "sleep", "ms=0", "tag=a"});
  CHECK(again.exit_code == 0);
}

TEST_CASE("purge-history refuses a bad duration and changes nothing", "[process][purge]") {
  temp_dir dir;
  REQUIRE(run_kiln(dir, {"run", "sleep", "ms=0"}).exit_code == 0);
  auto r = run_kiln(dir, {"run", "purge-history", "older_than=soon"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("parameter 'older_than': duration 'soon'") != std::string::npos);
  CHECK(listed_ids(dir).size() == 1);
}
