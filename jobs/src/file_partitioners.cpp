#include <kiln/exceptions.hpp>
#include <kiln/jobs/file_io.hpp>
#include <kiln/jobs/file_partitioners.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

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
      throw io_error("no file in '" + dir + "' matches '" + pattern +
                     "'; check the directory and the pattern");
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

partitioner line_range_partitioner(std::string path, partition_weight weight) {
  return [path = std::move(path), weight = std::move(weight)](const step_context& ctx, std::int64_t grid_size) {
    const std::string file = ctx.resolve(path);
    const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, grid_size));
    detail::file_descriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw io_error("cannot open '" + file + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw io_error("cannot size '" + file + "': " + std::strerror(errno));
    const auto size = static_cast<std::uint64_t>(st.st_size);

    // Boundary i (1..n-1) is the first line start at or after target i (i*size/n when the
    // partitions weigh the same), so planning costs the same for any size.
    std::vector<double> cumulative(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double w = weight ? weight(i, n) : 1.0;
      if (!(w > 0.0) || !std::isfinite(w)) {
        throw std::invalid_argument("line_range_partitioner: the weight of partition " + std::to_string(i) +
                                    " is " + std::to_string(w) + "; weights must be positive");
      }
      cumulative[i + 1] = cumulative[i] + w;
    }
    auto target_of = [&](std::size_t i) {
      return std::min(size, static_cast<std::uint64_t>(static_cast<double>(size) * (cumulative[i] / cumulative[n])));
    };
    std::vector<std::uint64_t> begin(n + 1, size);
    begin[0] = 0;
    for (std::size_t i = 1; i < n; ++i) {
      const std::uint64_t target = weight ? target_of(i) : i * size / n;
      // No line starts between the two targets: the partition is empty.
      begin[i] = begin[i - 1] >= target ? begin[i - 1] : detail::next_line_start(fd.get(), file, target, size);
    }
    std::vector<partition_values> out;
    for (std::size_t i = 0; i < n; ++i) {
      partition_values p;
      p.set("partition.begin", {static_cast<std::int64_t>(begin[i]), false});
      p.set("partition.end", {static_cast<std::int64_t>(begin[i + 1]), false});
      out.push_back(std::move(p));
    }
    return out;
  };
}

}  // namespace kiln
