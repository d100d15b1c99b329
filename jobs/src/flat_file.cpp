#include <kiln/exceptions.hpp>
#include <kiln/jobs/flat_file.hpp>
#include <kiln/partition.hpp>

#include <fmt/format.h>

#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>

namespace kiln {

namespace {

constexpr std::string_view whitespace = " \t\r\n\f\v";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(whitespace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(whitespace);
  return s.substr(first, last - first + 1);
}

// True with the number in `v` when all of `text` is one (std::from_chars syntax): the common case,
// kept in line.
template <class N>
bool whole_text_is_number(std::string_view text, N& v) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// The number in a field whose text is not only a number: surrounded by whitespace or with a
// leading '+' before a digit or '.'; anything else throws parse_error naming file, line, column
// and text. `kind` is "number" or "whole number".
template <class N>
[[gnu::noinline, gnu::cold]] N number_around_text(const csv_record& r, std::string_view column, std::string_view raw,
                                                  N v, const char* kind) {
  auto s = trim(raw);
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    throw parse_error(r.file(), r.line(), std::string(column),
                      std::string(kind) + " out of range: '" + std::string(raw) + "'");
  }
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    throw parse_error(r.file(), r.line(), std::string(column), "not a " + std::string(kind) + ": '" + std::string(raw) + "'");
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// csv_record

std::size_t csv_record::search(std::string_view column) const {
  const auto& cols = *columns_;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (same_name(cols[i], column)) {
      next_guess_ = i + 1;
      return i;
    }
  }
  std::string problem = "no such column; columns are: ";
  for (std::size_t i = 0; i < cols.size(); ++i) {
    if (i > 0) problem += ", ";
    problem += cols[i];
  }
  throw parse_error(*file_, line(), std::string(column), problem);
}

std::int64_t csv_record::line() const { return input_ ? line_ + input_->line_base() : line_; }

std::int64_t csv_record::get_int64(std::string_view column) const {
  const auto raw = field(column);
  std::int64_t v = 0;
  if (whole_text_is_number(raw, v)) return v;
  return number_around_text(*this, column, raw, v, "whole number");
}

double csv_record::get_double(std::string_view column) const {
  const auto raw = field(column);
  double v = 0;
  if (whole_text_is_number(raw, v)) return v;
  return number_around_text(*this, column, raw, v, "number");
}

std::string csv_record::get_trimmed(std::string_view column) const { return std::string(trim(field(column))); }

// ---------------------------------------------------------------------------------------------
// csv_input

namespace detail {

// The line range of a partition that rebalancing may split (splittable_input). The reader asks
// for a lease (limit()) every `lease` bytes; a split never cuts within the bytes leased, so the
// reader's hot path reads no shared state.
class line_range_split final : public splittable_input {
 public:
  // Reading resumes at `offset`, the start of the line numbered `line`; lines before `anchor` are
  // not counted in the reader's numbers.
  line_range_split(std::string path, std::uint64_t offset, std::int64_t line, std::uint64_t end, std::uint64_t anchor)
      : path_(std::move(path)), anchor_(anchor), end_(end), limit_(offset), at_(offset), at_line_(line) {}

  // The reader's next line starts at `offset` and is numbered `line`: returns where the reader
  // may read up to (exclusive) before it asks again; offset >= the result: the range has ended.
  // At a new end that waits for its split's commit, waits for settle().
  std::uint64_t limit(std::uint64_t offset, std::int64_t line) {
    std::unique_lock lock(mu_);
    settled_.wait(lock, [&] { return offset < end_ || !old_end_; });
    at_ = offset;
    at_line_ = line;
    limit_ = offset >= end_ ? end_ : std::min(end_, offset + lease);
    return limit_;
  }

  // The reader opened again at its last commit, the start of the line numbered `line` (a
  // rollback): the range keeps the end that splits gave it.
  void resume(std::uint64_t offset, std::int64_t line) {
    std::lock_guard lock(mu_);
    limit_ = at_ = offset;
    at_line_ = line;
  }

  [[nodiscard]] std::uint64_t remaining() const override {
    std::lock_guard lock(mu_);
    return old_end_ || end_ <= limit_ ? 0 : end_ - limit_;
  }

  std::optional<split_result> split(const partition_values& own, std::uint64_t min_rest) override {
    std::uint64_t cut = 0;
    std::uint64_t from = 0;
    std::int64_t from_line = 0;
    std::uint64_t end = 0;
    {
      std::lock_guard lock(mu_);
      if (old_end_ || end_ <= limit_ || end_ - limit_ < 2 * std::max<std::uint64_t>(min_rest, 1)) return std::nullopt;
      file_descriptor fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return std::nullopt;  // the reader reports a file that went away
      cut = next_line_start(fd.get(), path_, limit_ + (end_ - limit_) / 2, end_);
      if (cut >= end_ || end_ - cut < min_rest) return std::nullopt;  // long lines: too little to give
      from = at_;
      from_line = at_line_;
      end = end_;
      old_end_ = end_;
      end_ = cut;
    }
    try {
      split_result r{own, own};
      r.kept.set("partition.end", {static_cast<std::int64_t>(cut), false});
      r.rest.set("partition.begin", {static_cast<std::int64_t>(cut), false});
      r.rest.set("partition.end", {static_cast<std::int64_t>(end), false});
      r.rest.set("partition.line", {from_line + count_newlines(path_, cut, from), false});
      r.rest.set("partition.line_anchor", {static_cast<std::int64_t>(anchor_), false});
      return r;
    } catch (...) {
      settle(false);
      throw;
    }
  }

  void settle(bool committed) override {
    {
      std::lock_guard lock(mu_);
      if (!old_end_) return;
      if (!committed) end_ = *old_end_;
      old_end_.reset();
    }
    settled_.notify_all();
  }

 private:
  static constexpr std::uint64_t lease = std::uint64_t{1} << 20;
  const std::string path_;
  const std::uint64_t anchor_;
  mutable std::mutex mu_;
  std::condition_variable settled_;
  std::uint64_t end_;
  std::uint64_t limit_;                   // the reader reads lines that start before it
  std::uint64_t at_;                      // where the reader asked last, and that line's number
  std::int64_t at_line_;
  std::optional<std::uint64_t> old_end_;  // while a split waits for settle()
};

csv_input::csv_input(std::string path_pattern, csv_options options, std::string name)
    : pattern_(std::move(path_pattern)), options_(std::move(options)), keys_(name) {
  const char d = options_.delimiter;
  const char q = options_.quote;
  if (d == q || d == '\n' || d == '\r' || q == '\n' || q == '\r') {
    throw std::invalid_argument("flat_file_reader '" + name +
                                "': the delimiter and the quote must differ from each other and from line breaks");
  }
  if (!options_.header && options_.columns.empty()) {
    throw std::invalid_argument("flat_file_reader '" + name + "': csv_options::columns is required when header is false");
  }
}

void csv_input::open(step_context& ctx) {
  path_ = ctx.resolve(pattern_);
  record_.file_ = &path_;
  record_.columns_ = &columns_;
  record_.input_ = this;
  columns_ = options_.columns;
  range_end_.reset();
  uncounted_ = 0;
  line_base_.reset();
  std::optional<std::uint64_t> range_begin;
  std::optional<std::int64_t> range_line;  // the number of the range's first line, when the plan gives it
  std::uint64_t anchor = 0;  // partition.line leaves out the lines before it
  if (options_.partition_range && ctx.parameters().contains("partition.begin")) {
    const auto& p = ctx.parameters();
    range_begin = static_cast<std::uint64_t>(p.get_int64("partition.begin"));
    if (p.contains("partition.line")) range_line = p.get_int64("partition.line");
    if (p.contains("partition.line_anchor")) anchor = static_cast<std::uint64_t>(p.get_int64("partition.line_anchor"));
    range_end_ = static_cast<std::uint64_t>(p.get_int64("partition.end"));
  }
  open_at_saved_position(*lines_, path_, keys_, ctx.context(), [&] {
    if (options_.header && parse_record() && options_.columns.empty()) {
      columns_.clear();
      for (auto f : record_.fields_) columns_.emplace_back(trim(f));
    }
    if (range_begin && *range_begin > lines_->offset()) {
      // Without the plan's line number, lines are numbered from the range and the lines before
      // it counted when a number is first needed (line_base()): a partition without errors
      // never reads the part of the file before its range.
      lines_->seek(*range_begin, range_line.value_or(1));
      uncounted_ = range_line ? anchor : *range_begin;
    }
  });
  limit_ = range_end_.value_or(std::numeric_limits<std::uint64_t>::max());
  if (range_end_ && ctx.split_slot()) {
    // A rebalanced partition: the range may be split while it is read. Opened again after a
    // rollback, the reader keeps its range as splits left it, not as the plan first gave it.
    if (split_ && slot_ == ctx.split_slot()) {
      split_->resume(lines_->offset(), lines_->line());
    } else {
      split_ = std::make_shared<line_range_split>(path_, lines_->offset(), lines_->line(), *range_end_, uncounted_);
      slot_ = ctx.split_slot();
    }
    slot_->offer(split_.get());
    limit_ = 0;
  }
}

void csv_input::close() noexcept {
  // No split while closed; split_ keeps the range for a reopen.
  if (slot_) slot_->offer(nullptr);
  lines_->close();
}

void csv_input::update(execution_context& ctx) const {
  if (lines_->is_open()) keys_.save(ctx, *lines_);
}

std::int64_t csv_input::line_base() const {
  if (uncounted_ == 0) return 0;
  if (!line_base_) line_base_ = lines_before(path_, uncounted_);
  return *line_base_;
}

const csv_record* csv_input::next() {
  record_.file_ = &path_;
  record_.columns_ = &columns_;
  record_.input_ = this;
  if (lines_->offset() >= limit_) {
    if (!split_) return nullptr;
    limit_ = split_->limit(lines_->offset(), lines_->line());
    if (lines_->offset() >= limit_) return nullptr;
  }
  if (!parse_record()) return nullptr;
  if (options_.strict_field_count && record_.fields_.size() != columns_.size()) {
    throw parse_error(path_, record_.line(), "",
                      "expected " + std::to_string(columns_.size()) + " fields, found " +
                          std::to_string(record_.fields_.size()));
  }
  return &record_;
}

bool csv_input::parse_record() {
  auto& fields = record_.fields_;
  fields.clear();
  std::optional<std::string_view> line;
  do {
    line = lines_->next_line();
    if (!line) return false;
  } while (line->empty());
  record_.line_ = lines_->line() - 1;
  record_.next_guess_ = 0;

  const char* p = line->data();
  const char* const end = p + line->size();
  if (!std::memchr(p, options_.quote, line->size())) {
    const char d = options_.delimiter;
    for (;;) {
      const auto* next = static_cast<const char*>(std::memchr(p, d, static_cast<std::size_t>(end - p)));
      if (!next) {
        fields.emplace_back(p, static_cast<std::size_t>(end - p));
        return true;
      }
      fields.emplace_back(p, static_cast<std::size_t>(next - p));
      p = next + 1;
    }
  }
  parse_quoted_record(*line);
  return true;
}

void csv_input::parse_quoted_record(std::string_view line) {
  const char d = options_.delimiter;
  const char q = options_.quote;
  spans_.clear();
  scratch_.clear();
  std::size_t pos = 0;
  for (;;) {
    if (pos < line.size() && line[pos] == q) {
      // A quoted field; its text stays a view into the line unless it holds a doubled quote or a
      // line break, which move it to scratch_.
      std::size_t begin = ++pos;
      bool in_scratch = false;
      for (;;) {
        const auto close = line.find(q, pos);
        if (close == std::string_view::npos) {
          // The field goes on in the next physical line, which may reuse this line's buffer.
          if (!in_scratch) {
            spill_fields(line, false, begin);
            const std::size_t at = scratch_.size();
            scratch_.append(line.substr(begin));
            begin = at;
            in_scratch = true;
          } else {
            scratch_.append(line.substr(pos));
            spill_fields(line, true, begin);
          }
          scratch_.append(lines_->last_terminator());
          auto more = lines_->next_line();
          if (!more) {
            throw parse_error(path_, record_.line(), field_name(spans_.size()),
                              "quoted field is not closed before the end of the file");
          }
          line = *more;
          pos = 0;
          continue;
        }
        if (close + 1 < line.size() && line[close + 1] == q) {
          if (!in_scratch) {
            const std::size_t at = scratch_.size();
            scratch_.append(line.substr(begin, close + 1 - begin));
            begin = at;
            in_scratch = true;
          } else {
            scratch_.append(line.substr(pos, close + 1 - pos));
          }
          pos = close + 2;
          continue;
        }
        if (in_scratch) {
          scratch_.append(line.substr(pos, close - pos));
          spans_.push_back({begin, scratch_.size() - begin, true});
        } else {
          spans_.push_back({begin, close - begin, false});
        }
        pos = close + 1;
        break;
      }
      if (pos < line.size() && line[pos] != d) {
        throw parse_error(path_, record_.line(), field_name(spans_.size() - 1),
                          std::string("unexpected text after the closing quote: '") + line[pos] + "'");
      }
    } else {
      const auto next = line.find(d, pos);
      const auto stop = next == std::string_view::npos ? line.size() : next;
      spans_.push_back({pos, stop - pos, false});
      pos = stop;
    }
    if (pos >= line.size()) break;
    ++pos;  // the delimiter
    if (pos == line.size()) {
      spans_.push_back({pos, 0, false});
      break;
    }
  }
  auto& fields = record_.fields_;
  for (const auto& s : spans_) {
    fields.emplace_back((s.in_scratch ? scratch_.data() : line.data()) + s.begin, s.length);
  }
}

void csv_input::spill_fields(std::string_view line, bool current_in_scratch, std::size_t& current_begin) {
  // Earlier fields of the record precede the current field, which may already be in scratch_.
  std::size_t at = current_in_scratch ? current_begin : scratch_.size();
  for (auto& s : spans_) {
    if (s.in_scratch) continue;
    scratch_.insert(at, line.data() + s.begin, s.length);
    s = {at, s.length, true};
    at += s.length;
  }
  if (current_in_scratch) current_begin = at;
}

std::string csv_input::field_name(std::size_t index) const {
  if (index < columns_.size()) return columns_[index];
  std::string name = "#";
  name += std::to_string(index + 1);
  return name;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// csv_line

void csv_line::separate() {
  if (!first_) *out_ += delimiter_;
  first_ = false;
}

void csv_line::add(std::string_view s) {
  separate();
  const char specials[] = {delimiter_, quote_, '\r', '\n'};
  if (s.find_first_of(std::string_view(specials, sizeof specials)) == std::string_view::npos) {
    *out_ += s;
    return;
  }
  *out_ += quote_;
  for (;;) {
    const auto q = s.find(quote_);
    if (q == std::string_view::npos) break;
    out_->append(s.substr(0, q + 1));
    *out_ += quote_;
    s.remove_prefix(q + 1);
  }
  *out_ += s;
  *out_ += quote_;
}

void csv_line::add(std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  add(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

void csv_line::add_unsigned(std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  add(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
}

void csv_line::add(double v) {
  char buf[64];
  const auto r = fmt::format_to_n(buf, sizeof buf, "{}", v);
  add(std::string_view(buf, r.size));
}

}  // namespace kiln
