#include "http_replies.hpp"

#include <fmt/format.h>

namespace kiln::node_detail {

namespace json = boost::json;

int http_status_for(errc code) {
  switch (code) {
    case errc::bad_parameter:
    case errc::bad_usage:
    case errc::bad_command:
    case errc::parse: return 400;
    case errc::unknown_job:
    case errc::not_found: return 404;
    case errc::already_running:
    case errc::instance_complete:
    case errc::not_restartable:
    case errc::start_limit_exceeded:
    case errc::invalid_transition: return 409;
    case errc::data_dir_locked:
    case errc::stopped: return 503;
    default: return 500;
  }
}

void send_json(httplib::Response& res, int status, const json::value& body) {
  res.status = status;
  res.set_content(json::serialize(body), "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view code, const std::string& message) {
  send_json(res, status, json::object{{"error", code}, {"message", message}});
}

void send_error(httplib::Response& res, const error& e) {
  send_error(res, http_status_for(e.code()), to_string(e.code()), e.message());
}

std::optional<std::string> read_body(const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader, std::size_t max_bytes) {
  const bool chunked = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
  if (!chunked && !req.has_header("Content-Length")) return std::string();
  std::string body;
  bool too_large = false;
  const bool read = reader([&](const char* data, std::size_t n) {
    // Past the limit the rest is read and dropped (as cpp-httplib does with a Content-Length body
    // that is too large): a client still sending would otherwise get a reset instead of the 413.
    if (too_large || body.size() + n > max_bytes) {
      too_large = true;
      body.clear();
      return true;
    }
    body.append(data, n);
    return true;
  });
  if (too_large || res.status == 413) {
    send_error(res, 413, "payload_too_large",
               fmt::format("the request body is larger than {} bytes (max_body_bytes)", max_bytes));
    return std::nullopt;
  }
  if (!read) {
    send_error(res, 400, "bad_usage", "the request body could not be read");
    return std::nullopt;
  }
  return body;
}

}  // namespace kiln::node_detail
