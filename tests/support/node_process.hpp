#pragma once
// A real `kiln node` child process for process-level tests, and the polling and JSON helpers the
// tests that drive it share. Include only from test_process (KILN_BINARY names the kiln binary).

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kiln::test {

// Polls `pred` every 20 ms (each poll is usually an HTTP call) until it holds or `timeout_s` passes.
template <class F>
bool eventually(F pred, double timeout_s = 20) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// A `kiln node` child process, started in `dir` with its data in `dir`/data; with the default
// listen address it picks a free port, read back from its "listening on" log line.
class node_proc {
 public:
  explicit node_proc(const temp_dir& dir, const std::vector<std::string>& extra = {},
                     const std::string& listen = "127.0.0.1:0")
      : proc_(KILN_BINARY, args(listen, extra), dir.path()) {
    const std::string ready = "listening on http://";
    auto announced = [&] {
      const auto out = proc_.out();
      const auto at = out.find(ready);
      return at != std::string::npos && out.find('\n', at) != std::string::npos;
    };
    const bool up = eventually([&] { return announced() || !proc_.running(); }, 30);
    const auto out = proc_.out();
    INFO("node stderr: " << proc_.err());
    REQUIRE(up);
    const auto at = out.find(ready);
    REQUIRE(at != std::string::npos);
    const auto line = out.substr(at, out.find('\n', at) - at);
    port_ = std::stoi(line.substr(line.rfind(':') + 1));
    REQUIRE(port_ > 0);
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] http_client http() const { return http_client(port_); }
  child_process& process() { return proc_; }

 private:
  static std::vector<std::string> args(const std::string& listen, const std::vector<std::string>& extra) {
    std::vector<std::string> a{"node", "--listen", listen, "--data-dir", "data"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  child_process proc_;
  int port_ = 0;
};

// A string member of a JSON object, or "" when it is absent or not a string.
inline std::string str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// An integer member of a JSON object, or -1 when it is absent or not an integer.
inline std::int64_t num(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : -1;
}

}  // namespace kiln::test
