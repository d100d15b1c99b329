// `kiln node`: a node in the foreground until SIGINT/SIGTERM.

#include "../signal_watcher.hpp"
#include "gateway.hpp"

#include <kiln/main.hpp>
#include <kiln/node.hpp>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>

namespace kiln {

int run_node(const registry& jobs, const node_options& options) {
  // Block the stop signals before any thread starts, so only the watcher receives them.
  signal_watcher::block_in_this_thread();
  auto n = node::start(jobs, options);
  if (!n) {
    std::fprintf(stderr, "kiln: %s\n", n.error().message().c_str());
    return static_cast<int>(exit_code::usage);
  }
  const auto st = (*n)->operations().status();
  // Where a client on this machine reaches the node (the address of "all interfaces" is not one).
  std::string host = node_detail::parse_listen(options.listen).value().first;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  spdlog::info("node '{}' ready: data dir {}, {} job(s), up to {} at once", st.node, options.data_dir.string(),
               jobs.jobs().size(), st.capacity);
  spdlog::info("dashboard and REST API on http://{}:{}/  (metrics at /metrics)", host, (*n)->port());
  if (options.token.empty()) spdlog::warn("no token configured: anyone on this machine can submit and stop jobs");
  std::printf("listening on http://%s:%d\n", host.c_str(), (*n)->port());
  std::fflush(stdout);

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  signal_watcher signals(
      [&] {
        std::lock_guard lock(mu);
        stop = true;
        cv.notify_all();
      },
      "shutting down: running jobs stop after their current chunk");
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  (*n)->shutdown();
  spdlog::info("node '{}' stopped", st.node);
  return 0;
}

}  // namespace kiln
