// The command-and-http example through the `kiln` binary: a real program, a real local HTTP
// server started by the test, and what `kiln show --json` reports afterwards.

#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>

using namespace kiln::test;
namespace json = boost::json;

namespace {

const std::string kiln_bin = KILN_BINARY;

process_result run_kiln(const temp_dir& dir, const std::vector<std::string>& args) {
  return run_process(kiln_bin, args, dir.path(), 120);
}

std::int64_t execution_id_of(const process_result& r) {
  const auto pos = r.out.find("execution ");
  REQUIRE(pos != std::string::npos);
  return std::stoll(r.out.substr(pos + 10));
}

json::object show(const temp_dir& dir, std::int64_t id) {
  auto r = run_kiln(dir, {"show", std::to_string(id), "--json"});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out).as_object();
}

const json::object& step_of(const json::object& execution, std::size_t i) {
  return execution.at("steps").as_array().at(i).as_object();
}

struct ping_server {
  http_server s;
  std::atomic<int> calls{0};
  ping_server() {
    s.server.Get("/ping", [this](const httplib::Request&, httplib::Response& res) {
      ++calls;
      res.set_content("pong", "text/plain");
    });
    s.server.Get("/gone", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("nothing here", "text/plain");
    });
    s.start();
  }
};

}  // namespace

TEST_CASE("command-and-http runs a program then calls a local server - show has both contexts",
          "[process][examples][tasklets]") {
  ping_server server;
  temp_dir dir;
  auto r = run_kiln(dir, {"run", "command-and-http", "command=/bin/echo", "args=hello  tasklets",
                          "url=" + server.s.url("/ping")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(server.calls == 1);
  CHECK_THAT(r.err, Catch::Contains("step 'command' stdout: hello tasklets"));
  auto e = show(dir, execution_id_of(r));
  CHECK(e.at("status").as_string() == "COMPLETED");
  const auto& command = step_of(e, 0).at("context").as_object();
  CHECK(command.at("stdout_tail").as_string() == "hello tasklets\n");
  CHECK(command.at("exit_code").as_int64() == 0);
  CHECK(command.at("command").as_array().size() == 3);
  const auto& http = step_of(e, 1).at("context").as_object();
  CHECK(http.at("response").at("status").as_int64() == 200);
  CHECK(http.at("response").at("body").as_string() == "pong");
  CHECK(http.at("request").at("url").as_string() == server.s.url("/ping"));

  SECTION("the default command is /bin/true") {
    auto d = run_kiln(dir, {"run", "command-and-http", "url=" + server.s.url("/ping?again")});
    REQUIRE(d.exit_code == 0);
    CHECK(step_of(show(dir, execution_id_of(d)), 0).at("context").at("command").as_array()[0].as_string() ==
          "/bin/true");
  }
  SECTION("a failing program fails the job with EXIT_CODE_1 and the HTTP step does not run") {
    auto f = run_kiln(dir, {"run", "command-and-http", "command=false", "url=" + server.s.url("/ping")});
    CHECK(f.exit_code == 1);
    CHECK_THAT(f.out, Catch::Contains("command false exited with code 1"));
    auto fe = show(dir, execution_id_of(f));
    CHECK(fe.at("exit_code").as_string() == "EXIT_CODE_1");
    CHECK(fe.at("steps").as_array().size() == 1);
    CHECK(step_of(fe, 0).at("context").at("exit_code").as_int64() == 1);
  }
  SECTION("a missing program is named") {
    auto f = run_kiln(
        dir, {"run", "command-and-http", "command=kiln-no-such-program", "url=" + server.s.url("/ping")});
    CHECK(f.exit_code == 1);
    CHECK_THAT(f.out, Catch::Contains("program 'kiln-no-such-program' not found in PATH"));
  }
  SECTION("a 404 fails the job with the status and the body") {
    auto f = run_kiln(dir, {"run", "command-and-http", "url=" + server.s.url("/gone")});
    CHECK(f.exit_code == 1);
    CHECK_THAT(f.out, Catch::Contains("HTTP 404") && Catch::Contains("nothing here"));
    auto fe = show(dir, execution_id_of(f));
    CHECK(step_of(fe, 1).at("context").at("response").at("status").as_int64() == 404);
  }
}

TEST_CASE("SIGTERM to kiln run terminates the command - STOPPED (exit 3) - a rerun runs it again",
          "[process][tasklets][stop]") {
  ping_server server;
  temp_dir dir;
  write_file(dir / "job.sh",
             "if [ -f started ]; then echo second run; exit 0; fi\ntouch started\nexec sleep 60\n");
  const std::vector<std::string> args{"run", "command-and-http", "command=/bin/sh", "args=job.sh",
                                      "url=" + server.s.url("/ping")};
  const auto start = std::chrono::steady_clock::now();
  child_process p(kiln_bin, args, dir.path());
  REQUIRE(wait_until([&] { return std::filesystem::exists(dir / "started"); }, 60));
  p.kill(SIGTERM);
  auto stopped = p.wait(60);
  INFO(stopped.err);
  REQUIRE(stopped.exit_code == 3);
  // The program got SIGTERM (not blocked by kiln's signal mask) and ended at once, without the
  // SIGKILL that follows a 5 s grace period.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  auto e = show(dir, execution_id_of(stopped));
  CHECK(e.at("status").as_string() == "STOPPED");
  CHECK(step_of(e, 0).at("status").as_string() == "STOPPED");
  CHECK(step_of(e, 0).at("context").at("signal").as_int64() == SIGTERM);
  CHECK(server.calls == 0);

  auto again = run_kiln(dir, args);
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  auto ae = show(dir, execution_id_of(again));
  CHECK(ae.at("instance_id") == e.at("instance_id"));
  CHECK(step_of(ae, 0).at("context").at("stdout_tail").as_string() == "second run\n");
  CHECK(server.calls == 1);
}
