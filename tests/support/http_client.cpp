#include "support/http_client.hpp"

#include <boost/json.hpp>
#include <httplib.h>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kiln::test {

namespace {

httplib::Headers to_httplib(const http_headers& headers) {
  httplib::Headers out;
  for (const auto& [k, v] : headers) out.emplace(k, v);
  return out;
}

http_response from(const httplib::Result& r) {
  http_response out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers.emplace_back(k, v);
  return out;
}

std::unique_ptr<httplib::Client> client(int port) {
  // cpp-httplib writes without MSG_NOSIGNAL: a node that closes or dies mid-request would kill the
  // test binary with SIGPIPE, silently. Children start with default signal handling again.
  static const bool ignoring = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)ignoring;
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(std::chrono::seconds(5));
  c->set_read_timeout(std::chrono::seconds(20));
  c->set_write_timeout(std::chrono::seconds(20));
  return c;
}

}  // namespace

std::string http_response::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (::strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return {};
}

boost::json::value http_response::json() const {
  return boost::json::parse(body);
}

http_response http_client::get(const std::string& path, const http_headers& headers) const {
  return from(client(port_)->Get(path, to_httplib(headers)));
}

http_response http_client::post(const std::string& path, const std::string& body,
                                const http_headers& headers) const {
  return from(client(port_)->Post(path, to_httplib(headers), body, "application/json"));
}

http_response http_client::put(const std::string& path, const std::string& body, const http_headers& headers) const {
  return from(client(port_)->Put(path, to_httplib(headers), body, "application/json"));
}

http_response http_client::del(const std::string& path, const http_headers& headers) const {
  return from(client(port_)->Delete(path, to_httplib(headers)));
}

http_response http_client::post_chunked(const std::string& path, const std::string& body,
                                        const http_headers& headers) const {
  auto provider = [&body](std::size_t offset, httplib::DataSink& sink) {
    if (offset < body.size()) {
      sink.write(body.data() + offset, std::min<std::size_t>(256, body.size() - offset));
    } else {
      sink.done();
    }
    return true;
  };
  return from(client(port_)->Post(path, to_httplib(headers), provider, "application/json"));
}

std::string raw_http(int port, const std::string& request, double timeout_s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

http_headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

}  // namespace kiln::test
