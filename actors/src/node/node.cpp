// kiln::node: the state store, the standalone command log, the actor system with the dispatcher,
// and the REST gateway, wired together. node::impl is also the node's job_operator.

#include "gateway.hpp"
#include "metrics.hpp"
#include "node_impl.hpp"
#include "../system_config.hpp"

#include <kiln/actors/dispatcher.hpp>
#include <kiln/version.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <unistd.h>

namespace kiln {

using node_detail::node_impl;

namespace node_detail {

namespace {

// Threads created from here on (the actor system's, each execution's runner and step) get this
// stack size; see node_options::job_thread_stack_kb for why.
void set_default_thread_stack(std::size_t bytes) {
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (pthread_attr_setstacksize(&a, bytes) == 0 && pthread_setattr_default_np(&a) == 0) {
    spdlog::debug("thread stack size {} KiB", bytes / 1024);
  } else {
    spdlog::warn("could not set the thread stack size to {} KiB; keeping the system default", bytes / 1024);
  }
  pthread_attr_destroy(&a);
}

}  // namespace

node_impl::node_impl(const registry& jobs, node_options options) : jobs_(jobs), options_(std::move(options)) {}

node_impl::~node_impl() { shutdown(); }

expected<void> node_impl::open() {
  auto store = state_store::open(options_.data_dir, store_access::read_write);
  if (!store) return std::unexpected(store.error());
  store_ = std::move(*store);
  standalone_log_options lo;
  lo.on_durable = [this](const command& c, std::chrono::nanoseconds latency) {
    if (std::holds_alternative<commit_chunk_cmd>(c)) {
      metrics_.commit_latency(std::chrono::duration<double>(latency).count());
    }
  };
  log_ = make_standalone_log(*store_, std::move(lo));
  started_at_ = now_ms();
  recover();

  // The actor system keeps a reference to its config: both live as long as the node.
  if (options_.job_thread_stack_kb > 0) set_default_thread_stack(static_cast<std::size_t>(options_.job_thread_stack_kb) * 1024);
  system_config_ = std::make_unique<caf::actor_system_config>();
  actors_detail::configure(*system_config_);
  system_ = std::make_unique<caf::actor_system>(*system_config_);
  actors::dispatcher_config dc;
  dc.node = options_.name;
  dc.max_concurrent = options_.max_concurrent_jobs;
  dc.queues = options_.queues;
  dc.queue_limits = options_.queue_limits;
  dc.resume_after_shutdown = options_.resume_after_shutdown;
  dc.on_dispatch = [this](double s) { metrics_.dispatch_latency(s); };
  dc.on_end = [this](const actors::outcome& o) {
    metrics_.execution_ended(*store_, o.execution_id, o.status);
    caf::anon_send(scheduler_, actors::wake_atom::value);  // a buffered slot may run now
  };
  scheduler_ = actors::spawn_scheduler(*system_, jobs_, *log_, scheduler_config());
  dispatcher_ = actors::spawn_dispatcher(*system_, jobs_, *log_, running_, std::move(dc));
  caf::anon_send(dispatcher_, actors::wake_atom::value);
  caf::anon_send(scheduler_, actors::leader_atom::value, true);  // standalone: always the leader
  return {};
}

// We hold the data-dir lock: whatever is still marked running belongs to a process that died.
void node_impl::recover() {
  if (store_->running_execution_ids().empty()) return;
  auto r = log_->propose(recover_dead_cmd{
      fmt::format("the node running it died (found running by node '{}', pid {}, holding the data-dir lock)",
                  options_.name, ::getpid()),
      now_ms()});
  if (!r) {
    spdlog::error("recovery failed: {}", r.error().message());
    return;
  }
  for (auto id : r->executions) {
    auto e = store_->execution(id);
    if (!e) continue;
    const job* j = jobs_.find(e->job_name);
    if (e->queue.empty()) {
      spdlog::warn("execution {} ({}) was run by `kiln run` in a process that died: marked FAILED; run the same "
                   "command again to resume it",
                   id, e->job_name);
      continue;
    }
    if (!j || j->recovery() == recovery_policy::none) {
      spdlog::warn("execution {} ({}) was running when the node died: marked FAILED{}", id, e->job_name,
                   j ? " (its job's recovery is 'none': restart it by hand if it should run again)"
                     : " (the job is not registered on this node)");
      continue;
    }
    auto again = requeue(*e);
    if (again) {
      spdlog::info("execution {} ({}) was running when the node died: restarting it from its last checkpoint as "
                   "execution {}",
                   id, e->job_name, *again);
    } else {
      spdlog::error("execution {} ({}) could not be restarted: {}", id, e->job_name, again.error().message());
    }
  }
}

expected<std::int64_t> node_impl::requeue(const job_execution_record& e) {
  const job* j = jobs_.find(e.job_name);
  if (!j) return fail(errc::unknown_job, fmt::format("job '{}' is not registered on this node", e.job_name));
  return enqueue(*j, e.parameters, {e.priority, e.queue.empty() ? std::string("default") : e.queue});
}

expected<std::int64_t> node_impl::enqueue(const job& j, const job_parameters& params, const submit_options& o) {
  if (!accepting_) return fail(errc::stopped, "the node is shutting down and takes no new work; submit to another node or after it restarts");
  if (o.queue.empty()) return fail(errc::bad_usage, "queue must not be empty (the default queue is 'default')");
  create_execution_cmd c;
  c.job = j.name();
  c.parameters = params;
  c.restartable = j.restartable();
  c.time = now_ms();
  c.queue = o.queue;
  c.priority = o.priority;
  c.forbid_concurrent = j.concurrency() == concurrency_policy::forbid;
  auto r = log_->propose(std::move(c));
  if (!r) return std::unexpected(r.error());
  if (dispatcher_) caf::anon_send(dispatcher_, actors::wake_atom::value);
  return r->execution_id;
}

expected<std::int64_t> node_impl::submit(const std::string& job_name, const std::vector<std::string>& parameters,
                                         const submit_options& options) {
  const job* j = jobs_.find(job_name);
  if (!j) return fail(errc::unknown_job, fmt::format("unknown job '{}'; GET /api/v1/jobs lists them", job_name));
  auto params = j->parameters_from(parameters);
  if (!params) return fail(params.error().code(), fmt::format("job '{}': {}", job_name, params.error().message()));
  return enqueue(*j, *params, options);
}

expected<void> node_impl::stop(std::int64_t id) {
  auto e = store_->execution(id);
  if (!e) return std::unexpected(e.error());
  if (e->queued()) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is waiting in queue '{}'; cancel it instead", id, e->queue));
  }
  if (!is_running(e->status)) {
    return fail(errc::invalid_transition, fmt::format("execution {} is {}, not running", id, to_string(e->status)));
  }
  if (!running_->progress(id)) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} runs on '{}', not on this node ('{}')", id, e->node, options_.name));
  }
  if (e->status == batch_status::started) {
    if (auto r = log_->propose(request_stop_cmd{id, now_ms()}); !r) return std::unexpected(r.error());
  }
  caf::anon_send(dispatcher_, actors::stop_atom::value, id);
  return {};
}

expected<void> node_impl::kill(std::int64_t id) {
  auto e = store_->execution(id);
  if (!e) return std::unexpected(e.error());
  if (e->queued()) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is waiting in queue '{}'; cancel it instead", id, e->queue));
  }
  auto r = log_->propose(kill_cmd{id, "killed by an operator", now_ms()});
  if (!r) return std::unexpected(r.error());
  // The runner's next commit is refused (fenced); asking it to stop ends it sooner.
  caf::anon_send(dispatcher_, actors::stop_atom::value, id);
  return {};
}

expected<void> node_impl::cancel(std::int64_t id) {
  auto r = log_->propose(cancel_cmd{id, now_ms()});
  if (!r) return std::unexpected(r.error());
  return {};
}

expected<std::int64_t> node_impl::restart(std::int64_t id) {
  auto e = store_->execution(id);
  if (!e) return std::unexpected(e.error());
  if (e->status != batch_status::stopped && e->status != batch_status::failed) {
    return fail(errc::invalid_transition,
                fmt::format("execution {} is {}; only a STOPPED or FAILED execution can be restarted", id,
                            to_string(e->status)));
  }
  return requeue(*e);
}

expected<void> node_impl::abandon(std::int64_t id) {
  auto r = log_->propose(abandon_cmd{id, now_ms()});
  if (!r) return std::unexpected(r.error());
  return {};
}

std::vector<job_execution_record> node_impl::executions(const execution_filter& filter) const {
  return store_->executions(filter);
}

expected<job_execution_record> node_impl::execution(std::int64_t id) const { return store_->execution(id); }

std::optional<live_progress> node_impl::progress(std::int64_t id) const {
  auto p = running_->progress(id);
  if (!p) return std::nullopt;
  live_progress out;
  out.step = p->step();
  out.read = p->read.load();
  out.written = p->written.load();
  out.skipped = p->skipped.load();
  out.commits = p->commits.load();
  out.fraction = p->fraction.load();
  std::lock_guard lock(rate_mu_);
  // Samples of executions that ended are dropped once they outnumber the running ones.
  if (rates_.size() > 2 * running_->size() + 16) {
    std::erase_if(rates_, [this](const auto& kv) { return !running_->progress(kv.first); });
  }
  auto& sample = rates_[id];
  const auto now = now_ms();
  if (sample.time == 0) {
    sample = {now, out.read, 0.0};
  } else if (now - sample.time >= 1000) {
    sample.rate = static_cast<double>(out.read - sample.read) * 1000.0 / static_cast<double>(now - sample.time);
    sample = {now, out.read, sample.rate};
  }
  out.items_per_second = sample.rate;
  return out;
}

std::vector<job_execution_record> node_impl::queued(std::size_t limit) const { return store_->queued(limit); }

node_status node_impl::status() const {
  node_status s;
  s.node = options_.name;
  s.version = std::string(kiln::version);
  s.started_at = started_at_;
  s.uptime_ms = now_ms() - started_at_;
  s.running = static_cast<std::int64_t>(running_->size());
  s.queued = static_cast<std::int64_t>(store_->queue_depth());
  s.capacity = options_.max_concurrent_jobs;
  s.queues = options_.queues;
  s.accepting = accepting_;
  return s;
}

std::string node_impl::metrics_text() {
  return metrics_.scrape(*store_, status()) + schedule_metrics_.scrape(*store_, now_ms());
}

void node_impl::shutdown() {
  if (shut_down_.exchange(true)) return;
  accepting_ = false;
  if (system_) {
    caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);  // no new firings
    caf::scoped_actor self{*system_};
    self->request(dispatcher_, caf::infinite, actors::shutdown_atom::value)
        .receive([](std::int64_t) {}, [](const caf::error&) {});
    caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  }
  if (gateway_) gateway_->stop();
  dispatcher_ = nullptr;
  scheduler_ = nullptr;
  system_.reset();
  system_config_.reset();
  log_.reset();
  store_.reset();
}

}  // namespace node_detail

struct node::impl {
  std::unique_ptr<node_impl> n;
  std::unique_ptr<node_detail::gateway> gateway;
};

node::node(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

node::~node() { shutdown(); }

expected<std::unique_ptr<node>> node::start(const registry& jobs, node_options options) {
  if (const char* env = std::getenv("KILN_TOKEN"); options.token.empty() && env && *env) options.token = env;
  if (auto v = validate(options); !v) return std::unexpected(v.error());
  auto p = std::make_unique<impl>();
  p->n = std::make_unique<node_impl>(jobs, options);
  p->gateway = std::make_unique<node_detail::gateway>(*p->n, options);
  if (auto r = p->gateway->bind(); !r) return std::unexpected(r.error());
  if (auto r = p->n->open(); !r) return std::unexpected(r.error());
  p->n->set_gateway(p->gateway.get());
  p->gateway->serve();
  return std::unique_ptr<node>(new node(std::move(p)));
}

job_operator& node::operations() { return *impl_->n; }

int node::port() const { return impl_->gateway->port(); }

void node::shutdown() {
  if (impl_ && impl_->n) impl_->n->shutdown();
}

}  // namespace kiln
