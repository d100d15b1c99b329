#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_io.hpp>
#include <kiln/step_context.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kiln::detail {

namespace {

constexpr std::size_t read_buffer_size = std::size_t{1} << 20;

std::string system_reason(int err) { return std::strerror(err); }

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err) {
  throw io_error(what + " '" + path + "': " + system_reason(err));
}

std::uint64_t file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io("cannot inspect", path, errno);
  return static_cast<std::uint64_t>(st.st_size);
}

std::optional<std::int64_t> load_int(const execution_context& ctx, const std::string& key) {
  const auto* v = ctx.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  if (v->is_double() && v->get_double() >= 0 && v->get_double() < 9.0e18 &&
      static_cast<double>(static_cast<std::int64_t>(v->get_double())) == v->get_double()) {
    return static_cast<std::int64_t>(v->get_double());
  }
  throw io_error("restart state '" + key + "' is not a non-negative whole number");
}

void fsync_directory_of(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  file_descriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) throw_io("cannot open the directory of", path, errno);
  if (::fsync(fd.get()) != 0) throw_io("cannot sync the directory of", path, errno);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// file_descriptor

file_descriptor& file_descriptor::operator=(file_descriptor&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool file_descriptor::reset() noexcept {
  if (fd_ < 0) return true;
  // close(2) must not be retried on EINTR on Linux: the descriptor is released either way.
  const int rc = ::close(std::exchange(fd_, -1));
  return rc == 0;
}

// ---------------------------------------------------------------------------------------------
// line_reader

void line_reader::open(std::string path) {
  close();
  path_ = std::move(path);
  file_descriptor fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_io("cannot open input file", path_, errno);
  size_ = file_size(fd.get(), path_);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  fd_ = std::move(fd);
  if (!buffer_) {
    buffer_ = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    capacity_ = read_buffer_size;
  }
  begin_ = end_ = 0;
  eof_ = false;
  offset_ = 0;
  line_ = 1;
  bom_size_ = 0;
  terminator_ = {};
  while (end_ < 3 && fill()) {
  }
  if (end_ >= 3 && std::memcmp(buffer_.get(), "\xEF\xBB\xBF", 3) == 0) {
    begin_ = 3;
    offset_ = bom_size_ = 3;
  }
}

void line_reader::close() noexcept {
  fd_.reset();
  begin_ = end_ = 0;
  eof_ = false;
  terminator_ = {};
}

void line_reader::seek(std::uint64_t offset, std::int64_t line) {
  if (!is_open()) throw std::logic_error("line_reader::seek() before open()");
  if (offset > size_) {
    throw io_error("cannot continue reading '" + path_ + "' at byte " + std::to_string(offset) +
                   ": the file has only " + std::to_string(size_) +
                   " bytes; it was changed since the last run");
  }
  if (offset < bom_size_) offset = bom_size_;
  if (::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    throw_io("cannot seek in", path_, errno);
  }
  begin_ = end_ = 0;
  eof_ = false;
  offset_ = offset;
  line_ = line;
  terminator_ = {};
}

bool line_reader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity_ * 2);
    std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ *= 2;
  }
  for (;;) {
    const ::ssize_t n = ::read(fd_.get(), buffer_.get() + end_, capacity_ - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) throw_io("cannot read", path_, errno);
  }
}

std::optional<std::string_view> line_reader::next_line() {
  if (!is_open()) throw std::logic_error("line_reader::next_line() before open()");
  std::size_t scanned = 0;  // bytes after begin_ known to hold no '\n'
  for (;;) {
    const char* start = buffer_.get() + begin_;
    const std::size_t available = end_ - begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start + scanned, '\n', available - scanned));
    std::size_t length = 0;
    std::size_t consumed = 0;
    if (nl) {
      length = static_cast<std::size_t>(nl - start);
      consumed = length + 1;
      terminator_ = "\n";
    } else if (eof_ || !fill()) {
      if (available == 0) {
        terminator_ = {};
        return std::nullopt;
      }
      length = consumed = available;
      terminator_ = "";
    } else {
      scanned = available;
      continue;
    }
    if (length > 0 && start[length - 1] == '\r') {
      --length;
      terminator_ = nl ? std::string_view("\r\n") : std::string_view("\r");
    }
    begin_ += consumed;
    offset_ += consumed;
    ++line_;
    return std::string_view(start, length);
  }
}

std::optional<double> fraction_done(const line_reader& lines) {
  if (!lines.is_open()) return std::nullopt;
  if (lines.size() == 0) return 1.0;
  const double f = static_cast<double>(lines.offset()) / static_cast<double>(lines.size());
  return f > 1.0 ? 1.0 : f;
}

namespace {

// The number of '\n' in [p, p + n): 16 bytes at a time where SSE2 is available (std::count is not
// vectorized at -O2).
std::int64_t count_newlines_in(const char* p, std::size_t n) {
  std::int64_t count = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (n - i >= 16) {
    // Each byte of `hits` counts the newlines in its lane, so at most 255 blocks between sums.
    __m128i hits = zero;
    const std::size_t blocks = std::min<std::size_t>((n - i) / 16, 255);
    for (std::size_t b = 0; b < blocks; ++b, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      hits = _mm_sub_epi8(hits, _mm_cmpeq_epi8(v, newline));
    }
    const __m128i sums = _mm_sad_epu8(hits, zero);
    count += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
  }
#endif
  return count + std::count(p + i, p + n, '\n');
}

}  // namespace

std::int64_t count_newlines(const std::string& path, std::uint64_t end, std::uint64_t begin) {
  file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_io("cannot open input file", path, errno);
  constexpr std::size_t chunk = std::size_t{256} << 10;  // stays in the CPU's cache
  auto buffer = std::make_unique_for_overwrite<char[]>(chunk);
  std::int64_t count = 0;
  for (std::uint64_t at = begin; at < end;) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, end - at));
    const ::ssize_t n = ::pread(fd.get(), buffer.get(), want, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot read", path, errno);
    }
    if (n == 0) break;  // the file was shortened since
    count += count_newlines_in(buffer.get(), static_cast<std::size_t>(n));
    at += static_cast<std::uint64_t>(n);
  }
  return count;
}

std::int64_t lines_before(const std::string& path, std::uint64_t end) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_io("cannot inspect", path, errno);
  // The file as it is now: a changed file is another key.
  using key = std::tuple<dev_t, ino_t, off_t, std::int64_t, std::int64_t, std::uint64_t>;
  const key k{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, end};
  static std::mutex mu;
  static std::map<key, std::int64_t> counted;
  {
    std::lock_guard lock(mu);
    if (auto it = counted.find(k); it != counted.end()) return it->second;
  }
  const auto n = count_newlines(path, end);
  std::lock_guard lock(mu);
  if (counted.size() >= 64) counted.erase(counted.begin());
  counted.emplace(k, n);
  return n;
}

std::uint64_t next_line_start(int fd, const std::string& path, std::uint64_t target, std::uint64_t size) {
  char buffer[16 << 10];
  for (std::uint64_t at = target == 0 ? 0 : target - 1; at < size;) {
    const auto got = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(at));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot read", path, errno);
    }
    if (got == 0) break;
    if (const auto* nl = static_cast<const char*>(std::memchr(buffer, '\n', static_cast<std::size_t>(got)))) {
      return at + static_cast<std::uint64_t>(nl - buffer) + 1;
    }
    at += static_cast<std::uint64_t>(got);
  }
  return size;
}

// ---------------------------------------------------------------------------------------------
// position_keys

std::optional<read_position> position_keys::load(const execution_context& ctx) const {
  auto offset = load_int(ctx, offset_);
  if (!offset) return std::nullopt;
  auto line = load_int(ctx, line_);
  return read_position{static_cast<std::uint64_t>(*offset), line && *line > 0 ? *line : 1};
}

void position_keys::save(execution_context& ctx, const line_reader& lines) const {
  ctx[offset_] = static_cast<std::int64_t>(lines.offset());
  ctx[line_] = lines.line();
}

// ---------------------------------------------------------------------------------------------
// restartable_output

restartable_output::restartable_output(std::string path_pattern, bool force_sync, std::string name)
    : pattern_(std::move(path_pattern)),
      force_sync_(force_sync),
      offset_key_(name + ".offset"),
      written_key_(name + ".written") {}

bool restartable_output::open(step_context& ctx) {
  close();
  path_ = ctx.resolve(pattern_);
  buffer_.clear();
  written_ = 0;
  file_size_ = 0;
  sync_directory_ = false;
  unsynced_ = false;

  const auto offset = load_int(ctx.context(), offset_key_);
  if (!offset) {
    file_descriptor fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) throw_io("cannot create output file", path_, errno);
    *fd_ = std::move(fd);
    sync_directory_ = true;
    return true;
  }

  file_descriptor fd(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    throw io_error("cannot restart writing '" + path_ + "': " + system_reason(err) +
                   (err == ENOENT ? "; the output was changed outside Kiln" : ""));
  }
  const auto committed = static_cast<std::uint64_t>(*offset);
  const auto size = file_size(fd.get(), path_);
  if (size < committed) {
    throw io_error("cannot restart writing '" + path_ + "': it has " + std::to_string(size) +
                   " bytes but the last commit wrote " + std::to_string(committed) +
                   "; the output was changed outside Kiln");
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(committed)) != 0) {
    throw_io("cannot truncate output file", path_, errno);
  }
  if (::lseek(fd.get(), static_cast<off_t>(committed), SEEK_SET) < 0) {
    throw_io("cannot seek in output file", path_, errno);
  }
  *fd_ = std::move(fd);
  file_size_ = committed;
  written_ = load_int(ctx.context(), written_key_).value_or(0);
  return false;
}

void restartable_output::require_open() const {
  if (!fd_->valid()) throw std::logic_error("writer for '" + pattern_ + "' used before open()");
}

void restartable_output::write_out() {
  if (buffer_.empty()) return;
  unsynced_ = true;
  const char* p = buffer_.data();
  std::size_t left = buffer_.size();
  while (left > 0) {
    const ::ssize_t n = ::write(fd_->get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // Keep what did not reach the kernel so that a retried update() writes each byte once.
      buffer_.erase(0, buffer_.size() - left);
      throw_io("cannot write", path_, err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
    file_size_ += static_cast<std::uint64_t>(n);
  }
  buffer_.clear();
}

void restartable_output::update(execution_context& ctx) {
  require_open();
  ctx[offset_key_] = static_cast<std::int64_t>(file_size_ + buffer_.size());
  ctx[written_key_] = written_;
}

void restartable_output::flush() {
  require_open();
  write_out();
  if (!force_sync_) return;
  if (unsynced_) {
    if (::fdatasync(fd_->get()) != 0) throw_io("cannot sync", path_, errno);
    unsynced_ = false;
  }
  if (sync_directory_) {
    fsync_directory_of(path_);
    sync_directory_ = false;
  }
}

void restartable_output::close() noexcept {
  if (!fd_->valid()) return;
  try {
    write_out();
  } catch (...) {  // NOLINT(bugprone-empty-catch): uncommitted bytes are truncated on restart
  }
  fd_->reset();
  buffer_.clear();
}

}  // namespace kiln::detail
