#include "tasklet_support.hpp"

#include <boost/json/value.hpp>

#include <stdexcept>

namespace kiln::detail {

namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid or cut off.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t min = 0;
  if ((b & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  std::uint32_t cp = b & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string resolve_placeholders(const job_parameters& params, std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find('{', i);
    if (open == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, open - i));
    std::size_t end = open + 1;
    if (end < text.size() && is_name_start(text[end])) {
      while (end < text.size() && is_name_char(text[end])) ++end;
    }
    if (end == open + 1 || end >= text.size() || text[end] != '}') {
      out += '{';  // not a placeholder: a literal brace
      i = open + 1;
      continue;
    }
    const std::string name(text.substr(open + 1, end - open - 1));
    const auto* p = params.find(name);
    if (!p) {
      throw std::invalid_argument(std::string(what) + " refers to job parameter '" + name +
                                  "', which is not set");
    }
    out += p->text();
    i = end + 1;
  }
  return out;
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto n = utf8_sequence(bytes, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

void tail_buffer::append(std::string_view bytes) {
  if (bytes.size() >= limit_) {
    data_.assign(bytes.substr(bytes.size() - limit_));
    return;
  }
  data_.append(bytes);
  if (data_.size() > 2 * limit_) data_.erase(0, data_.size() - limit_);
}

std::string tail_buffer::text() const {
  std::string_view s(data_);
  if (s.size() > limit_) s.remove_prefix(s.size() - limit_);
  // Start at a character, not in the middle of one.
  std::size_t skip = 0;
  while (skip < s.size() && skip < 3 && (static_cast<unsigned char>(s[skip]) & 0xC0) == 0x80) ++skip;
  return to_valid_utf8(s.substr(skip));
}

void record_failure(step_context& ctx, std::string exit_code, std::string message) {
  ctx.context()["failure"] = boost::json::object{{"step_execution_id", ctx.step_execution_id()},
                                                 {"exit_code", std::move(exit_code)},
                                                 {"message", to_valid_utf8(message)}};
}

void raise_recorded_failure(step_context& ctx) {
  auto* f = ctx.context().if_contains("failure");
  if (!f) return;
  const auto* o = f->if_object();
  const auto* id = o ? o->if_contains("step_execution_id") : nullptr;
  if (!id || !id->is_int64() || id->get_int64() != ctx.step_execution_id()) {
    ctx.context().erase("failure");
    return;
  }
  const auto* code = o->if_contains("exit_code");
  const auto* message = o->if_contains("message");
  ctx.set_exit_status(exit_status::failed());
  if (code && code->is_string()) ctx.set_exit_status({std::string(code->get_string()), {}});
  throw std::runtime_error(message && message->is_string() ? std::string(message->get_string())
                                                           : "the tasklet failed");
}

}  // namespace kiln::detail
