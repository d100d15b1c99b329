#pragma once
// Restartable readers and writers of JSON Lines files (one JSON text per line), built on
// Boost.JSON. By default items convert with boost::json::value_to / value_from, so a type with
// tag_invoke overloads needs no mapper.
//
// Restart, paths and errors work as for flat files (flat_file.hpp): the reader saves
// "<name>.offset" and "<name>.line", the writer "<name>.offset" and "<name>.written"; a line that
// is not valid JSON or that the mapper rejects is a parse_error naming file and line, after which
// reading continues with the next line.

#include <kiln/exceptions.hpp>
#include <kiln/item.hpp>
#include <kiln/jobs/file_io.hpp>
#include <kiln/step_context.hpp>

#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace kiln {

namespace detail {

// The non-template part of jsonl_reader: file, parser and restart state.
class jsonl_input {
 public:
  explicit jsonl_input(std::string path_pattern, std::string name);
  jsonl_input(const jsonl_input& other);
  jsonl_input& operator=(const jsonl_input&) = delete;
  jsonl_input(jsonl_input&&) noexcept;
  jsonl_input& operator=(jsonl_input&&) = delete;
  ~jsonl_input();

  void open(step_context& ctx);
  // The next non-blank line parsed, or nullptr at the end of the file; valid until the next call.
  // Invalid JSON is a parse_error thrown after consuming the line.
  const boost::json::value* next();
  void update(execution_context& ctx) const;
  void close() noexcept;
  [[nodiscard]] std::optional<double> fraction_done() const;

  // File and line of the value next() returned last, for errors.
  [[nodiscard]] const std::string& path() const;
  [[nodiscard]] std::int64_t line() const;

 private:
  struct state;
  std::string pattern_;
  position_keys keys_;
  std::unique_ptr<state> state_;  // from open() to close()
};

}  // namespace detail

template <class T>
class jsonl_reader : public item_reader<T> {
 public:
  using mapper = std::function<T(const boost::json::value&)>;

  // The default mapper is boost::json::value_to<T>.
  static mapper default_mapper() {
    return [](const boost::json::value& v) { return boost::json::value_to<T>(v); };
  }

  // `name` prefixes the keys of the restart state ("<name>.offset", "<name>.line").
  explicit jsonl_reader(std::string path, mapper map = default_mapper(), std::string name = "reader")
      : input_(std::move(path), std::move(name)), map_(std::move(map)) {}

  void open(step_context& ctx) override { input_.open(ctx); }
  // The next line mapped through the mapper; nullopt at the end of the file. Blank lines are
  // skipped. Exceptions of the mapper become parse_errors naming the file and line.
  std::optional<T> read() override {
    const boost::json::value* v = input_.next();
    if (!v) return std::nullopt;
    try {
      return map_(*v);
    } catch (const parse_error&) {
      throw;
    } catch (const boost::system::system_error& e) {
      // what() would add Boost's source location, which means nothing to the user.
      throw parse_error(input_.path(), input_.line(), "", e.code().message());
    } catch (const std::exception& e) {
      throw parse_error(input_.path(), input_.line(), "", e.what());
    }
  }
  void update(execution_context& ctx) override { input_.update(ctx); }
  void close() override { input_.close(); }
  [[nodiscard]] std::optional<double> fraction_done() const override { return input_.fraction_done(); }
  // Reopened at a saved position, it reads the same lines (the file must not change while the
  // step runs, as for a restart).
  [[nodiscard]] bool repeatable() const override { return true; }

 private:
  detail::jsonl_input input_;
  mapper map_;
};

template <class T>
class jsonl_writer : public item_writer<T> {
 public:
  // Appends one JSON text for the item, without a newline.
  using serializer = std::function<void(const T&, std::string& out)>;

  // The default serializer is boost::json::serialize(boost::json::value_from(item)).
  static serializer default_serializer() {
    return [](const T& item, std::string& out) { out += boost::json::serialize(boost::json::value_from(item)); };
  }

  // `name` prefixes the keys of the restart state ("<name>.offset", "<name>.written").
  // force_sync: flush() waits until the committed lines are on disk (survive a power loss).
  explicit jsonl_writer(std::string path, serializer s = default_serializer(), bool force_sync = false,
                        std::string name = "writer")
      : out_(std::move(path), force_sync, std::move(name)), serialize_(std::move(s)) {}

  // Starts the file fresh, or on restart truncates it to the last commit.
  void open(step_context& ctx) override { static_cast<void>(out_.open(ctx)); }
  // One line per item. If the serializer throws, none of the chunk's lines are kept.
  void write(const chunk<T>& items) override { out_.append_lines(items, serialize_); }
  void update(execution_context& ctx) override { out_.update(ctx); }
  void flush() override { out_.flush(); }
  void close() override { out_.close(); }

 private:
  detail::restartable_output out_;
  serializer serialize_;
};

}  // namespace kiln
