#pragma once
// kiln::node: the long-running service behind `kiln node`. One process with its actor system, the
// state store (the same commands and state machine as `kiln run`), a dispatcher that runs queued
// executions within the node's capacity, and the REST server (API, dashboard, metrics).
//
//   kiln::node_options o;                       // or kiln::load_node_options("node.json")
//   auto n = kiln::node::start(jobs, o);        // opens the data dir, recovers, listens
//   n.value()->operations().submit("csv-to-jsonl", {"input=a.csv", "output=b.jsonl"});
//   n.value()->shutdown();                      // graceful: running jobs stop at a chunk boundary

#include <kiln/error.hpp>
#include <kiln/job.hpp>
#include <kiln/job_operator.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct node_options {
  std::filesystem::path data_dir = "kiln-data";  // Default: ./kiln-data
  std::string listen = "127.0.0.1:8080";         // host:port; port 0 picks a free one. Default: 127.0.0.1:8080
  std::string name = "node-1";                   // Default: node-1
  std::int64_t max_concurrent_jobs = 4;          // Default: 4
  std::vector<std::string> queues;               // queues served. Default: every queue
  std::map<std::string, std::int64_t> queue_limits;  // queue -> max running at once. Default: none
  std::string token;                             // bearer token; env KILN_TOKEN. Default: none
  // On SIGTERM, running executions stop at a chunk boundary; with this set, each is queued again
  // (a restart of its instance) so it resumes when the node comes back. Default: true
  bool resume_after_shutdown = true;
  std::size_t max_body_bytes = 1 << 20;  // larger request bodies get 413. Default: 1 MiB
  int http_threads = 8;                   // Default: 8
  // Stack size of the threads the node starts after it is up (each running execution has a job
  // runner and a step thread). glibc keeps 40 MiB of freed stacks for reuse: with 8 MiB stacks that is
  // 5 threads and every other execution pays for mmap/munmap and TLB shootdowns; with 512 KiB it is 80,
  // which lifts no-op throughput by about 40% (docs/benchmarks.md). Raise it for jobs that recurse
  // deeply or keep large arrays on the stack; 0 keeps the system default. Default: 512
  int job_thread_stack_kb = 512;
  // The scheduler proposes a slot's firing up to this long before the slot (its execution is not
  // claimed before the slot), so that many slots due together are recorded by then
  // (docs/scheduler.md, "Firing ahead of the slot"); 0 fires every slot at its instant. Default: 2000
  std::int64_t schedule_max_lead_ms = 2000;
};

// Reads a JSON config file; keys are the option names above ("data_dir", "listen", "name",
// "max_concurrent_jobs", "queues", "queue_limits", "token", "resume_after_shutdown",
// "max_body_bytes", "http_threads", "job_thread_stack_kb", "schedule_max_lead_ms"). Unknown keys and wrong types are errors that name the key.
expected<node_options> load_node_options(const std::filesystem::path& file, node_options defaults = {});
// Checks the options (listen address, limits, token rules) with errors that say how to fix them.
expected<void> validate(const node_options& o);

class node {
 public:
  // Opens the data directory (taking its lock), recovers executions a dead node left running
  // (per each job's recovery policy), starts the dispatcher and the REST server.
  static expected<std::unique_ptr<node>> start(const registry& jobs, node_options options);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  [[nodiscard]] job_operator& operations();
  // The bound port (useful with port 0).
  [[nodiscard]] int port() const;
  // Graceful: stops taking work, stops running executions at a chunk boundary (queuing them
  // again if resume_after_shutdown), closes the REST server. Idempotent.
  void shutdown();

  struct impl;

 private:
  explicit node(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// `kiln node`: starts a node, logs where it listens, and runs until SIGINT/SIGTERM (a second
// signal exits at once). Returns the process exit code.
int run_node(const registry& jobs, const node_options& options);

}  // namespace kiln
