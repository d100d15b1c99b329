#pragma once
// Private: the REST gateway (cpp-httplib). Translates HTTP requests into job_operator calls and
// their results into JSON; serves the dashboard and /metrics. Handlers run on the server's thread
// pool, never on the actor system's workers.

#include <kiln/error.hpp>
#include <kiln/node.hpp>

#include <memory>
#include <thread>

namespace httplib {
class Server;
}

namespace kiln::node_detail {

class node_impl;

class gateway {
 public:
  gateway(node_impl& node, const node_options& options);
  ~gateway();
  // Binds the listening socket (connections wait in the backlog); done before the node touches its
  // data dir, so a port in use changes nothing.
  expected<void> bind();
  // Starts serving requests on the bound socket.
  void serve();
  void stop();
  [[nodiscard]] int port() const { return port_; }

 private:
  void routes();
  node_impl& node_;
  node_options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port"; errors name the problem.
expected<std::pair<std::string, int>> parse_listen(const std::string& listen);
bool is_loopback(const std::string& host);

}  // namespace kiln::node_detail
