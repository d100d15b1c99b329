// The HTTP tasklet driven through the real framework against a real httplib::Server on
// 127.0.0.1: answers, retries, failures, timeouts, placeholders, what the context keeps.

#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/tasklet_run.hpp"

#include <kiln/jobs/http_tasklet.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace kiln;
using namespace kiln::test;
using namespace std::chrono_literals;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

const boost::json::object& response_of(const step_outcome_record& r) {
  return r.context.at("response").as_object();
}

}  // namespace

TEST_CASE("http tasklet: 200 completes and the response is kept in the context", "[jobs][http]") {
  http_server s;
  s.server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Trace", "abc");
    res.set_content("hi there", "text/plain");
  });
  s.start();
  tasklet_run t;
  auto r = t.run(http_tasklet(s.url("/hello?x=1")).save_headers({"Content-Type", "X-Trace", "X-Missing"}));
  INFO(r.step.exit.description);
  REQUIRE(r.run.status == batch_status::completed);
  CHECK(r.step.exit.code == "COMPLETED");
  const auto& res = response_of(r);
  CHECK(res.at("status").as_int64() == 200);
  CHECK(res.at("body").as_string() == "hi there");
  CHECK(res.at("body_bytes").to_number<std::int64_t>() == 8);
  CHECK_FALSE(res.at("body_truncated").as_bool());
  CHECK(res.at("headers").at("Content-Type").as_string() == "text/plain");
  CHECK(res.at("headers").at("X-Trace").as_string() == "abc");
  CHECK_FALSE(res.at("headers").as_object().contains("X-Missing"));
  CHECK(r.context.at("attempts").as_int64() == 1);
  CHECK(r.context.at("request").at("method").as_string() == "GET");
  CHECK(r.context.at("request").at("url").as_string() == s.url("/hello?x=1"));
}

TEST_CASE("http tasklet: 500 is retried with backoff until it succeeds", "[jobs][http]") {
  http_server s;
  std::atomic<int> calls{0};
  s.server.Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 500;
      res.set_content("try later", "text/plain");
    } else {
      res.set_content("ok", "text/plain");
    }
  });
  s.start();
  tasklet_run t;
  const auto start = std::chrono::steady_clock::now();
  auto r = t.run(http_tasklet(s.url("/flaky")).retries(3).backoff(100ms));
  CHECK(seconds_since(start) >= 0.3);  // waited 100 ms, then 200 ms
  REQUIRE(r.run.status == batch_status::completed);
  CHECK(calls == 3);
  CHECK(r.context.at("attempts").as_int64() == 3);
  CHECK(response_of(r).at("body").as_string() == "ok");
}

TEST_CASE("http tasklet: 5xx after the last retry fails with the status and the body", "[jobs][http]") {
  http_server s;
  std::atomic<int> calls{0};
  s.server.Get("/down", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 503;
    res.set_content("maintenance until noon", "text/plain");
  });
  s.start();
  tasklet_run t;
  auto r = t.run(http_tasklet(s.url("/down")).retries(2).backoff(10ms));
  CHECK(r.run.status == batch_status::failed);
  CHECK(calls == 3);
  CHECK(r.step.exit.code == "FAILED");
  CHECK_THAT(r.step.exit.description, Catch::Contains("HTTP 503") &&
                                          Catch::Contains("maintenance until noon") &&
                                          Catch::Contains("after 3 attempts"));
  CHECK(response_of(r).at("status").as_int64() == 503);
}

TEST_CASE("http tasklet: 404 fails at once and the response is committed", "[jobs][http]") {
  http_server s;
  std::atomic<int> calls{0};
  s.server.Get("/missing", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 404;
    res.set_content("{\"error\": \"no such report\"}", "application/json");
  });
  s.start();
  tasklet_run t;
  auto r = t.run(http_tasklet(s.url("/missing")).retries(3).backoff(10ms));
  CHECK(r.step.status == batch_status::failed);
  CHECK(calls == 1);
  CHECK_THAT(r.step.exit.description, Catch::StartsWith("GET " + s.url("/missing") + ": HTTP 404") &&
                                          Catch::Contains("no such report"));
  CHECK(response_of(r).at("status").as_int64() == 404);
  CHECK(response_of(r).at("body").as_string() == "{\"error\": \"no such report\"}");
  CHECK(r.context.at("failure").at("exit_code").as_string() == "FAILED");
}

TEST_CASE("http tasklet: a slow server times out and the attempt is retried", "[jobs][http]") {
  http_server s;
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  s.server.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(10ms);
    res.set_content("late", "text/plain");
  });
  s.start();
  tasklet_run t;
  const auto start = std::chrono::steady_clock::now();
  auto r = t.run(http_tasklet(s.url("/slow")).timeout(300ms).retries(1).backoff(10ms));
  const double took = seconds_since(start);
  release = true;
  CHECK(took < 3);
  CHECK(r.step.status == batch_status::failed);
  CHECK_THAT(r.step.exit.description,
             Catch::Contains("no complete answer within 300 ms") && Catch::Contains("after 2 attempts"));
  CHECK_FALSE(r.context.contains("response"));
  CHECK(calls == 2);
}

TEST_CASE("http tasklet: placeholders in URL - headers and a JSON body - with POST", "[jobs][http]") {
  http_server s;
  std::mutex mu;
  std::string got_body, got_type, got_token, got_path;
  s.server.Post(R"(/reports/(\w+))", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    got_body = req.body;
    got_type = req.get_header_value("Content-Type");
    got_token = req.get_header_value("X-Token");
    got_path = req.matches[1];
    res.status = 201;
    res.set_header("Location", "/reports/" + got_path + "/1");
    res.set_content("created", "text/plain");
  });
  s.start();
  tasklet_run t;
  t.set("base", s.url(""));
  t.set("report", "sales");
  t.set("date", "2024-05-01");
  auto r = t.run(http_tasklet("{base}/reports/{report}")
                     .method("post")
                     .header("X-Token", "t-{report}")
                     .body(R"({"date": "{date}", "filter": {"min": 1}, "empty": {}})"));
  INFO(r.step.exit.description);
  REQUIRE(r.run.status == batch_status::completed);
  std::lock_guard lock(mu);
  CHECK(got_path == "sales");
  CHECK(got_body == R"({"date": "2024-05-01", "filter": {"min": 1}, "empty": {}})");
  CHECK(got_type == "application/json");
  CHECK(got_token == "t-sales");
  CHECK(response_of(r).at("status").as_int64() == 201);
  CHECK(response_of(r).at("headers").at("Location").as_string() == "/reports/sales/1");
  CHECK(r.context.at("request").at("url").as_string() == s.url("/reports/sales"));
}

TEST_CASE("http tasklet: only a prefix of a large body is kept", "[jobs][http]") {
  http_server s;
  s.server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100 * 1024, 'x'), "text/plain");
  });
  s.start();
  tasklet_run t;
  auto r = t.run(http_tasklet(s.url("/big")));
  REQUIRE(r.run.status == batch_status::completed);
  CHECK(response_of(r).at("body").as_string().size() == 64 * 1024);
  CHECK(response_of(r).at("body_bytes").to_number<std::int64_t>() == 100 * 1024);
  CHECK(response_of(r).at("body_truncated").as_bool());
}

TEST_CASE("http tasklet: connection errors are retried then fail", "[jobs][http]") {
  int port = 0;
  {
    http_server closed;  // a port that was just free: nothing listens there now
    closed.start();
    port = closed.port();
  }
  tasklet_run t;
  auto r = t.run(http_tasklet("http://127.0.0.1:" + std::to_string(port) + "/").retries(2).backoff(10ms));
  CHECK(r.step.status == batch_status::failed);
  CHECK(r.context.at("attempts").as_int64() == 3);
  CHECK_THAT(r.step.exit.description, Catch::Contains("could not connect (after 3 attempts)"));
}

TEST_CASE("http tasklet: bad URLs fail with a clear message", "[jobs][http]") {
  tasklet_run t;
  SECTION("another scheme") {
    auto r = t.run(http_tasklet("ftp://example.com/file"));
    CHECK_THAT(r.step.exit.description,
               Catch::Contains("scheme 'ftp' is not supported; use http:// or https://"));
  }
  SECTION("no scheme") {
    auto r = t.run(http_tasklet("example.com/file"));
    CHECK_THAT(r.step.exit.description, Catch::Contains("has no scheme"));
  }
  SECTION("an unknown placeholder") {
    auto r = t.run(http_tasklet("http://{host}/x"));
    CHECK_THAT(r.step.exit.description, Catch::Contains("job parameter 'host'"));
  }
  CHECK_THROWS_AS(http_tasklet("http://x/").method("BREW"), std::invalid_argument);
}

TEST_CASE("http tasklet: a stop cancels a slow request and the step ends STOPPED", "[jobs][http][stop]") {
  http_server s;
  std::atomic<bool> release{false};
  std::atomic<bool> arrived{false};
  s.server.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    arrived = true;
    for (int i = 0; i < 1000 && !release; ++i) std::this_thread::sleep_for(10ms);
    res.set_content("late", "text/plain");
  });
  s.start();
  tasklet_run t;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    (void)wait_until([&] { return arrived.load(); }, 30);
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto r = t.run(http_tasklet(s.url("/slow")).timeout(20s), &stop);
  stopper.join();
  release = true;
  CHECK(seconds_since(start) < 5);
  CHECK(r.run.status == batch_status::stopped);
  CHECK(r.step.status == batch_status::stopped);
}

TEST_CASE("http tasklet: https verifies the server certificate", "[jobs][http][tls]") {
  temp_dir dir;
  const auto cert = (dir / "cert.pem").string();
  const auto key = (dir / "key.pem").string();
  const std::string make_cert =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(make_cert.c_str()) != 0) {
    WARN("no openssl command to make a test certificate; https not tested");
    return;
  }
  httplib::SSLServer server(cert.c_str(), key.c_str());
  REQUIRE(server.is_valid());
  server.Get("/secure", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("sealed", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread th([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(1ms);
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/secure";

  tasklet_run t;
  auto trusted = t.run(http_tasklet(url).ca_cert_file(cert));
  INFO(trusted.step.exit.description);
  CHECK(trusted.run.status == batch_status::completed);
  CHECK(trusted.context.at("response").at("body").as_string() == "sealed");

  tasklet_run u;
  auto untrusted = u.run(http_tasklet(url).retries(2).backoff(10ms));
  CHECK(untrusted.run.status == batch_status::failed);
  CHECK(untrusted.context.at("attempts").as_int64() == 1);  // a certificate problem is not retried
  CHECK_THAT(untrusted.step.exit.description, Catch::Contains("certificate could not be verified"));

  server.stop();
  th.join();
}
