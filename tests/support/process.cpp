#include "support/process.hpp"

#include "support/temp_dir.hpp"

#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace kiln::test {

namespace {
std::atomic<int> counter{0};
}

child_process::child_process(const std::string& program, const std::vector<std::string>& args,
                             const std::filesystem::path& cwd) {
  const int n = counter++;
  out_ = cwd / ("child-" + std::to_string(n) + ".out");
  err_ = cwd / ("child-" + std::to_string(n) + ".err");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Children start with default signal handling, whatever the test runner set.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const int rc = posix_spawn(&pid_, program.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start " + program);
}

child_process::~child_process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

void child_process::kill(int sig) const { ::kill(pid_, sig); }

bool child_process::running() {
  if (reaped_) return false;
  const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

std::string child_process::out() const { return read_file(out_); }

std::string child_process::err() const { return read_file(err_); }

process_result child_process::wait(double timeout_s) {
  if (!reaped_) {
    if (!wait_until([&] { return !running(); }, timeout_s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
      throw std::runtime_error("child process timed out");
    }
  }
  process_result r;
  if (WIFEXITED(status_)) r.exit_code = WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) r.signal = WTERMSIG(status_);
  r.out = read_file(out_);
  r.err = read_file(err_);
  return r;
}

process_result run_process(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& cwd, double timeout_s) {
  child_process p(program, args, cwd);
  return p.wait(timeout_s);
}

}  // namespace kiln::test
