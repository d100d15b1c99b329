// The command tasklet driven through the real framework: exit codes, output capture, timeouts,
// stops, missing programs, placeholders, restarts.

#include "support/process.hpp"
#include "support/tasklet_run.hpp"

#include <kiln/jobs/command_tasklet.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

using namespace kiln;
using namespace kiln::test;
using namespace std::chrono_literals;

namespace {

command_tasklet shell(const std::string& script) {
  return command_tasklet("/bin/sh", {"-c", script});
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Quiets the log (the child's lines go there) for the scope.
struct quiet_log {
  spdlog::level::level_enum before = spdlog::get_level();
  quiet_log() { spdlog::set_level(spdlog::level::err); }
  ~quiet_log() { spdlog::set_level(before); }
};

}  // namespace

TEST_CASE("command tasklet: exit code 0 completes and the output is kept in the context", "[jobs][command]") {
  tasklet_run t;
  auto r = t.run(shell("echo hello; echo world; echo careful >&2"));
  CHECK(r.run.status == batch_status::completed);
  CHECK(r.step.exit.code == "COMPLETED");
  CHECK(text_of(r.context, "stdout_tail") == "hello\nworld\n");
  CHECK(text_of(r.context, "stderr_tail") == "careful\n");
  CHECK(r.context.at("exit_code").as_int64() == 0);
  CHECK(r.context.at("command").as_array().size() == 3);
  CHECK(r.context.at("command").as_array()[0].as_string() == "/bin/sh");
  CHECK(!r.context.contains("failure"));
}

TEST_CASE("command tasklet: a non-zero exit fails the step with EXIT_CODE_n and keeps the output",
          "[jobs][command]") {
  tasklet_run t;
  auto r = t.run(shell("echo partial; echo 'disk full' >&2; exit 3"));
  CHECK(r.run.status == batch_status::failed);
  CHECK(r.step.status == batch_status::failed);
  CHECK(r.step.exit.code == "EXIT_CODE_3");
  CHECK(r.run.exit.code == "EXIT_CODE_3");
  CHECK_THAT(r.step.exit.description, Catch::Contains("exited with code 3") && Catch::Contains("disk full"));
  // The output of the failed run was committed before the step failed.
  CHECK(r.context.at("exit_code").as_int64() == 3);
  CHECK(text_of(r.context, "stdout_tail") == "partial\n");
  CHECK(text_of(r.context, "stderr_tail") == "disk full\n");
}

TEST_CASE("command tasklet: mapped exit codes give their exit status", "[jobs][command]") {
  auto mapped = [](const std::string& script) {
    return shell(script)
        .map_exit_code(1, batch_status::completed, "NOOP")
        .map_exit_code(2, "PARTIAL")
        .map_exit_code(0, "DONE_OK");
  };
  SECTION("to a completed step") {
    tasklet_run t;
    auto r = t.run(mapped("exit 1"));
    CHECK(r.run.status == batch_status::completed);
    CHECK(r.step.status == batch_status::completed);
    CHECK(r.step.exit.code == "NOOP");
  }
  SECTION("to a failed step") {
    tasklet_run t;
    auto r = t.run(mapped("exit 2"));
    CHECK(r.step.status == batch_status::failed);
    CHECK(r.step.exit.code == "PARTIAL");
  }
  SECTION("0 mapped to a status other than COMPLETED fails") {
    tasklet_run t;
    auto r = t.run(mapped("exit 0"));
    CHECK(r.step.status == batch_status::failed);
    CHECK(r.step.exit.code == "DONE_OK");
  }
  SECTION("unmapped codes keep the default") {
    tasklet_run t;
    auto r = t.run(mapped("exit 7"));
    CHECK(r.step.exit.code == "EXIT_CODE_7");
  }
  CHECK_THROWS_AS(shell("true").map_exit_code(1, batch_status::stopped, "X"), std::invalid_argument);
}

TEST_CASE("command tasklet: a timeout terminates the child", "[jobs][command]") {
  SECTION("SIGTERM is enough") {
    tasklet_run t;
    const auto start = std::chrono::steady_clock::now();
    auto r = t.run(shell("echo started; sleep 30").timeout(300ms));
    CHECK(seconds_since(start) < 5);
    CHECK(r.step.status == batch_status::failed);
    CHECK(r.step.exit.code == "FAILED");
    CHECK_THAT(r.step.exit.description,
               Catch::Contains("timed out after 300 ms") && Catch::Contains("SIGTERM"));
    CHECK(r.context.at("timed_out").as_bool());
    CHECK(r.context.at("signal").as_int64() == SIGTERM);
    CHECK(text_of(r.context, "stdout_tail") == "started\n");
  }
  SECTION("SIGKILL after the grace period when SIGTERM is ignored") {
    tasklet_run t;
    const auto start = std::chrono::steady_clock::now();
    auto r = t.run(shell("trap '' TERM; sleep 30").timeout(200ms).kill_grace(300ms));
    CHECK(seconds_since(start) < 5);
    CHECK(r.step.status == batch_status::failed);
    CHECK_THAT(r.step.exit.description, Catch::Contains("killed (SIGKILL)"));
    CHECK(r.context.at("signal").as_int64() == SIGKILL);
  }
}

TEST_CASE("command tasklet: a missing program fails with a clear message", "[jobs][command]") {
  SECTION("looked up in PATH") {
    tasklet_run t;
    auto r = t.run(command_tasklet("kiln-no-such-program", {"x"}));
    CHECK(r.step.status == batch_status::failed);
    CHECK(r.step.exit.description == "program 'kiln-no-such-program' not found in PATH");
    CHECK(r.context.at("failure").at("message").as_string() ==
          "program 'kiln-no-such-program' not found in PATH");
  }
  SECTION("given as a path") {
    tasklet_run t;
    auto r = t.run(command_tasklet("/no/such/dir/program"));
    CHECK(r.step.exit.description == "program '/no/such/dir/program' not found");
  }
  SECTION("not executable") {
    tasklet_run t;
    write_file(t.dir() / "script.sh", "echo hi\n");
    auto r = t.run(command_tasklet((t.dir() / "script.sh").string()));
    CHECK_THAT(r.step.exit.description, Catch::Contains("is not executable"));
  }
  SECTION("a missing working directory") {
    tasklet_run t;
    auto r = t.run(shell("true").working_directory((t.dir() / "nowhere").string()));
    CHECK_THAT(r.step.exit.description, Catch::Contains("nowhere' is not a directory"));
  }
}

TEST_CASE("command tasklet: placeholders - environment and working directory", "[jobs][command]") {
  tasklet_run t;
  t.set("who", "world");
  t.set("greeting", "hello");
  std::filesystem::create_directory(t.dir() / "work dir");
  auto r =
      t.run(command_tasklet("/bin/sh",
                            {"-c", "echo \"$1 $GREETING {\\\"json\\\": 1} $(basename \"$(pwd)\")\"", "sh"})
                .arg("{who}")
                .env("GREETING", "{greeting}!")
                .working_directory((t.dir() / "work dir").string()));
  INFO(r.step.exit.description);
  REQUIRE(r.run.status == batch_status::completed);
  CHECK(text_of(r.context, "stdout_tail") == "world hello! {\"json\": 1} work dir\n");
  CHECK(r.context.at("command").as_array().back().as_string() == "world");

  SECTION("an unknown placeholder fails the step and names the parameter") {
    tasklet_run u;
    auto f = u.run(shell("true").arg("{nope}"));
    CHECK(f.step.status == batch_status::failed);
    CHECK_THAT(f.step.exit.description, Catch::Contains("'nope'"));
  }
}

TEST_CASE("command tasklet: arguments from a job parameter", "[jobs][command]") {
  tasklet_run t;
  t.set("args", "a b");
  auto r = t.run(command_tasklet("/bin/echo").arg("first").args_from([](const job_parameters& p) {
    return std::vector<std::string>{p.get_string("args"), "last"};
  }));
  CHECK(text_of(r.context, "stdout_tail") == "first a b last\n");
}

TEST_CASE("command tasklet: much output is streamed and only the tail is kept", "[jobs][command]") {
  quiet_log quiet;
  tasklet_run t;
  // About 1.3 MB on stdout and a bit on stderr, interleaved; invalid UTF-8 at the end.
  auto r = t.run(shell("i=0; while [ $i -lt 100000 ]; do echo \"line $i\"; i=$((i+1)); done; "
                       "echo err >&2; printf 'bad \\377\\376 end\\n'")
                     .tail_bytes(1000));
  REQUIRE(r.run.status == batch_status::completed);
  const auto out = text_of(r.context, "stdout_tail");
  CHECK(out.size() <= 1004);  // each of the two invalid bytes became a 3-byte U+FFFD
  CHECK_THAT(out, Catch::EndsWith("line 99999\nbad \xEF\xBF\xBD\xEF\xBF\xBD end\n"));
  CHECK(text_of(r.context, "stderr_tail") == "err\n");
}

TEST_CASE("command tasklet: a killed child fails the step", "[jobs][command]") {
  tasklet_run t;
  auto r = t.run(shell("kill -9 $$"));
  CHECK(r.step.status == batch_status::failed);
  CHECK_THAT(r.step.exit.description, Catch::Contains("killed by signal 9"));
  CHECK(r.context.at("signal").as_int64() == 9);
}

TEST_CASE("command tasklet: a stop terminates the child - the step ends STOPPED - a restart runs it again",
          "[jobs][command][stop]") {
  tasklet_run t;
  t.set("sleep", "30", false);
  auto task = command_tasklet("/bin/sh", {"-c", "echo run >> runs.txt; sleep $SLEEP"})
                  .env("SLEEP", "{sleep}")
                  .working_directory(t.dir().path().string());
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    (void)wait_until([&] { return std::filesystem::exists(t.dir() / "runs.txt"); }, 30);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto first = t.run(task, &stop);
  stopper.join();
  CHECK(seconds_since(start) < 5);
  CHECK(first.run.status == batch_status::stopped);
  CHECK(first.step.status == batch_status::stopped);
  CHECK(first.context.at("signal").as_int64() == SIGTERM);

  stop = false;
  t.set("sleep", "0", false);
  auto second = t.run(task, &stop);
  CHECK(second.run.status == batch_status::completed);
  CHECK(second.run.execution_id != first.run.execution_id);
  CHECK(read_file(t.dir() / "runs.txt") == "run\nrun\n");
  CHECK(second.context.at("exit_code").as_int64() == 0);
}
