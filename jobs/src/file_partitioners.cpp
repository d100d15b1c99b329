#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_io.hpp>
#include <kiln/jobs/file_partitioners.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <fnmatch.h>
#include <memory>
#include <unistd.h>

namespace kiln {

namespace fs = std::filesystem;

partitioner file_partitioner(std::string directory, std::string glob) {
  return [directory = std::move(directory), glob = std::move(glob)](const step_context& ctx, std::int64_t) {
    const std::string dir = ctx.resolve(directory);
    const std::string pattern = ctx.resolve(glob);
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) throw io_error("cannot list directory '" + dir + "': " + ec.message());
    std::vector<fs::path> files;
    for (const auto& entry : it) {
      if (!entry.is_regular_file(ec)) continue;
      if (::fnmatch(pattern.c_str(), entry.path().filename().c_str(), 0) == 0) files.push_back(entry.path());
    }
    if (files.empty()) {
      throw io_error("no file in '" + dir + "' matches '" + pattern + "'; check the directory and the pattern");
    }
    std::sort(files.begin(), files.end());
    std::vector<partition_values> out;
    for (const auto& f : files) {
      partition_values p;
      p.set("partition.file", {f.string(), false});
      p.set("partition.name", {f.filename().string(), false});
      p.set("partition.stem", {f.stem().string(), false});
      out.push_back(std::move(p));
    }
    return out;
  };
}

partitioner line_range_partitioner(std::string path) {
  return [path = std::move(path)](const step_context& ctx, std::int64_t grid_size) {
    const std::string file = ctx.resolve(path);
    const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, grid_size));
    detail::file_descriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw io_error("cannot open '" + file + "': " + std::strerror(errno));
    std::error_code ec;
    const auto size = static_cast<std::uint64_t>(fs::file_size(file, ec));
    if (ec) throw io_error("cannot size '" + file + "': " + ec.message());

    // Boundary i (1..n-1) is the first line start at or after i*size/n; one pass counts lines.
    std::vector<std::uint64_t> begin(n + 1, size);
    std::vector<std::int64_t> line(n + 1, 1);
    begin[0] = 0;
    std::size_t next = 1;
    auto target = [&](std::size_t i) { return i * size / n; };
    while (next < n && target(next) == 0) {
      begin[next] = 0;
      ++next;
    }
    std::int64_t lines_before = 0;  // newlines before the current position
    std::uint64_t offset = 0;
    constexpr std::size_t buffer_size = 1 << 20;
    auto buffer = std::make_unique<char[]>(buffer_size);
    while (next < n) {
      const auto got = ::read(fd.get(), buffer.get(), buffer_size);
      if (got < 0) throw io_error("cannot read '" + file + "': " + std::strerror(errno));
      if (got == 0) break;
      const char* p = buffer.get();
      const char* const end = p + got;
      while (next < n) {
        const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (!nl) break;
        ++lines_before;
        const std::uint64_t line_start = offset + static_cast<std::uint64_t>(nl - buffer.get()) + 1;
        while (next < n && line_start >= target(next)) {
          begin[next] = line_start;
          line[next] = lines_before + 1;
          ++next;
        }
        p = nl + 1;
      }
      offset += static_cast<std::uint64_t>(got);
    }
    for (std::size_t i = next; i < n; ++i) line[i] = lines_before + 1;
    std::vector<partition_values> out;
    for (std::size_t i = 0; i < n; ++i) {
      partition_values p;
      p.set("partition.begin", {static_cast<std::int64_t>(begin[i]), false});
      p.set("partition.end", {static_cast<std::int64_t>(begin[i + 1]), false});
      p.set("partition.line", {line[i], false});
      out.push_back(std::move(p));
    }
    return out;
  };
}

}  // namespace kiln
