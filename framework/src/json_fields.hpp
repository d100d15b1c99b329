#pragma once
// Reading fields out of Boost.JSON objects with errors that name the field (private helper).

#include <kiln/error.hpp>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace kiln::detail {

class json_reader {
 public:
  json_reader(const boost::json::value& v, std::string what) : what_(std::move(what)) {
    obj_ = v.if_object();
    if (!obj_) problem_ = what_ + " must be a JSON object";
  }
  std::int64_t i64(std::string_view key, std::int64_t fallback = 0) {
    const auto* v = field(key);
    if (!v) return fallback;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    bad(key, "an integer");
    return fallback;
  }
  bool boolean(std::string_view key, bool fallback = false) {
    const auto* v = field(key);
    if (!v) return fallback;
    if (v->is_bool()) return v->as_bool();
    bad(key, "true or false");
    return fallback;
  }
  std::string str(std::string_view key, std::string fallback = {}) {
    const auto* v = field(key);
    if (!v) return fallback;
    if (v->is_string()) return std::string(v->as_string());
    bad(key, "a string");
    return fallback;
  }
  boost::json::object obj(std::string_view key) {
    const auto* v = field(key);
    if (!v) return {};
    if (v->is_object()) return v->as_object();
    bad(key, "an object");
    return {};
  }
  const boost::json::value* raw(std::string_view key) { return field(key); }
  [[nodiscard]] bool ok() const { return problem_.empty(); }
  [[nodiscard]] error failure(errc code = errc::bad_command) const { return error(code, problem_); }

 private:
  const boost::json::value* field(std::string_view key) {
    if (!obj_) return nullptr;
    return obj_->if_contains(key);
  }
  void bad(std::string_view key, const char* expected) {
    if (problem_.empty()) problem_ = fmt::format("{}: field '{}' must be {}", what_, key, expected);
  }
  const boost::json::object* obj_ = nullptr;
  std::string what_;
  std::string problem_;
};

}  // namespace kiln::detail
