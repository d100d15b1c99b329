#include "gateway.hpp"

#include "dashboard.hpp"
#include "http_replies.hpp"
#include "node_impl.hpp"
#include "schedule_routes.hpp"

#include <kiln/views.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <charconv>
#include <optional>
#include <regex>
#include <set>

namespace kiln::node_detail {

namespace json = boost::json;

namespace {



// Tokens are compared without an early exit, so timing does not reveal a matching prefix.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0u;
    const auto y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0u;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::int64_t path_id(const httplib::Request& req) {
  std::int64_t id = 0;
  const auto& m = req.matches[1];
  std::from_chars(&*m.first, &*m.first + m.length(), id);
  return id;
}

expected<std::optional<std::int64_t>> int_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<std::int64_t>{};
  const auto text = req.get_param_value(name);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return fail(errc::bad_usage, fmt::format("query parameter '{}' must be an integer, got '{}'", name, text));
  }
  return std::optional<std::int64_t>{v};
}

// ISO-8601 UTC ("2026-11-22T10:00:00Z") or milliseconds since the epoch.
expected<std::optional<std::int64_t>> time_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<std::int64_t>{};
  const auto text = req.get_param_value(name);
  std::int64_t ms = 0;
  if (auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
      ec == std::errc() && p == text.data() + text.size()) {
    return std::optional<std::int64_t>{ms};
  }
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || (*end != 'Z' && *end != '\0') || (*end == 'Z' && end[1] != '\0')) {
    return fail(errc::bad_usage,
                fmt::format("query parameter '{}' must be a time like 2026-11-22T10:00:00Z or milliseconds since "
                            "the epoch, got '{}'",
                            name, text));
  }
  return std::optional<std::int64_t>{static_cast<std::int64_t>(timegm(&tm)) * 1000};
}

// Live progress only while the record says it runs: its runner leaves the running table a moment
// after the end is recorded.
json::object execution_json(const node_impl& node, const job_execution_record& e) {
  json::object o = to_json(e).as_object();
  if (!is_running(e.status)) return o;
  if (auto p = node.progress(e.id)) {
    o["progress"] = json::object{{"step", p->step},         {"read", p->read},
                                 {"written", p->written},   {"skipped", p->skipped},
                                 {"commits", p->commits},   {"items_per_second", p->items_per_second},
                                 {"fraction", p->fraction}};
  }
  return o;
}


// The body of POST /api/v1/executions.
struct submission {
  std::string job;
  std::vector<std::string> parameters;
  submit_options options;
};

expected<submission> parse_submission(const std::string& body) {
  if (body.empty()) {
    return fail(errc::bad_usage, "the body is empty; send a JSON object like {\"job\": \"name\"}");
  }
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return fail(errc::bad_usage, "the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return fail(errc::bad_usage, "the body must be a JSON object like {\"job\": \"name\"}");
  submission s;
  for (const auto& [key, value] : v.as_object()) {
    if (key == "job") {
      if (!value.is_string() || value.as_string().empty()) return fail(errc::bad_usage, "'job' must be a job name");
      s.job = value.as_string();
    } else if (key == "parameters") {
      if (value.is_object()) {
        for (const auto& [name, pv] : value.as_object()) {
          std::string text;
          if (pv.is_string()) {
            text = pv.as_string();
          } else if (pv.is_double()) {
            text = fmt::format("{}", pv.as_double());  // shortest form: 1.5, not serialize's 1.5E0
          } else if (pv.is_int64() || pv.is_uint64() || pv.is_bool()) {
            text = json::serialize(pv);
          } else {
            return fail(errc::bad_parameter,
                        fmt::format("parameter '{}': the value must be a string, number or boolean", std::string(name)));
          }
          s.parameters.push_back(std::string(name) + "=" + text);
        }
      } else if (value.is_array()) {
        for (const auto& pv : value.as_array()) {
          if (!pv.is_string()) return fail(errc::bad_parameter, "'parameters' as a list must hold \"name=value\" strings");
          s.parameters.emplace_back(pv.as_string());
        }
      } else {
        return fail(errc::bad_parameter,
                    "'parameters' must be an object ({\"input\": \"a.csv\"}) or a list ([\"input=a.csv\"])");
      }
    } else if (key == "priority") {
      if (!value.is_int64()) return fail(errc::bad_usage, "'priority' must be an integer (higher runs first)");
      s.options.priority = value.as_int64();
    } else if (key == "queue") {
      static const std::regex name_re("[A-Za-z0-9_.-]{1,64}");
      if (!value.is_string() || !std::regex_match(std::string(value.as_string()), name_re)) {
        return fail(errc::bad_usage, "'queue' must be 1-64 letters, digits, '_', '.' or '-'");
      }
      s.options.queue = value.as_string();
    } else {
      return fail(errc::bad_usage,
                  fmt::format("unknown field '{}'; a submission has job, parameters, priority and queue",
                              std::string(key)));
    }
  }
  if (s.job.empty()) return fail(errc::bad_usage, "missing 'job': the name of the job to run");
  return s;
}

}  // namespace

expected<std::pair<std::string, int>> parse_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return fail(errc::bad_usage, fmt::format("listen address '{}' must be host:port, e.g. 127.0.0.1:8080", listen));
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // an IPv6 address: [::1]:8080
  } else if (host.find_first_of("[]:") != std::string::npos) {
    return fail(errc::bad_usage, fmt::format("listen address '{}': write an IPv6 address in brackets, e.g. [::1]:8080 "
                                             "or [::]:8080",
                                             listen));
  }
  int port = -1;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return fail(errc::bad_usage, fmt::format("listen address '{}': the port must be 0-65535", listen));
  }
  return std::pair{host, port};
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

gateway::gateway(node_impl& node, const node_options& options)
    : node_(node), options_(options), server_(std::make_unique<httplib::Server>()) {}

gateway::~gateway() { stop(); }

expected<void> gateway::bind() {
  auto addr = parse_listen(options_.listen);
  if (!addr) return std::unexpected(addr.error());
  const int threads = options_.http_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  server_->set_payload_max_length(options_.max_body_bytes);
  // Responses go out as separate writes (headers, body): without NODELAY, Nagle's algorithm and
  // the client's delayed ACK add ~40 ms to every request.
  server_->set_tcp_nodelay(true);
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second node bind the same port and take
  // a share of its connections. SO_REUSEADDR alone still allows a quick restart on the port.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  routes();
  if (addr->second == 0) {
    port_ = server_->bind_to_any_port(addr->first);
    if (port_ < 0) return fail(errc::bad_usage, fmt::format("cannot listen on {}", options_.listen));
  } else {
    if (!server_->bind_to_port(addr->first, addr->second)) {
      return fail(errc::bad_usage, fmt::format("cannot listen on {}: the address is in use or not local; pick another "
                                               "with --listen",
                                               options_.listen));
    }
    port_ = addr->second;
  }
  return {};
}

void gateway::serve() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void gateway::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

void gateway::routes() {
  auto& s = *server_;
  const bool loopback = is_loopback(parse_listen(options_.listen).value().first);
  const std::string token = options_.token;

  // Authentication: a bearer token on every mutating call, and on every call off loopback.
  // The probes stay open so that an orchestrator can use them without the token, and so do the
  // dashboard's static files: they hold no data, and a browser cannot send a token to load a page.
  s.set_pre_routing_handler([token, loopback](const httplib::Request& req, httplib::Response& res) {
    using handled = httplib::Server::HandlerResponse;
    if (token.empty() || req.path == "/healthz" || req.path == "/readyz") return handled::Unhandled;
    const bool mutating = req.method != "GET" && req.method != "HEAD";
    if (!mutating && (loopback || dashboard_asset(req.path))) return handled::Unhandled;
    const auto header = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() > scheme.size() && std::string_view(header).substr(0, scheme.size()) == scheme &&
        constant_time_equal(std::string_view(header).substr(scheme.size()), token)) {
      return handled::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, "unauthorized",
               header.empty() ? "this call needs 'Authorization: Bearer <token>' (the node's token)"
                              : "the bearer token is wrong");
    return handled::Handled;
  });
  s.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      send_error(res, 413, "payload_too_large",
                 fmt::format("the request body is larger than {} bytes (max_body_bytes)", options_.max_body_bytes));
    } else if (res.status == 404) {
      send_error(res, 404, "not_found", "no such endpoint; see docs/rest-api.md");
    } else {
      send_error(res, res.status, "http_error", fmt::format("HTTP {}", res.status));
    }
  });
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("REST {} {} failed: {}", req.method, req.path, what);
    send_error(res, 500, "internal", what);
  });

  // The dashboard runs only its own script and talks only to this node.
  s.Get(R"(/|/[a-z]+\.(js|css))", [](const httplib::Request& req, httplib::Response& res) {
    const auto* asset = dashboard_asset(req.path);
    if (!asset) return send_error(res, 404, "not_found", "no such endpoint; see docs/rest-api.md");
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(asset->body), std::string(asset->content_type));
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, json::object{{"status", "ok"}});
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = node_.status().accepting;
    send_json(res, ready ? 200 : 503, json::object{{"ready", ready}});
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(node_.metrics_text(), "text/plain; version=0.0.4");
  });

  s.Get("/api/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    const auto st = node_.status();
    json::array queues(st.queues.begin(), st.queues.end());
    send_json(res, 200,
              json::object{{"node", st.node},         {"version", st.version},     {"started_at", st.started_at},
                           {"uptime_ms", st.uptime_ms}, {"running", st.running},   {"queued", st.queued},
                           {"capacity", st.capacity}, {"queues", std::move(queues)}, {"accepting", st.accepting}});
  });
  s.Get("/api/v1/jobs", [this](const httplib::Request&, httplib::Response& res) {
    json::array out;
    for (const auto& [_, j] : node_.jobs().jobs()) out.push_back(job_view(j));
    send_json(res, 200, json::object{{"jobs", std::move(out)}});
  });
  s.Get("/api/v1/queues", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = int_param(req, "limit");
    if (!limit) return send_error(res, limit.error());
    json::array out;
    for (const auto& e : node_.queued(static_cast<std::size_t>(limit->value_or(100)))) {
      out.push_back(execution_json(node_, e));
    }
    send_json(res, 200, json::object{{"queued", std::move(out)}});
  });

  add_schedule_routes(s, node_, options_.max_body_bytes);

  s.Post("/api/v1/executions", [this](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
    const auto body = read_body(req, res, reader, options_.max_body_bytes);
    if (!body) return;
    auto sub = parse_submission(*body);
    if (!sub) return send_error(res, sub.error());
    auto id = node_.submit(sub->job, sub->parameters, sub->options);
    if (!id) return send_error(res, id.error());
    auto e = node_.execution(*id);
    if (!e) return send_error(res, e.error());
    res.set_header("Location", fmt::format("/api/v1/executions/{}", *id));
    send_json(res, 201, execution_json(node_, *e));
  });
  s.Get("/api/v1/executions", [this](const httplib::Request& req, httplib::Response& res) {
    execution_filter f;
    if (req.has_param("job")) f.job = req.get_param_value("job");
    if (req.has_param("status")) {
      auto st = parse_batch_status(req.get_param_value("status"));
      if (!st) {
        return send_error(res, 400, "bad_usage",
                          fmt::format("unknown status '{}'; use STARTING, STARTED, STOPPING, STOPPED, FAILED, "
                                      "COMPLETED or ABANDONED",
                                      req.get_param_value("status")));
      }
      f.status = *st;
    }
    auto since = time_param(req, "since");
    auto until = time_param(req, "until");
    auto before = int_param(req, "before");
    auto limit = int_param(req, "limit");
    for (const auto* r : {&since, &until, &before, &limit}) {
      if (!*r) return send_error(res, r->error());
    }
    f.since = *since;
    f.until = *until;
    f.before = *before;
    const auto n = limit->value_or(50);
    if (n < 1 || n > 1000) return send_error(res, 400, "bad_usage", "'limit' must be 1-1000");
    f.limit = static_cast<std::size_t>(n);
    json::array out;
    std::int64_t last = 0;
    const auto list = node_.executions(f);
    for (const auto& e : list) {
      out.push_back(execution_json(node_, e));
      last = e.id;
    }
    json::object body{{"executions", std::move(out)}};
    // A full page may have more behind it: the next page starts below its last id.
    if (list.size() == f.limit) body["next_before"] = last;
    send_json(res, 200, body);
  });
  s.Get(R"(/api/v1/executions/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto detail = execution_detail(node_.store(), path_id(req));
    if (!detail) return send_error(res, detail.error());
    if (auto e = node_.execution(path_id(req))) {
      auto view = execution_json(node_, *e);
      if (const auto* p = view.if_contains("progress")) (*detail)["progress"] = *p;
    }
    send_json(res, 200, *detail);
  });
  // The operations take no body; one that is sent is read and ignored.
  s.Post(R"(/api/v1/executions/(\d+)/(stop|kill|cancel|restart|abandon))",
         [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
           if (!read_body(req, res, reader, options_.max_body_bytes)) return;
           const auto id = path_id(req);
           const std::string action = req.matches[2];
           expected<void> done;
           std::int64_t new_id = 0;
           if (action == "stop") done = node_.stop(id);
           if (action == "kill") done = node_.kill(id);
           if (action == "cancel") done = node_.cancel(id);
           if (action == "abandon") done = node_.abandon(id);
           if (action == "restart") {
             auto r = node_.restart(id);
             if (r) new_id = *r;
             else done = std::unexpected(r.error());
           }
           if (!done) return send_error(res, done.error());
           auto e = node_.execution(new_id ? new_id : id);
           if (!e) return send_error(res, e.error());
           if (new_id) res.set_header("Location", fmt::format("/api/v1/executions/{}", new_id));
           send_json(res, new_id ? 201 : 200, execution_json(node_, *e));
         });
}

}  // namespace kiln::node_detail
