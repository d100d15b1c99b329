#pragma once
// A real HTTP server on 127.0.0.1 and an ephemeral port, on its own thread, for tests. Register
// handlers on `server` before start(); stops and joins on destruction.

#include <httplib.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace kiln::test {

class http_server {
 public:
  httplib::Server server;

  http_server() = default;
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;
  ~http_server() { stop(); }

  void start() {
    port_ = server.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind a test HTTP server");
    thread_ = std::thread([this] { server.listen_after_bind(); });
    // Server::stop() does nothing to a server that is not yet listening.
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void stop() {
    server.stop();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int port_ = 0;
  std::thread thread_;
};

}  // namespace kiln::test
