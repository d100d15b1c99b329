#include <kiln/jobs/http_tasklet.hpp>

#include "tasklet_support.hpp"

#include <boost/json/object.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <future>
#include <stdexcept>
#include <thread>

namespace kiln {

namespace {

using clock = std::chrono::steady_clock;

constexpr auto poll_interval = std::chrono::milliseconds(20);
constexpr std::size_t error_body_bytes = 300;

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// "scheme://host[:port]" for httplib::Client and the request target ("/path?query").
struct url_parts {
  std::string origin;
  std::string target;
  bool https = false;
};

url_parts split_url(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos) {
    throw std::invalid_argument("URL '" + url +
                                "' has no scheme; write http://host/path or https://host/path");
  }
  url_parts p;
  const std::string scheme = upper(url.substr(0, sep));
  if (scheme == "HTTPS") {
    p.https = true;
  } else if (scheme != "HTTP") {
    throw std::invalid_argument("URL '" + url + "': scheme '" + url.substr(0, sep) +
                                "' is not supported; use http:// or https://");
  }
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (p.https)
    throw std::invalid_argument("URL '" + url + "': this build of Kiln has no TLS support; use http://");
#endif
  const std::string rest = url.substr(sep + 3);
  const auto end = rest.find_first_of("/?#");
  const std::string authority = rest.substr(0, end);
  if (authority.empty()) throw std::invalid_argument("URL '" + url + "' has no host");
  if (authority.find('@') != std::string::npos) {
    throw std::invalid_argument("URL '" + url +
                                "': credentials in the URL are not supported; send an Authorization header");
  }
  p.origin = (p.https ? "https://" : "http://") + authority;
  std::string target = end == std::string::npos ? std::string() : rest.substr(end);
  if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target.front() != '/') target = "/" + target;
  p.target = std::move(target);
  return p;
}

bool is_transient(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
    case httplib::Error::Read:
    case httplib::Error::Write:
    case httplib::Error::SSLConnection:
    case httplib::Error::Unknown: return true;
    default: return false;
  }
}

std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Success: return "no error";
    case httplib::Error::Connection: return "could not connect";
    case httplib::Error::BindIPAddress: return "could not bind the local address";
    case httplib::Error::Read: return "the connection failed while reading the answer";
    case httplib::Error::Write: return "the connection failed while sending the request";
    case httplib::Error::ExceedRedirectCount: return "too many redirects";
    case httplib::Error::Canceled: return "the request was cancelled";
    case httplib::Error::SSLConnection: return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "could not load the CA certificates";
    case httplib::Error::SSLServerVerification: return "the server's TLS certificate could not be verified";
    case httplib::Error::UnsupportedMultipartBoundaryChars: return "unsupported multipart boundary";
    case httplib::Error::Compression: return "could not decompress the answer";
    case httplib::Error::ConnectionTimeout: return "connecting timed out";
    case httplib::Error::Unknown: break;
  }
  return "unknown error";
}

struct request_spec {
  std::string method;
  std::string url;
  url_parts parts;
  httplib::Headers headers;
  std::string body;
  std::string content_type;
  std::string ca_cert_file;
  std::chrono::milliseconds timeout{};
  std::size_t body_limit = 0;
};

struct attempt_result {
  bool answered = false;
  int status = 0;
  std::string reason;
  httplib::Headers headers;
  std::string body;  // at most body_limit bytes
  std::uint64_t body_bytes = 0;
  httplib::Error error = httplib::Error::Success;
  bool timed_out = false;
  bool stopped = false;
};

// One request. It runs on its own thread so that this one can cancel it at once on a stop or
// when the attempt's time is up (httplib's own timeouts apply per connect, read and write).
attempt_result attempt(const request_spec& spec, const step_context& ctx) {
  httplib::Client cli(spec.parts.origin);
  if (!cli.is_valid()) throw std::invalid_argument("URL '" + spec.url + "': not a valid host and port");
  // httplib's own timeouts are a backstop; the attempt's deadline below ends it first.
  const auto backstop = spec.timeout + std::chrono::seconds(1);
  cli.set_connection_timeout(backstop);
  cli.set_read_timeout(backstop);
  cli.set_write_timeout(backstop);
  if (!spec.ca_cert_file.empty()) cli.set_ca_cert_path(spec.ca_cert_file);

  attempt_result r;
  std::atomic<bool> cancel{false};
  httplib::Request req;
  req.method = spec.method;
  req.path = spec.parts.target;
  req.headers = spec.headers;
  if (!spec.content_type.empty()) {
    req.body = spec.body;
    req.set_header("Content-Type", spec.content_type);
  }
  req.content_receiver = [&r, &cancel, limit = spec.body_limit](const char* data, std::size_t n,
                                                                std::uint64_t, std::uint64_t) {
    if (cancel) return false;
    r.body_bytes += n;
    if (r.body.size() < limit) r.body.append(data, std::min(n, limit - r.body.size()));
    return true;
  };

  auto done = std::async(std::launch::async, [&cli, &req] { return cli.send(req); });
  const auto deadline = clock::now() + spec.timeout;
  while (done.wait_for(poll_interval) != std::future_status::ready) {
    if (!r.stopped && !r.timed_out) {
      if (ctx.stop_requested()) {
        r.stopped = true;
      } else if (clock::now() >= deadline) {
        r.timed_out = true;
      }
    }
    if (r.stopped || r.timed_out) {
      cancel = true;
      cli.stop();  // shuts the socket down; repeated until the request gives up
    }
  }
  auto res = done.get();
  r.error = res.error();
  if (res) {
    r.answered = true;
    r.status = res->status;
    r.reason = res->reason;
    r.headers = res->headers;
  }
  return r;
}

// The start of a body for an error message: one line, at most error_body_bytes.
std::string body_start(const std::string& body) {
  if (body.empty()) return {};
  std::string s = detail::to_valid_utf8(body.substr(0, error_body_bytes));
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return ": " + s + (body.size() > error_body_bytes ? "..." : "");
}

}  // namespace

http_tasklet::http_tasklet(std::string url) : url_(std::move(url)) {
  if (url_.empty()) throw std::invalid_argument("http_tasklet: the URL is empty");
}

http_tasklet& http_tasklet::method(std::string m) {
  m = upper(std::move(m));
  static const std::vector<std::string> known{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
  if (std::find(known.begin(), known.end(), m) == known.end()) {
    throw std::invalid_argument("http_tasklet: unsupported method '" + m + "'");
  }
  method_ = std::move(m);
  return *this;
}

http_tasklet& http_tasklet::header(std::string name, std::string value) {
  if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos) {
    throw std::invalid_argument("http_tasklet: invalid header name '" + name + "'");
  }
  headers_.emplace_back(std::move(name), std::move(value));
  return *this;
}

http_tasklet& http_tasklet::body(std::string text, std::string content_type) {
  body_ = std::move(text);
  content_type_ = content_type.empty() ? "application/octet-stream" : std::move(content_type);
  return *this;
}

http_tasklet& http_tasklet::timeout(std::chrono::milliseconds t) {
  timeout_ = std::max(t, std::chrono::milliseconds(1));
  return *this;
}

http_tasklet& http_tasklet::retries(int n) {
  retries_ = std::max(n, 0);
  return *this;
}

http_tasklet& http_tasklet::backoff(std::chrono::milliseconds first, double factor,
                                    std::chrono::milliseconds max) {
  backoff_ = std::max(first, std::chrono::milliseconds(0));
  backoff_factor_ = std::max(factor, 1.0);
  max_backoff_ = std::max(max, backoff_);
  return *this;
}

http_tasklet& http_tasklet::save_headers(std::vector<std::string> names) {
  save_headers_ = std::move(names);
  return *this;
}

http_tasklet& http_tasklet::body_limit(std::size_t bytes) {
  body_limit_ = bytes;
  return *this;
}

http_tasklet& http_tasklet::ca_cert_file(std::string path) {
  ca_cert_file_ = std::move(path);
  return *this;
}

repeat_status http_tasklet::operator()(step_context& ctx) const {
  detail::raise_recorded_failure(ctx);
  const auto& params = ctx.parameters();

  request_spec spec;
  spec.method = method_;
  spec.url = detail::resolve_placeholders(params, url_, "the URL");
  spec.parts = split_url(spec.url);
  for (const auto& [name, value] : headers_) {
    spec.headers.emplace(name, detail::resolve_placeholders(params, value, "header " + name));
  }
  if (!content_type_.empty()) {
    spec.body = detail::resolve_placeholders(params, body_, "the body");
    spec.content_type = content_type_;
  }
  spec.ca_cert_file = ca_cert_file_.empty()
                          ? std::string()
                          : detail::resolve_placeholders(params, ca_cert_file_, "the CA file");
  spec.timeout = timeout_;
  spec.body_limit = body_limit_;

  auto& c = ctx.context();
  for (const char* key : {"request", "attempts", "response"}) c.erase(key);
  c["request"] = boost::json::object{{"method", spec.method}, {"url", detail::to_valid_utf8(spec.url)}};
  const std::string label = "step '" + ctx.step_name() + "'";
  const std::string what = spec.method + " " + spec.url;

  auto backoff = backoff_;
  for (int attempt_no = 1;; ++attempt_no) {
    spdlog::info("{}: {}{}", label, what,
                 attempt_no > 1 ? " (attempt " + std::to_string(attempt_no) + ")" : "");
    const auto started = clock::now();
    auto r = attempt(spec, ctx);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    c["attempts"] = attempt_no;
    if (r.answered) {
      boost::json::object headers;
      for (const auto& name : save_headers_) {
        if (r.headers.find(name) != r.headers.end())
          headers[name] = detail::to_valid_utf8(r.headers.find(name)->second);
      }
      c["response"] = boost::json::object{{"status", r.status},
                                          {"headers", std::move(headers)},
                                          {"body", detail::to_valid_utf8(r.body)},
                                          {"body_bytes", r.body_bytes},
                                          {"body_truncated", r.body_bytes > r.body.size()}};
    } else {
      c.erase("response");
    }
    if (r.stopped) {
      spdlog::info("{}: {} cancelled by a stop request", label, what);
      return repeat_status::continuable;  // committed; the step then sees the stop and ends STOPPED
    }

    std::string problem;
    bool retry = false;
    if (r.answered) {
      spdlog::info("{}: {} answered {} {} ({} bytes) in {} ms", label, what, r.status, r.reason, r.body_bytes,
                   took.count());
      if (r.status >= 200 && r.status < 300) return repeat_status::finished;
      problem =
          "HTTP " + std::to_string(r.status) + (r.reason.empty() ? "" : " " + r.reason) + body_start(r.body);
      retry = r.status >= 500 || r.status == 429;
    } else {
      problem = r.timed_out ? "no complete answer within " + detail::format_duration(spec.timeout)
                            : describe(r.error);
      retry = r.timed_out || is_transient(r.error);
    }
    if (!retry || attempt_no > retries_) {
      const std::string attempts =
          attempt_no > 1 ? " (after " + std::to_string(attempt_no) + " attempts)" : "";
      detail::record_failure(ctx, "FAILED", what + ": " + problem + attempts);
      return repeat_status::continuable;
    }
    spdlog::warn("{}: {}: {}; retrying in {}", label, what, problem, detail::format_duration(backoff));
    const auto wake = clock::now() + backoff;
    while (clock::now() < wake) {
      if (ctx.stop_requested()) {
        spdlog::info("{}: {}: retries cancelled by a stop request", label, what);
        return repeat_status::continuable;
      }
      std::this_thread::sleep_for(std::min<clock::duration>(poll_interval, wake - clock::now()));
    }
    backoff = std::min(max_backoff_, std::chrono::milliseconds(static_cast<std::int64_t>(
                                         static_cast<double>(backoff.count()) * backoff_factor_)));
  }
}

}  // namespace kiln
