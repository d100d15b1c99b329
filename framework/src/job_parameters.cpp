#include <kiln/job_parameters.hpp>

#include <boost/json.hpp>
#include <date/date.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace kiln {

namespace json = boost::json;

std::string_view to_string(param_type t) {
  switch (t) {
    case param_type::string: return "string";
    case param_type::int64: return "long";
    case param_type::double_: return "double";
    case param_type::timestamp: return "date";
  }
  return "string";
}

namespace {

std::optional<param_type> parse_type_name(std::string_view s) {
  if (s == "string" || s == "str") return param_type::string;
  if (s == "long" || s == "int" || s == "int64") return param_type::int64;
  if (s == "double") return param_type::double_;
  if (s == "date" || s == "timestamp") return param_type::timestamp;
  return std::nullopt;
}

bool valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

}  // namespace

std::string format_timestamp(std::int64_t ms) {
  using namespace std::chrono;
  return date::format("%FT%TZ", time_point<system_clock, milliseconds>(milliseconds(ms)));
}

expected<param_value> parse_param_value(param_type type, std::string_view text) {
  switch (type) {
    case param_type::string: return param_value(std::string(text));
    case param_type::int64: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
        return fail(errc::bad_parameter, fmt::format("'{}' is not a whole number", text));
      }
      return param_value(v);
    }
    case param_type::double_: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || text.empty() || !std::isfinite(v)) {
        return fail(errc::bad_parameter, fmt::format("'{}' is not a number", text));
      }
      return param_value(v);
    }
    case param_type::timestamp: {
      using namespace std::chrono;
      std::istringstream in{std::string(text)};
      date::sys_time<milliseconds> tp;
      for (const char* f : {"%FT%TZ", "%FT%T%Ez", "%FT%T", "%F"}) {
        in.clear();
        in.str(std::string(text));
        in >> date::parse(f, tp);
        if (!in.fail() && in.peek() == std::char_traits<char>::eof()) {
          return param_value(timestamp_ms{tp.time_since_epoch().count()});
        }
      }
      return fail(errc::bad_parameter,
                  fmt::format("'{}' is not an ISO-8601 date (e.g. 2026-01-31 or 2026-01-31T08:00:00Z)", text));
    }
  }
  return fail(errc::bad_parameter, "unknown type");
}

std::string job_parameter::text() const {
  switch (type()) {
    case param_type::string: return std::get<std::string>(value);
    case param_type::int64: return std::to_string(std::get<std::int64_t>(value));
    case param_type::double_: return fmt::format("{}", std::get<double>(value));
    case param_type::timestamp: return format_timestamp(std::get<timestamp_ms>(value).ms);
  }
  return {};
}

const job_parameter* job_parameters::find(const std::string& name) const {
  auto it = params_.find(name);
  return it == params_.end() ? nullptr : &it->second;
}

namespace {
template <class T>
const T& typed(const job_parameters& ps, const std::string& name, const char* type) {
  const auto* p = ps.find(name);
  if (!p) throw std::out_of_range("job parameter '" + name + "' is not set");
  if (const auto* v = std::get_if<T>(&p->value)) return *v;
  throw std::out_of_range("job parameter '" + name + "' is not of type " + type);
}
}  // namespace

const std::string& job_parameters::get_string(const std::string& name) const {
  return typed<std::string>(*this, name, "string");
}
std::int64_t job_parameters::get_int64(const std::string& name) const {
  return typed<std::int64_t>(*this, name, "long");
}
double job_parameters::get_double(const std::string& name) const {
  const auto* p = find(name);
  if (p && p->type() == param_type::int64) return static_cast<double>(std::get<std::int64_t>(p->value));
  return typed<double>(*this, name, "double");
}

std::string job_parameters::text(const std::string& name, std::string fallback) const {
  const auto* p = find(name);
  return p ? p->text() : fallback;
}

std::string job_parameters::identifying_key() const {
  std::string key;
  for (const auto& [name, p] : params_) {
    if (!p.identifying) continue;
    if (!key.empty()) key += ';';
    // Escape the separators so distinct parameter sets never share a key.
    std::string v = p.text();
    std::string escaped;
    for (char c : v) {
      if (c == ';' || c == '\\') escaped += '\\';
      escaped += c;
    }
    key += fmt::format("{}({})={}", name, to_string(p.type()), escaped);
  }
  return key;
}

std::string job_parameters::resolve(std::string_view pattern) const {
  std::string out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    auto open = pattern.find('{', i);
    if (open == std::string_view::npos) {
      out.append(pattern.substr(i));
      break;
    }
    auto close = pattern.find('}', open);
    if (close == std::string_view::npos) {
      out.append(pattern.substr(i));
      break;
    }
    out.append(pattern.substr(i, open - i));
    std::string name(pattern.substr(open + 1, close - open - 1));
    const auto* p = find(name);
    if (!p) throw std::out_of_range("'" + std::string(pattern) + "' refers to job parameter '" + name + "', which is not set");
    out += p->text();
    i = close + 1;
  }
  return out;
}

json::value job_parameters::to_json() const {
  json::object o;
  for (const auto& [name, p] : params_) {
    json::object v;
    v["type"] = to_string(p.type());
    v["identifying"] = p.identifying;
    switch (p.type()) {
      case param_type::string: v["value"] = std::get<std::string>(p.value); break;
      case param_type::int64: v["value"] = std::get<std::int64_t>(p.value); break;
      case param_type::double_: v["value"] = std::get<double>(p.value); break;
      case param_type::timestamp: v["value"] = std::get<timestamp_ms>(p.value).ms; break;
    }
    o[name] = std::move(v);
  }
  return o;
}

expected<job_parameters> job_parameters::from_json(const json::value& v) {
  job_parameters out;
  const auto* o = v.if_object();
  if (!o) return fail(errc::bad_command, "job parameters must be a JSON object");
  for (const auto& [name, pv] : *o) {
    const auto* po = pv.if_object();
    if (!po || !po->contains("type") || !po->contains("value")) {
      return fail(errc::bad_command, fmt::format("parameter '{}': expected {{type, value}}", std::string(name)));
    }
    auto type = parse_type_name(json::value_to<std::string>(po->at("type")));
    if (!type) return fail(errc::bad_command, fmt::format("parameter '{}': unknown type", std::string(name)));
    job_parameter p;
    p.identifying = po->contains("identifying") ? po->at("identifying").as_bool() : true;
    const auto& val = po->at("value");
    switch (*type) {
      case param_type::string:
        if (!val.is_string()) return fail(errc::bad_command, "string parameter value must be a string");
        p.value = json::value_to<std::string>(val);
        break;
      case param_type::int64:
        if (!val.is_int64()) return fail(errc::bad_command, "long parameter value must be an integer");
        p.value = val.as_int64();
        break;
      case param_type::double_:
        if (!val.is_number()) return fail(errc::bad_command, "double parameter value must be a number");
        p.value = val.to_number<double>();
        break;
      case param_type::timestamp:
        if (!val.is_int64()) return fail(errc::bad_command, "date parameter value must be an integer");
        p.value = timestamp_ms{val.as_int64()};
        break;
    }
    out.set(std::string(name), std::move(p));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

param::param(std::string name, param_type type) {
  spec_.name = std::move(name);
  spec_.type = type;
}
param& param::required() {
  spec_.required = true;
  return *this;
}
param& param::non_identifying() {
  spec_.identifying = false;
  return *this;
}
param& param::default_value(param_value v) {
  spec_.default_value = std::move(v);
  return *this;
}
param& param::describe(std::string text) {
  spec_.description = std::move(text);
  return *this;
}
param& param::check(std::function<std::optional<std::string>(const job_parameter&)> fn) {
  if (!spec_.check) {
    spec_.check = std::move(fn);
  } else {
    spec_.check = [a = spec_.check, b = std::move(fn)](const job_parameter& p) {
      auto r = a(p);
      return r ? r : b(p);
    };
  }
  return *this;
}
param& param::positive() { return at_least(1); }
param& param::at_least(std::int64_t min) {
  return check([min](const job_parameter& p) -> std::optional<std::string> {
    const auto* v = std::get_if<std::int64_t>(&p.value);
    if (v && *v < min) return fmt::format("must be at least {}, got {}", min, *v);
    return std::nullopt;
  });
}
param& param::one_of(std::vector<std::string> values) {
  return check([values = std::move(values)](const job_parameter& p) -> std::optional<std::string> {
    const auto text = p.text();
    if (std::find(values.begin(), values.end(), text) != values.end()) return std::nullopt;
    return fmt::format("must be one of {}, got '{}'", fmt::join(values, ", "), text);
  });
}
param& param::non_empty() {
  return check([](const job_parameter& p) -> std::optional<std::string> {
    if (p.text().empty()) return "must not be empty";
    return std::nullopt;
  });
}
param& param::existing_file() {
  return check([](const job_parameter& p) -> std::optional<std::string> {
    std::error_code ec;
    auto path = std::filesystem::path(p.text());
    if (!std::filesystem::exists(path, ec)) return fmt::format("file not found: {}", p.text());
    if (!std::filesystem::is_regular_file(path, ec)) return fmt::format("not a regular file: {}", p.text());
    return std::nullopt;
  });
}

expected<raw_parameter> parse_parameter_argument(std::string_view arg) {
  raw_parameter r;
  auto eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return fail(errc::bad_parameter,
                fmt::format("'{}' is not a job parameter; write name=value (e.g. input=data/in.csv)", arg));
  }
  std::string_view lhs = arg.substr(0, eq);
  r.value = std::string(arg.substr(eq + 1));
  if (!lhs.empty() && lhs.front() == '-') {
    r.identifying = false;
    lhs.remove_prefix(1);
  }
  if (!lhs.empty() && lhs.back() == ')') {
    auto open = lhs.find('(');
    if (open == std::string_view::npos) {
      return fail(errc::bad_parameter, fmt::format("'{}': unbalanced parentheses in the parameter name", arg));
    }
    auto tname = lhs.substr(open + 1, lhs.size() - open - 2);
    r.type = parse_type_name(tname);
    if (!r.type) {
      return fail(errc::bad_parameter,
                  fmt::format("parameter '{}': unknown type '{}'; use string, long, double or date",
                              lhs.substr(0, open), tname));
    }
    lhs = lhs.substr(0, open);
  }
  if (!valid_name(lhs)) {
    return fail(errc::bad_parameter,
                fmt::format("'{}': a parameter name uses letters, digits, '_', '.' and '-' only", arg));
  }
  r.name = std::string(lhs);
  return r;
}

expected<std::vector<raw_parameter>> parse_parameter_arguments(const std::vector<std::string>& args) {
  std::vector<raw_parameter> out;
  for (const auto& a : args) {
    auto r = parse_parameter_argument(a);
    if (!r) return std::unexpected(r.error());
    for (const auto& seen : out) {
      if (seen.name == r->name) {
        return fail(errc::bad_parameter, fmt::format("parameter '{}' is given twice", r->name));
      }
    }
    out.push_back(std::move(*r));
  }
  return out;
}

expected<job_parameters> validate_parameters(const std::vector<raw_parameter>& raw,
                                             const std::vector<param_spec>& specs,
                                             bool allow_unknown) {
  job_parameters out;
  auto find_spec = [&](const std::string& n) -> const param_spec* {
    for (const auto& s : specs) {
      if (s.name == n) return &s;
    }
    return nullptr;
  };
  for (const auto& r : raw) {
    const auto* spec = find_spec(r.name);
    if (!spec && !allow_unknown) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      return fail(errc::bad_parameter,
                  fmt::format("unknown parameter '{}'; this job takes: {}", r.name,
                              known.empty() ? "no parameters" : known));
    }
    param_type type = r.type.value_or(spec ? spec->type : param_type::string);
    if (spec && r.type && *r.type != spec->type) {
      return fail(errc::bad_parameter, fmt::format("parameter '{}' is declared {}, not {}", r.name,
                                                   to_string(spec->type), to_string(*r.type)));
    }
    auto v = parse_param_value(type, r.value);
    if (!v) {
      return fail(errc::bad_parameter, fmt::format("parameter '{}': {}", r.name, v.error().message()));
    }
    job_parameter p{std::move(*v), r.identifying.value_or(spec ? spec->identifying : true)};
    out.set(r.name, std::move(p));
  }
  for (const auto& s : specs) {
    if (out.contains(s.name)) continue;
    if (s.default_value) {
      out.set(s.name, job_parameter{*s.default_value, s.identifying});
    } else if (s.required) {
      return fail(errc::bad_parameter,
                  fmt::format("missing required parameter '{}'{}; add {}=...", s.name,
                              s.description.empty() ? "" : " (" + s.description + ")", s.name));
    }
  }
  for (const auto& s : specs) {
    const auto* p = out.find(s.name);
    if (!p || !s.check) continue;
    if (auto problem = s.check(*p)) {
      return fail(errc::bad_parameter, fmt::format("parameter '{}': {}", s.name, *problem));
    }
  }
  return out;
}

}  // namespace kiln
