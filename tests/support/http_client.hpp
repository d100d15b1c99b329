#pragma once
// HTTP calls for process tests against `kiln node` on 127.0.0.1. Each call opens its own
// connection, so a test can interleave calls with killing and restarting the node. The first call
// sets SIGPIPE to be ignored in the test process.

#include <boost/json/value.hpp>

#include <string>
#include <utility>
#include <vector>

namespace kiln::test {

using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  int status = 0;  // 0: no answer (refused, timed out)
  std::string body;
  http_headers headers;
  // The first header of that name (case-insensitive); empty when absent.
  [[nodiscard]] std::string header(const std::string& name) const;
  // The body parsed as JSON; throws when it is not JSON.
  [[nodiscard]] boost::json::value json() const;
};

class http_client {
 public:
  explicit http_client(int port) : port_(port) {}
  [[nodiscard]] int port() const { return port_; }
  http_response get(const std::string& path, const http_headers& headers = {}) const;
  http_response post(const std::string& path, const std::string& body,
                     const http_headers& headers = {}) const;
  http_response put(const std::string& path, const std::string& body, const http_headers& headers = {}) const;
  http_response del(const std::string& path, const http_headers& headers = {}) const;
  // The body goes out with Transfer-Encoding: chunked (no Content-Length), in 256-byte chunks.
  http_response post_chunked(const std::string& path, const std::string& body,
                             const http_headers& headers = {}) const;

 private:
  int port_;
};

// Sends `request` as is over a fresh connection and returns everything the server writes until it
// closes the connection or `timeout_s` passes. For requests an HTTP library will not form.
std::string raw_http(int port, const std::string& request, double timeout_s);

http_headers bearer(const std::string& token);

}  // namespace kiln::test
