#pragma once
// Exceptions that user code and ready-made items throw inside a step. The step catches them,
// classifies them (skip policy) and records the outcome; none crosses a step's boundary.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace kiln {

// An input record could not be turned into an item. The message names the file, the line and,
// where known, the field: "data/in.csv:42: field 'amount': not a number: 'abc'".
class parse_error : public std::runtime_error {
 public:
  parse_error(std::string file, std::int64_t line, std::string field, const std::string& problem)
      : std::runtime_error(file + ":" + std::to_string(line) + ": " +
                           (field.empty() ? std::string() : "field '" + field + "': ") + problem),
        file_(std::move(file)),
        line_(line),
        field_(std::move(field)) {}
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::int64_t line() const { return line_; }
  [[nodiscard]] const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::int64_t line_;
  std::string field_;
};

// A chunk step met more skippable errors than its skip limit allows.
class skip_limit_exceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An item stream could not open, read, write or restore its position.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace kiln
