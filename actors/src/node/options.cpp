// node_options: the JSON config file and its checks.

#include "gateway.hpp"

#include <kiln/node.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

namespace kiln {

namespace json = boost::json;

namespace {

expected<std::int64_t> int_field(const std::string& key, const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.as_uint64());
  return fail(errc::bad_usage, fmt::format("config key '{}' must be an integer", key));
}

expected<std::string> string_field(const std::string& key, const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return fail(errc::bad_usage, fmt::format("config key '{}' must be a string", key));
}

bool valid_queue_name(const std::string& q) {
  static const std::regex re("[A-Za-z0-9_.-]{1,64}");
  return std::regex_match(q, re);
}

}  // namespace

expected<node_options> load_node_options(const std::filesystem::path& file, node_options o) {
  std::ifstream in(file);
  if (!in) return fail(errc::bad_usage, fmt::format("config file '{}' cannot be read", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  json::error_code ec;
  auto v = json::parse(text.str(), ec);
  if (ec) return fail(errc::bad_usage, fmt::format("config file '{}' is not valid JSON: {}", file.string(), ec.message()));
  if (!v.is_object()) return fail(errc::bad_usage, fmt::format("config file '{}' must hold a JSON object", file.string()));
  auto where = [&](const error& e) { return fail(e.code(), fmt::format("{}: {}", file.string(), e.message())); };
  for (const auto& [k, value] : v.as_object()) {
    const std::string key(k);
    if (key == "data_dir" || key == "listen" || key == "name" || key == "token") {
      auto s = string_field(key, value);
      if (!s) return where(s.error());
      if (key == "data_dir") o.data_dir = *s;
      if (key == "listen") o.listen = *s;
      if (key == "name") o.name = *s;
      if (key == "token") o.token = *s;
    } else if (key == "max_concurrent_jobs" || key == "max_body_bytes" || key == "http_threads" ||
               key == "job_thread_stack_kb" || key == "schedule_max_lead_ms") {
      auto n = int_field(key, value);
      if (!n) return where(n.error());
      if (key == "max_concurrent_jobs") o.max_concurrent_jobs = *n;
      if (key == "max_body_bytes") o.max_body_bytes = static_cast<std::size_t>(std::max<std::int64_t>(*n, 0));
      if (key == "http_threads") o.http_threads = static_cast<int>(*n);
      if (key == "job_thread_stack_kb") o.job_thread_stack_kb = static_cast<int>(std::clamp<std::int64_t>(*n, -1, 1 << 20));
      if (key == "schedule_max_lead_ms") o.schedule_max_lead_ms = *n;
    } else if (key == "resume_after_shutdown") {
      if (!value.is_bool()) return where(error(errc::bad_usage, "config key 'resume_after_shutdown' must be true or false"));
      o.resume_after_shutdown = value.as_bool();
    } else if (key == "queues") {
      if (!value.is_array()) return where(error(errc::bad_usage, "config key 'queues' must be a list of queue names"));
      o.queues.clear();
      for (const auto& q : value.as_array()) {
        auto s = string_field("queues", q);
        if (!s) return where(s.error());
        o.queues.push_back(*s);
      }
    } else if (key == "queue_limits") {
      if (!value.is_object()) {
        return where(error(errc::bad_usage, "config key 'queue_limits' must map queue names to limits, e.g. {\"reports\": 2}"));
      }
      for (const auto& [q, n] : value.as_object()) {
        auto limit = int_field("queue_limits." + std::string(q), n);
        if (!limit) return where(limit.error());
        o.queue_limits[std::string(q)] = *limit;
      }
    } else {
      return where(error(errc::bad_usage,
                         fmt::format("unknown config key '{}'; known keys: data_dir, listen, name, max_concurrent_jobs, "
                                     "queues, queue_limits, token, resume_after_shutdown, max_body_bytes, http_threads, job_thread_stack_kb, "
                                     "schedule_max_lead_ms",
                                     key)));
    }
  }
  return o;
}

expected<void> validate(const node_options& o) {
  auto addr = node_detail::parse_listen(o.listen);
  if (!addr) return std::unexpected(addr.error());
  if (!node_detail::is_loopback(addr->first) && o.token.empty()) {
    return fail(errc::bad_usage,
                fmt::format("refusing to listen on {} without a token: set \"token\" in the config or KILN_TOKEN, or "
                            "listen on 127.0.0.1",
                            o.listen));
  }
  if (o.max_concurrent_jobs < 1) return fail(errc::bad_usage, "max_concurrent_jobs must be at least 1");
  if (o.http_threads < 1 || o.http_threads > 256) return fail(errc::bad_usage, "http_threads must be 1-256");
  if (o.job_thread_stack_kb != 0 && (o.job_thread_stack_kb < 128 || o.job_thread_stack_kb > 1 << 20)) {
    return fail(errc::bad_usage, "job_thread_stack_kb must be 0 (system default) or 128-1048576");
  }
  if (o.max_body_bytes < 1024) return fail(errc::bad_usage, "max_body_bytes must be at least 1024");
  if (o.schedule_max_lead_ms < 0 || o.schedule_max_lead_ms > 60000) {
    return fail(errc::bad_usage, "schedule_max_lead_ms must be 0 (fire every slot at its instant) to 60000");
  }
  if (o.name.empty()) return fail(errc::bad_usage, "the node name must not be empty");
  for (const auto& q : o.queues) {
    if (!valid_queue_name(q)) return fail(errc::bad_usage, fmt::format("queue name '{}': use 1-64 letters, digits, '_', '.' or '-'", q));
  }
  for (const auto& [q, n] : o.queue_limits) {
    if (!valid_queue_name(q)) return fail(errc::bad_usage, fmt::format("queue_limits: queue name '{}' is not valid", q));
    if (n < 1) return fail(errc::bad_usage, fmt::format("queue_limits.{} must be at least 1", q));
  }
  return {};
}

}  // namespace kiln
