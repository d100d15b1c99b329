#include "child_process.hpp"

#include "tasklet_support.hpp"

#include <kiln/jobs/file_io.hpp>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kiln::detail {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t max_log_line = 16 * 1024;  // longer lines are logged in pieces
constexpr auto poll_interval = std::chrono::milliseconds(20);
constexpr auto drain_after_exit = std::chrono::seconds(1);  // for descendants holding the pipes

// One output stream of the child: each line to the log as it completes, the last bytes kept.
class output_capture {
 public:
  output_capture(std::string label, spdlog::level::level_enum level, std::size_t tail)
      : label_(std::move(label)), level_(level), tail_(tail) {}

  void feed(std::string_view bytes) {
    tail_.append(bytes);
    while (!bytes.empty()) {
      const auto nl = bytes.find('\n');
      if (nl == std::string_view::npos) {
        line_.append(bytes);
        if (line_.size() >= max_log_line) emit();
        return;
      }
      line_.append(bytes.substr(0, nl));
      emit();
      bytes.remove_prefix(nl + 1);
    }
  }
  void finish() {
    if (!line_.empty()) emit();
  }
  [[nodiscard]] std::string tail() const { return tail_.text(); }

 private:
  void emit() {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    spdlog::log(level_, "{}: {}", label_, line_);
    line_.clear();
  }

  std::string label_;
  spdlog::level::level_enum level_;
  detail::tail_buffer tail_;
  std::string line_;
};

// posix_spawn takes char* const[] but does not modify the strings.
std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string spawn_error_text(const std::string& program, int err) {
  const bool searched = program.find('/') == std::string::npos;
  if (err == ENOENT) {
    return searched ? "program '" + program + "' not found in PATH" : "program '" + program + "' not found";
  }
  if (err == EACCES) return "program '" + program + "' is not executable (permission denied)";
  return "cannot start program '" + program + "': " + std::strerror(err);
}

// A started child process, leader of its own process group. Until it is reaped its pid (and so
// its group id) cannot be reused, so signalling the group is safe; the destructor kills and reaps
// a child the tasklet leaves behind (an exception).
class child_process {
 public:
  child_process() = default;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  void start(const spawn_spec& spec, int out_fd, int err_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
    if (!spec.working_directory.empty()) {
      posix_spawn_file_actions_addchdir_np(&actions, spec.working_directory.c_str());
    }
    // `kiln run` blocks SIGINT/SIGTERM in its threads, and a library may ignore SIGPIPE; both
    // would be inherited. The child starts with nothing blocked and default handling.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    auto argv = c_strings(spec.argv);
    auto envp = c_strings(spec.envp);
    const int rc = ::posix_spawnp(&pid_, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      throw spawn_failure(spawn_error_text(spec.argv[0], rc));
    }
  }

  [[nodiscard]] pid_t pid() const { return pid_; }

  // Whether the child has ended, without reaping it; fills `info` when it has.
  bool ended(siginfo_t& info) {
    info = {};
    const int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc != 0) {
      if (errno == EINTR) return false;
      throw std::runtime_error(std::string("cannot watch the child process: ") + std::strerror(errno));
    }
    return info.si_pid == pid_;
  }

  void signal_group(int sig) const { ::kill(-pid_, sig); }

  void reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

std::pair<file_descriptor, file_descriptor> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  file_descriptor read_end(fds[0]);
  file_descriptor write_end(fds[1]);
  ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);
  return {std::move(read_end), std::move(write_end)};
}

struct open_stream {
  file_descriptor fd;
  output_capture* capture;
};

// Reads what is available; returns false at the end of the stream.
bool drain(open_stream& s, char* buf, std::size_t size) {
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = ::read(s.fd.get(), buf, size);
    if (n > 0) {
      s.capture->feed(std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

}  // namespace

run_result run_program(const spawn_spec& spec, const step_context& ctx, const run_limits& limits) {
  const std::string label = "step '" + ctx.step_name() + "'";
  output_capture out(label + " stdout", spdlog::level::info, limits.tail_bytes);
  output_capture err(label + " stderr", spdlog::level::warn, limits.tail_bytes);
  auto [out_read, out_write] = make_pipe();
  auto [err_read, err_write] = make_pipe();

  run_result r;
  const auto started = clock::now();
  child_process child;
  child.start(spec, out_write.get(), err_write.get());
  out_write.reset();
  err_write.reset();
  spdlog::info("{}: started {} (pid {})", label, display_command(spec.argv), child.pid());

  std::vector<open_stream> streams;
  streams.push_back({std::move(out_read), &out});
  streams.push_back({std::move(err_read), &err});
  const auto deadline = limits.timeout.count() > 0 ? started + limits.timeout : clock::time_point::max();
  std::optional<clock::time_point> kill_at;
  std::optional<clock::time_point> ended_at;
  siginfo_t info{};
  std::vector<char> buf(64 * 1024);

  for (;;) {
    const auto now = clock::now();
    if (!ended_at && child.ended(info)) ended_at = now;
    if (ended_at) {
      if (streams.empty() || now - *ended_at >= drain_after_exit) break;
    } else if (!kill_at) {
      if (now >= deadline) {
        r.timed_out = true;
        spdlog::warn("{}: timed out after {}; sending SIGTERM", label, format_duration(limits.timeout));
      } else if (ctx.stop_requested()) {
        r.stopped = true;
        spdlog::warn("{}: stop requested; sending SIGTERM to the command", label);
      }
      if (r.timed_out || r.stopped) {
        child.signal_group(SIGTERM);
        kill_at = now + limits.kill_grace;
      }
    } else if (now >= *kill_at && !r.killed) {
      spdlog::warn("{}: still running {} after SIGTERM; sending SIGKILL", label,
                   format_duration(limits.kill_grace));
      child.signal_group(SIGKILL);
      r.killed = true;
    }

    if (streams.empty()) {
      // Both pipes are closed: the child is ending (or closed them and runs on).
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    pollfd fds[2];
    for (std::size_t i = 0; i < streams.size(); ++i) fds[i] = {streams[i].fd.get(), POLLIN, 0};
    const int ready =
        ::poll(fds, static_cast<nfds_t>(streams.size()), static_cast<int>(poll_interval.count()));
    if (ready < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("cannot read the command's output: ") + std::strerror(errno));
    }
    if (ready <= 0) continue;
    for (std::size_t i = streams.size(); i-- > 0;) {
      if (fds[i].revents == 0) continue;
      if (!drain(streams[i], buf.data(), buf.size()))
        streams.erase(streams.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  child.reap();
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
  out.finish();
  err.finish();
  if (info.si_code == CLD_EXITED) {
    r.exit_code = info.si_status;
  } else {
    r.signal = info.si_status;
  }
  r.out_tail = out.tail();
  r.err_tail = err.tail();
  return r;
}

std::string display_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace kiln::detail
