#include "rest_client.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <httplib.h>

namespace kiln::cli {

namespace json = boost::json;

rest_client::rest_client(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)), client_(std::make_unique<httplib::Client>(server_)) {
  client_->set_connection_timeout(std::chrono::seconds(5));
  client_->set_read_timeout(std::chrono::seconds(60));
  client_->set_keep_alive(true);
  client_->set_tcp_nodelay(true);
  if (!token_.empty()) client_->set_bearer_token_auth(token_);
}

rest_client::~rest_client() = default;

expected<json::value> rest_client::handle(const char* method, const std::string& path, const void* result) {
  const auto& r = *static_cast<const httplib::Result*>(result);
  if (!r) {
    return fail(errc::bad_usage, fmt::format("cannot reach {} ({}); is `kiln node` running there? (--server or "
                                             "KILN_SERVER)",
                                             server_, httplib::to_string(r.error())));
  }
  json::error_code ec;
  auto body = json::parse(r->body, ec);
  if (r->status >= 200 && r->status < 300) {
    if (ec) return fail(errc::storage, fmt::format("{} {}: the node sent a body that is not JSON", method, path));
    return body;
  }
  std::string code = "http_" + std::to_string(r->status);
  std::string message = r->body;
  if (!ec && body.is_object()) {
    if (auto* c = body.as_object().if_contains("error"); c && c->is_string()) code = c->as_string();
    if (auto* m = body.as_object().if_contains("message"); m && m->is_string()) message = m->as_string();
  }
  errc kind = errc::bad_usage;
  if (code == "not_found" || code == "unknown_job") kind = errc::not_found;
  return fail(kind, fmt::format("{} (HTTP {}, {})", message, r->status, code));
}

expected<json::value> rest_client::get(const std::string& path) {
  auto r = client_->Get(path);
  return handle("GET", path, &r);
}

expected<json::value> rest_client::post(const std::string& path, const json::value& body) {
  auto r = client_->Post(path, body.is_null() ? std::string("{}") : json::serialize(body), "application/json");
  return handle("POST", path, &r);
}

expected<json::value> rest_client::put(const std::string& path, const json::value& body) {
  auto r = client_->Put(path, json::serialize(body), "application/json");
  return handle("PUT", path, &r);
}

expected<json::value> rest_client::del(const std::string& path) {
  auto r = client_->Delete(path);
  return handle("DELETE", path, &r);
}

}  // namespace kiln::cli
