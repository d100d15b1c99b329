#pragma once
// The node's REST replies, shared by every route file: the mapping of Kiln error codes to HTTP
// statuses, JSON bodies, `{"error": CODE, "message": ...}` errors, and request-body reading.

#include <kiln/error.hpp>

#include <boost/json.hpp>
#include <httplib.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::node_detail {

int http_status_for(errc code);

void send_json(httplib::Response& res, int status, const boost::json::value& body);
void send_error(httplib::Response& res, int status, std::string_view code, const std::string& message);
void send_error(httplib::Response& res, const error& e);

// cpp-httplib 0.11 reads a POST body that has neither Content-Length nor chunked encoding until the
// client closes the connection (`curl -X POST url` stalled 5 s, then got 400), and applies
// max_body_bytes only to bodies with a Content-Length. Routes with a body read it here: a body
// without either header is empty, and the limit holds for chunked bodies too. On failure the
// reply (413 or 400) is already set and nullopt comes back.
std::optional<std::string> read_body(const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader, std::size_t max_bytes);

}  // namespace kiln::node_detail
