#include "metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace kiln::node_detail {

namespace {

// 0.1 ms .. ~6.5 s, doubling: chunk commits and dispatch both span sub-millisecond to seconds.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 0.0001; v < 10.0; v *= 2) b.push_back(v);
  return b;
}

}  // namespace

node_metrics::node_metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      executions_(prometheus::BuildGauge()
                      .Name("kiln_executions")
                      .Help("Job executions in the state store, by status")
                      .Register(*registry_)),
      ended_(prometheus::BuildCounter()
                 .Name("kiln_executions_ended_total")
                 .Help("Job executions that ended on this node since it started, by status")
                 .Register(*registry_)),
      items_(prometheus::BuildCounter()
                 .Name("kiln_items_total")
                 .Help("Items of executions that ended on this node since it started, by kind")
                 .Register(*registry_)),
      commit_latency_(prometheus::BuildHistogram()
                          .Name("kiln_chunk_commit_seconds")
                          .Help("Chunk commit latency: from proposal until the checkpoint is durable")
                          .Register(*registry_)
                          .Add({}, latency_buckets())),
      dispatch_latency_(prometheus::BuildHistogram()
                            .Name("kiln_dispatch_seconds")
                            .Help("Dispatch latency: from when an execution could be claimed (submission, or its not_before) until a node claims it")
                            .Register(*registry_)
                            .Add({}, latency_buckets())),
      queue_depth_(prometheus::BuildGauge()
                       .Name("kiln_queue_depth")
                       .Help("Executions waiting in queues")
                       .Register(*registry_)
                       .Add({})),
      running_(prometheus::BuildGauge()
                   .Name("kiln_running_executions")
                   .Help("Executions running on this node")
                   .Register(*registry_)
                   .Add({})),
      capacity_(prometheus::BuildGauge()
                    .Name("kiln_capacity")
                    .Help("max_concurrent_jobs of this node")
                    .Register(*registry_)
                    .Add({})),
      uptime_(prometheus::BuildGauge()
                  .Name("kiln_uptime_seconds")
                  .Help("Seconds since this node started")
                  .Register(*registry_)
                  .Add({})) {}

void node_metrics::execution_ended(const state_store& store, std::int64_t execution_id, const std::string& status) {
  ended_.Add({{"status", status}}).Increment();
  step_counts total;
  for (const auto& st : store.step_executions(execution_id)) {
    total.read += st.counts.read;
    total.write += st.counts.write;
    total.filter += st.counts.filter;
    total.read_skip += st.counts.skip();
  }
  items_.Add({{"kind", "read"}}).Increment(static_cast<double>(total.read));
  items_.Add({{"kind", "written"}}).Increment(static_cast<double>(total.write));
  items_.Add({{"kind", "filtered"}}).Increment(static_cast<double>(total.filter));
  items_.Add({{"kind", "skipped"}}).Increment(static_cast<double>(total.read_skip));
}

std::string node_metrics::scrape(const state_store& store, const node_status& status) {
  for (const auto& [s, n] : store.status_counts()) {
    executions_.Add({{"status", std::string(to_string(s))}}).Set(static_cast<double>(n));
  }
  queue_depth_.Set(static_cast<double>(status.queued));
  running_.Set(static_cast<double>(status.running));
  capacity_.Set(static_cast<double>(status.capacity));
  uptime_.Set(static_cast<double>(status.uptime_ms) / 1000.0);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace kiln::node_detail
