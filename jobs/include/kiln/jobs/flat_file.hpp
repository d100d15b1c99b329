#pragma once
// Restartable readers and writers of delimited text files (CSV, TSV, ...), Spring Batch's
// FlatFileItemReader/FlatFileItemWriter.
//
// flat_file_reader<T> maps each record through a function of a csv_record; flat_file_writer<T>
// formats each item into a csv_line. Both save their position in the step's execution context at
// every commit and resume there on restart: the reader seeks to the first unread record, the
// writer truncates its file to the last committed byte, so a run that crashed and was restarted
// reads each record once and leaves the same output as an uninterrupted run.
//
// Paths may contain `{param}` placeholders, resolved from the job parameters in open().
// Errors: io_error for files that cannot be opened, read or written; parse_error (file, line,
// field) for records that cannot be parsed or mapped, after which reading continues with the
// next record, so a step can skip them.

#include <kiln/item.hpp>
#include <kiln/jobs/file_io.hpp>
#include <kiln/step_context.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace kiln {

namespace detail {
class csv_input;
}

// One parsed delimited record. Valid until the next read() of the reader that produced it.
// Fields are the raw text, with quotes removed and doubled quotes undone. A record with fewer
// fields than columns (allowed only without strict_field_count) reads the missing ones as "".
class csv_record {
 public:
  [[nodiscard]] std::size_t size() const { return fields_.size(); }
  // The i-th field; "" when the record has no such field.
  [[nodiscard]] std::string_view operator[](std::size_t i) const {
    return i < fields_.size() ? fields_[i] : std::string_view();
  }
  // The field of the named column. Throws parse_error for an unknown column, listing the columns.
  [[nodiscard]] std::string_view get(std::string_view column) const { return field(column); }
  // The field as a whole number; surrounding whitespace and a leading '+' are accepted.
  // Throws parse_error naming file, line and column when the text is not one.
  [[nodiscard]] std::int64_t get_int64(std::string_view column) const;
  // The field as a number (std::from_chars syntax; surrounding whitespace and a leading '+' are
  // accepted). Throws parse_error naming file, line and column when the text is not one.
  [[nodiscard]] double get_double(std::string_view column) const;
  // The field without leading and trailing whitespace.
  [[nodiscard]] std::string get_trimmed(std::string_view column) const;

  // The column names (from the header or csv_options::columns).
  [[nodiscard]] const std::vector<std::string>& columns() const { return *columns_; }
  // The resolved path of the file and the 1-based line on which the record starts. In a
  // partition read with csv_options::partition_range, the first call counts the lines before
  // the partition's range (a pass over that part of the file), once per reader.
  [[nodiscard]] const std::string& file() const { return *file_; }
  [[nodiscard]] std::int64_t line() const;

 private:
  friend class detail::csv_input;
  [[nodiscard]] std::string_view field(std::string_view column) const { return (*this)[index_of(column)]; }
  // A mapper asks for the same columns in the same order on every record: the column after the
  // last one found is tried first, inline; the others are searched.
  [[nodiscard]] std::size_t index_of(std::string_view column) const {
    if (next_guess_ < columns_->size() && same_name((*columns_)[next_guess_], column)) return next_guess_++;
    return search(column);
  }
  [[nodiscard]] std::size_t search(std::string_view column) const;
  // Column names are short: a loop beats a call to memcmp.
  static bool same_name(const std::string& name, std::string_view column) {
    if (name.size() != column.size()) return false;
    for (std::size_t i = 0; i < column.size(); ++i) {
      if (name[i] != column[i]) return false;
    }
    return true;
  }

  std::vector<std::string_view> fields_;
  const std::vector<std::string>* columns_ = nullptr;
  const std::string* file_ = nullptr;
  const detail::csv_input* input_ = nullptr;  // adds the lines before a partition's range
  std::int64_t line_ = 0;                     // as the reader numbers it
  mutable std::size_t next_guess_ = 0;  // index_of's first candidate
};

struct csv_options {
  // Default: ','. Must differ from `quote`, '\r' and '\n'.
  char delimiter = ',';
  // Default: '"'. A field that starts with it is quoted: it may contain the delimiter and line
  // breaks, and a doubled quote inside it stands for one quote.
  char quote = '"';
  // Default: true, the first line names the columns (names are whitespace-trimmed).
  bool header = true;
  // Default: empty, the names come from the header. Required when header is false; when both are
  // given, these names win and the header line is skipped.
  std::vector<std::string> columns;
  // Default: true, a record whose field count differs from the column count is a parse_error
  // ("expected 3 fields, found 2").
  bool strict_field_count = true;
  // Default: false. When true and the step runs as a partition made by line_range_partitioner
  // (file_partitioners.hpp), only the records that start in the partition's byte range
  // [partition.begin, partition.end) are read; the header is still read from the top of the file.
  // Records must not span lines (no line breaks inside quoted fields). Line numbers (csv_record::
  // line(), parse errors) are those of the whole file: the lines before the range are counted
  // only when a line number is first needed. The saved "<name>.line" then counts from the range's
  // first line, unless the plan gives `partition.line` (the number of that line; plans stored
  // before line_range_partitioner stopped counting lines have it, and so do partitions split off
  // by rebalancing, with `partition.line_anchor`: the offset whose preceding lines that number
  // leaves out). In a rebalancing partitioned step (partition_step::rebalance) the reader can
  // give up the second half of what it has left to a new partition.
  bool partition_range = false;
};

namespace detail {

class line_range_split;

// The non-template part of flat_file_reader: file, parser and restart state.
class csv_input {
 public:
  csv_input(std::string path_pattern, csv_options options, std::string name);

  void open(step_context& ctx);
  // The next record, or nullptr at the end of the file. A parse_error leaves the input after the
  // bad record.
  const csv_record* next();
  void update(execution_context& ctx) const;
  void close() noexcept;
  [[nodiscard]] std::optional<double> fraction_done() const { return detail::fraction_done(*lines_); }
  // What to add to the reader's line numbers to get the file's: the lines before a partition's
  // range when they are numbered from the range, counted on the first call; else 0.
  [[nodiscard]] std::int64_t line_base() const;

 private:
  // Where a field's text lives: in the current physical line or in scratch_.
  struct span {
    std::size_t begin;
    std::size_t length;
    bool in_scratch;
  };
  // Parses the next non-empty record into record_.fields_; false at the end of the file.
  bool parse_record();
  void parse_quoted_record(std::string_view line);
  // Moves the fields that point into `line` to scratch_, before the line's buffer is reused.
  void spill_fields(std::string_view line, bool current_in_scratch, std::size_t& current_begin);
  [[nodiscard]] std::string field_name(std::size_t index) const;

  std::string pattern_;
  csv_options options_;
  position_keys keys_;

  std::string path_;
  fresh_on_copy<line_reader> lines_;
  std::vector<std::string> columns_;
  csv_record record_;
  std::vector<span> spans_;
  std::string scratch_;
  std::optional<std::uint64_t> range_end_;  // partition_range: where this partition's records end
  // Records that start before it are read without asking; at or after it, the range has ended
  // unless split_ extends it (a line range that rebalancing may split).
  std::uint64_t limit_ = 0;
  std::shared_ptr<line_range_split> split_;
  std::shared_ptr<split_slot> slot_;
  std::uint64_t uncounted_ = 0;  // lines are numbered from this byte offset, whose lines are not yet counted
  mutable std::optional<std::int64_t> line_base_;  // newlines in [0, uncounted_), once counted
};

}  // namespace detail

template <class T>
class flat_file_reader : public item_reader<T> {
 public:
  using mapper = std::function<T(const csv_record&)>;

  // `name` prefixes the keys of the restart state ("<name>.offset", "<name>.line"); give each
  // reader of a step its own. Throws std::invalid_argument for inconsistent options.
  flat_file_reader(std::string path, mapper map, csv_options options = {}, std::string name = "reader")
      : input_(std::move(path), std::move(options), std::move(name)), map_(std::move(map)) {}

  // Opens the file and reads the header; on restart continues at the saved position without
  // re-reading the records before it.
  void open(step_context& ctx) override { input_.open(ctx); }
  // The next record mapped through the mapper; nullopt at the end of the file. Empty lines are
  // skipped.
  std::optional<T> read() override {
    const csv_record* record = input_.next();
    if (!record) return std::nullopt;
    return map_(*record);
  }
  bool read_into(chunk<T>& items) override {
    const csv_record* record = input_.next();
    if (!record) return false;
    // The mapper's result is made in the chunk's slot (no move): emplace_back converts `mapped`.
    struct mapped {
      const mapper& map;
      const csv_record& record;
      operator T() const { return map(record); }  // NOLINT(google-explicit-constructor)
    };
    items.emplace_back(mapped{map_, *record});
    return true;
  }
  // Saves the byte offset and line number of the next unread record.
  void update(execution_context& ctx) override { input_.update(ctx); }
  void close() override { input_.close(); }
  // Bytes consumed / file size.
  [[nodiscard]] std::optional<double> fraction_done() const override { return input_.fraction_done(); }
  // Reopened at a saved position, it reads the same records (the file must not change while the
  // step runs, as for a restart).
  [[nodiscard]] bool repeatable() const override { return true; }

 private:
  detail::csv_input input_;
  mapper map_;
};

// One output line under construction: add() appends a field, quoting it when it contains the
// delimiter, the quote, '\r' or '\n' (with quotes doubled).
class csv_line {
 public:
  explicit csv_line(std::string& out, char delimiter = ',', char quote = '"')
      : out_(&out), delimiter_(delimiter), quote_(quote) {}

  void add(std::string_view s);
  void add(std::int64_t v);
  // Shortest text that reads back as the same double.
  void add(double v);
  template <std::integral I>
    requires(!std::same_as<I, bool> && !std::same_as<I, char> && !std::same_as<I, std::int64_t>)
  void add(I v) {
    if constexpr (std::is_signed_v<I>) {
      add(static_cast<std::int64_t>(v));
    } else {
      add_unsigned(static_cast<std::uint64_t>(v));
    }
  }

 private:
  void add_unsigned(std::uint64_t v);
  void separate();

  std::string* out_;
  char delimiter_;
  char quote_;
  bool first_ = true;
};

struct flat_file_writer_options {
  char delimiter = ',';  // Default: ','
  char quote = '"';      // Default: '"'
  // Default: none. Written once, when the file is started fresh (not on restart).
  std::vector<std::string> header;
  // Default: false. When true, flush() waits until the committed lines are on disk, so they
  // survive a power loss, not only a crash of the process.
  bool force_sync = false;
};

template <class T>
class flat_file_writer : public item_writer<T> {
 public:
  using formatter = std::function<void(const T&, csv_line&)>;

  // `name` prefixes the keys of the restart state ("<name>.offset", "<name>.written").
  flat_file_writer(std::string path, formatter fmt, flat_file_writer_options options = {},
                   std::string name = "writer")
      : out_(std::move(path), options.force_sync, std::move(name)),
        format_(std::move(fmt)),
        delimiter_(options.delimiter),
        quote_(options.quote),
        header_(std::move(options.header)) {}

  // Starts the file fresh (with the header), or on restart truncates it to the last commit.
  void open(step_context& ctx) override {
    if (out_.open(ctx) && !header_.empty()) {
      csv_line line(out_.buffer(), delimiter_, quote_);
      for (const auto& name : header_) line.add(name);
      out_.buffer() += '\n';
    }
  }
  // One line per item. If the formatter throws, none of the chunk's lines are kept.
  void write(const chunk<T>& items) override {
    out_.append_lines(items, [this](const T& item, std::string& buffer) {
      csv_line line(buffer, delimiter_, quote_);
      format_(item, line);
    });
  }
  void update(execution_context& ctx) override { out_.update(ctx); }
  void flush() override { out_.flush(); }
  void close() override { out_.close(); }

 private:
  detail::restartable_output out_;
  formatter format_;
  char delimiter_;
  char quote_;
  std::vector<std::string> header_;
};

}  // namespace kiln
