#pragma once
// A tasklet that makes one HTTP request, retrying while the server cannot be reached or answers
// 5xx or 429:
//
//   tasklet_step("notify", http_tasklet("{callback_url}")
//                              .method("POST")
//                              .header("Authorization", "Bearer {token}")
//                              .body(R"({"job": "import", "date": "{date}"})"))
//
// URL, header values and body may hold `{name}` job-parameter placeholders; a brace that does not
// enclose a parameter-like name (as in a JSON body) is kept as it is. http:// and https:// URLs
// are accepted; https verifies the server against the system's CAs (or ca_cert_file()).
//
// Outcome: a 2xx answer completes the step. Any other answer, or no answer after the last
// attempt, fails it (exit status FAILED) with the status and the start of the body in the error.
// The step context keeps "request" (method, URL), "attempts", and "response": status, the
// selected headers, the first body_limit bytes of the body ("body", as UTF-8), "body_bytes" and
// "body_truncated". A failing call's context is committed before the step fails. A stop request
// cancels the request or the wait before a retry, and the step ends STOPPED.
//
// Timeout: each attempt, from connecting to the end of the body, gets `timeout`; an attempt that
// runs out of time counts as a connection error and is retried. Retries wait `backoff`, doubled
// (by `backoff_factor`) after each, up to `max_backoff`.
//
// Restart: the request has no checkpoint; a restarted step sends it again, so it should be safe
// to repeat (or the server should deduplicate it).
//
// Thread-safety: immutable once the job is built; every call uses its own connection.

#include <kiln/step.hpp>
#include <kiln/step_context.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

class http_tasklet {
 public:
  explicit http_tasklet(std::string url);

  // GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (any case). Default: GET.
  http_tasklet& method(std::string m);
  // Adds a request header; its value may hold placeholders.
  http_tasklet& header(std::string name, std::string value);
  // The request body and its Content-Type. Default: no body.
  http_tasklet& body(std::string text, std::string content_type = "application/json");
  // Time for one attempt. Default: 30 s.
  http_tasklet& timeout(std::chrono::milliseconds t);
  // Attempts after the first one. Default: 3.
  http_tasklet& retries(int n);
  // Wait before the first retry, and its growth. Default: 500 ms, doubled, at most 30 s.
  http_tasklet& backoff(std::chrono::milliseconds first, double factor = 2.0,
                        std::chrono::milliseconds max = std::chrono::seconds(30));
  // Response headers kept in the context. Default: Content-Type, Content-Length, Location.
  http_tasklet& save_headers(std::vector<std::string> names);
  // Bytes of the response body kept in the context. Default: 64 KiB.
  http_tasklet& body_limit(std::size_t bytes);
  // https only: trust the CA certificates in this PEM file instead of the system's.
  http_tasklet& ca_cert_file(std::string path);

  // Makes the request (with its retries); see the header comment for the outcome.
  repeat_status operator()(step_context& ctx) const;

 private:
  std::string url_;
  std::string method_ = "GET";
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  std::string content_type_;
  std::chrono::milliseconds timeout_{30000};
  int retries_ = 3;
  std::chrono::milliseconds backoff_{500};
  double backoff_factor_ = 2.0;
  std::chrono::milliseconds max_backoff_{30000};
  std::vector<std::string> save_headers_{"Content-Type", "Content-Length", "Location"};
  std::size_t body_limit_ = 64 * 1024;
  std::string ca_cert_file_;
};

}  // namespace kiln
