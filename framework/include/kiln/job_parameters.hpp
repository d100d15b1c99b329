#pragma once
// Typed job parameters (Spring Batch's JobParameters) and their declared specs.
//
// On the command line a parameter is `[-]name[(type)]=value`: a leading '-' makes it
// non-identifying, `(type)` is one of string, long, double, date (ISO-8601). Without an explicit
// type the job's declared spec decides; undeclared parameters are refused unless the job allows them.

#include <kiln/error.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kiln {

enum class param_type { string, int64, double_, timestamp };
std::string_view to_string(param_type t);

// Timestamps are milliseconds since the Unix epoch, UTC.
struct timestamp_ms {
  std::int64_t ms = 0;
  friend auto operator<=>(const timestamp_ms&, const timestamp_ms&) = default;
};

using param_value = std::variant<std::string, std::int64_t, double, timestamp_ms>;

struct job_parameter {
  param_value value;
  bool identifying = true;
  [[nodiscard]] param_type type() const { return static_cast<param_type>(value.index()); }
  // The value as text: strings as they are, timestamps in ISO-8601 UTC.
  [[nodiscard]] std::string text() const;
  friend bool operator==(const job_parameter&, const job_parameter&) = default;
};

class job_parameters {
 public:
  void set(std::string name, job_parameter p) { params_[std::move(name)] = std::move(p); }
  [[nodiscard]] bool contains(const std::string& name) const { return params_.contains(name); }
  [[nodiscard]] const job_parameter* find(const std::string& name) const;
  // Typed access; throws std::out_of_range naming the parameter if absent or of another type.
  [[nodiscard]] const std::string& get_string(const std::string& name) const;
  [[nodiscard]] std::int64_t get_int64(const std::string& name) const;
  [[nodiscard]] double get_double(const std::string& name) const;
  // Text of any parameter, or `fallback` if absent.
  [[nodiscard]] std::string text(const std::string& name, std::string fallback = {}) const;
  [[nodiscard]] const std::map<std::string, job_parameter>& all() const { return params_; }
  [[nodiscard]] bool empty() const { return params_.empty(); }

  // The identifying parameters in canonical text: `name(type)=value;...`, sorted by name.
  // Together with the job name this is the job instance key.
  [[nodiscard]] std::string identifying_key() const;
  // Replaces every `{name}` in `pattern` by the parameter's text. Unknown names throw.
  [[nodiscard]] std::string resolve(std::string_view pattern) const;

  [[nodiscard]] boost::json::value to_json() const;
  static expected<job_parameters> from_json(const boost::json::value& v);
  friend bool operator==(const job_parameters&, const job_parameters&) = default;

 private:
  std::map<std::string, job_parameter> params_;
};

// What a job declares about one parameter.
struct param_spec {
  std::string name;
  param_type type = param_type::string;
  bool required = false;
  bool identifying = true;
  std::optional<param_value> default_value;
  std::string description;
  // Extra check; returns an error text (without the parameter's name) or nullopt when valid.
  std::function<std::optional<std::string>(const job_parameter&)> check;
};

// Fluent construction: kiln::param("rows", param_type::int64).required().describe("...").
class param {
 public:
  explicit param(std::string name, param_type type = param_type::string);
  param& required();
  param& non_identifying();
  param& default_value(param_value v);
  param& describe(std::string text);
  param& check(std::function<std::optional<std::string>(const job_parameter&)> fn);
  // Common checks.
  param& positive();          // int64 > 0
  param& at_least(std::int64_t min);
  param& existing_file();     // string naming a readable regular file
  param& non_empty();
  param& one_of(std::vector<std::string> values);  // the text is one of these
  operator param_spec() const { return spec_; }  // NOLINT(google-explicit-constructor)

 private:
  param_spec spec_;
};

// One `[-]name[(type)]=value` argument, before it is typed against a spec.
struct raw_parameter {
  std::string name;
  std::optional<param_type> type;
  std::string value;
  std::optional<bool> identifying;  // set when the argument started with '-'
};

expected<raw_parameter> parse_parameter_argument(std::string_view arg);
expected<std::vector<raw_parameter>> parse_parameter_arguments(const std::vector<std::string>& args);

// Types `raw` against `specs`, fills defaults, runs checks. Errors name the parameter and the fix.
expected<job_parameters> validate_parameters(const std::vector<raw_parameter>& raw,
                                             const std::vector<param_spec>& specs,
                                             bool allow_unknown);

// Converts `text` to a value of `type`; the error text names neither parameter nor job.
expected<param_value> parse_param_value(param_type type, std::string_view text);

std::string format_timestamp(std::int64_t ms);  // ISO-8601 UTC with milliseconds

}  // namespace kiln
