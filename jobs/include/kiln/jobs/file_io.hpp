#pragma once
// Low-level file access shared by the ready-made file items (flat_file.hpp, jsonl.hpp): a buffered
// line reader that knows its byte offset and line number, and a buffered output file that can be
// restarted at the position of its last commit. Public only because the item templates use it;
// not a stable API.
//
// Not thread-safe; like the items built on it, one object serves one step execution.

#include <kiln/execution_context.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kiln {
class step_context;
}

namespace kiln::detail {

// A member holding per-execution state (an open file, a parser) that a copy of its owner must
// neither share nor inherit: a copy starts default-constructed. Lets the items stay copyable
// configurations, as chunk_step copies its reader and writer for every step execution.
template <class T>
class fresh_on_copy {
 public:
  fresh_on_copy() = default;
  fresh_on_copy(const fresh_on_copy& /*other*/) : value_() {}
  fresh_on_copy& operator=(const fresh_on_copy& other) {
    if (this != &other) value_ = T();
    return *this;
  }
  fresh_on_copy(fresh_on_copy&&) noexcept = default;
  fresh_on_copy& operator=(fresh_on_copy&&) noexcept = default;
  ~fresh_on_copy() = default;

  T& operator*() { return value_; }
  const T& operator*() const { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }

 private:
  T value_;
};

// An owned POSIX file descriptor; closed on destruction.
class file_descriptor {
 public:
  file_descriptor() = default;
  explicit file_descriptor(int fd) : fd_(fd) {}
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  file_descriptor(file_descriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  file_descriptor& operator=(file_descriptor&& other) noexcept;
  ~file_descriptor() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  // Closes the descriptor; returns false (errno set) when close(2) reported an error.
  bool reset() noexcept;

 private:
  int fd_ = -1;
};

// Reads a file line by line through a 1 MiB buffer (grown for longer lines). Lines are returned
// as views into the buffer, without copying. A UTF-8 byte order mark at the start is skipped.
// All failures throw io_error naming the path and the system's reason.
class line_reader {
 public:
  line_reader() = default;
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;
  line_reader(line_reader&&) noexcept = default;
  line_reader& operator=(line_reader&&) noexcept = default;
  ~line_reader() = default;

  void open(std::string path);
  void close() noexcept;
  [[nodiscard]] bool is_open() const { return fd_.valid(); }

  // Continues reading at byte `offset`, which must be the start of a line, and numbers that line
  // `line`. Throws io_error when the offset lies beyond the end of the file.
  void seek(std::uint64_t offset, std::int64_t line);

  // The next physical line without its terminator ("\n" or "\r\n"), or nullopt at the end of the
  // file. Valid until the next call of next_line(), seek() or close().
  std::optional<std::string_view> next_line();
  // The terminator of the line next_line() returned last: "\n", "\r\n", or "" for a last line
  // without one.
  [[nodiscard]] std::string_view last_terminator() const { return terminator_; }

  // Byte offset and 1-based line number of the next unread line.
  [[nodiscard]] std::uint64_t offset() const { return offset_; }
  [[nodiscard]] std::int64_t line() const { return line_; }
  // Size of the file when it was opened.
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  // Reads more bytes after the unread ones; false at the end of the file.
  bool fill();

  std::string path_;
  file_descriptor fd_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  bool eof_ = false;
  std::uint64_t offset_ = 0;
  std::int64_t line_ = 1;
  std::uint64_t size_ = 0;
  std::uint64_t bom_size_ = 0;
  std::string_view terminator_;
};

// The position of a reader as saved in the execution context under "<name>.offset" and
// "<name>.line".
struct read_position {
  std::uint64_t offset = 0;
  std::int64_t line = 1;
};

// Keys and values of a reader's restart state.
class position_keys {
 public:
  explicit position_keys(const std::string& name) : offset_(name + ".offset"), line_(name + ".line") {}
  // The saved position, or nullopt when the context holds none. Throws io_error when the saved
  // values are not non-negative whole numbers.
  [[nodiscard]] std::optional<read_position> load(const execution_context& ctx) const;
  void save(execution_context& ctx, const line_reader& lines) const;

 private:
  std::string offset_;
  std::string line_;
};

// Opens `lines` at the resolved `path` and, on restart, continues at the saved position.
// `before_seek` runs after opening and before seeking (a header is read there).
template <class F>
void open_at_saved_position(line_reader& lines, std::string path, const position_keys& keys,
                            const execution_context& ctx, F&& before_seek) {
  lines.open(std::move(path));
  std::forward<F>(before_seek)();
  if (auto pos = keys.load(ctx)) lines.seek(pos->offset, pos->line);
}

// The fraction of `lines` consumed, or nullopt when it is not open.
std::optional<double> fraction_done(const line_reader& lines);

// The number of '\n' bytes in bytes [begin, end) of the file at `path` (fewer if the file is
// shorter): with begin 0, the number of lines before offset `end`. Throws io_error when it cannot
// be read.
std::int64_t count_newlines(const std::string& path, std::uint64_t end, std::uint64_t begin = 0);

// count_newlines(path, end), remembered for the file as it is (device, inode, size, modification
// time): the partitions that rebalancing splits off one range count from the same offset, and
// would otherwise each read the file up to it. Keeps at most 64 counts per process.
std::int64_t lines_before(const std::string& path, std::uint64_t end);

// The first line start at or after `target` (> 0) in the open file `fd` (`path`, for errors) of
// `size` bytes: the byte after the first '\n' at or after target - 1, found by reading forward
// from there (one line, as a rule); `size` when there is none.
std::uint64_t next_line_start(int fd, const std::string& path, std::uint64_t target, std::uint64_t size);

// An output file that restarts exactly at its last commit. The context of a commit holds
// "<name>.offset" (bytes in the file) and "<name>.written" (item lines written, not counting a
// header); open() with such a context truncates the file to that offset, so after a crash and
// restart the output equals that of an uninterrupted run. Lines are buffered in memory and reach
// the kernel at flush(), which the step calls before a checkpoint holding their offset goes to the
// command log (item_stream::flush), or when the buffer exceeds 128 KiB at the end of a write; with
// force_sync, flush() also waits until they are on disk. Failures throw io_error naming the path
// and the system's reason.
class restartable_output {
 public:
  restartable_output(std::string path_pattern, bool force_sync, std::string name);

  // Opens the file at ctx.resolve(path_pattern). Returns true when the file was started fresh
  // (the caller then writes its header into buffer()), false when it continues a commit.
  bool open(step_context& ctx);
  // Appends every item as one line: `format(item, buffer)` appends the line without its newline.
  // All or nothing: when `format` throws, the lines of this call are discarded.
  template <class Items, class Format>
  void append_lines(const Items& items, Format&& format);
  // Saves the commit position into ctx: the end of the lines appended so far, buffered or not.
  void update(execution_context& ctx);
  // Hands the buffered bytes to the kernel (and with force_sync, waits until they are on disk).
  void flush();
  // Hands the buffered bytes to the kernel and closes; never throws (the next restart truncates
  // whatever was not committed).
  void close() noexcept;

  // The pending bytes; text appended here goes to the file as is (used for headers).
  [[nodiscard]] std::string& buffer() { return buffer_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::int64_t lines_written() const { return written_; }

  // Bytes buffered before a write hands them to the kernel without waiting for flush(). Small
  // enough for the buffer to stay in a core's L2 cache: at 1 MiB, copying it into the page cache
  // took the benchmark's loop thread 0.2-0.4 s of kernel time per 5M rows, at 64-256 KiB 0.1 s.
  static constexpr std::size_t flush_threshold = std::size_t{128} << 10;

 private:
  void require_open() const;
  void write_out();

  std::string pattern_;
  bool force_sync_;
  std::string offset_key_;
  std::string written_key_;

  std::string path_;
  fresh_on_copy<file_descriptor> fd_;
  std::string buffer_;
  std::uint64_t file_size_ = 0;  // bytes handed to the kernel
  std::int64_t written_ = 0;
  bool sync_directory_ = false;  // a fresh file's directory entry is not yet durable
  bool unsynced_ = false;        // bytes written since the last fdatasync (force_sync)
};

template <class Items, class Format>
void restartable_output::append_lines(const Items& items, Format&& format) {
  require_open();
  const std::size_t mark = buffer_.size();
  const std::int64_t written = written_;
  try {
    for (const auto& item : items) {
      format(item, buffer_);
      buffer_ += '\n';
      ++written_;
    }
  } catch (...) {
    buffer_.resize(mark);
    written_ = written;
    throw;
  }
  if (buffer_.size() >= flush_threshold) write_out();
}

}  // namespace kiln::detail
