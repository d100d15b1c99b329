#pragma once
// Private: the remote CLI's REST client. Errors carry the node's message ({"error", "message"})
// or say that the node cannot be reached.

#include <kiln/error.hpp>

#include <boost/json/value.hpp>

#include <memory>
#include <string>

namespace httplib {
class Client;
}

namespace kiln::cli {

class rest_client {
 public:
  rest_client(std::string server, std::string token);
  ~rest_client();
  expected<boost::json::value> get(const std::string& path);
  expected<boost::json::value> post(const std::string& path, const boost::json::value& body = {});
  expected<boost::json::value> put(const std::string& path, const boost::json::value& body);
  expected<boost::json::value> del(const std::string& path);

 private:
  expected<boost::json::value> handle(const char* method, const std::string& path, const void* result);
  std::string server_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace kiln::cli
