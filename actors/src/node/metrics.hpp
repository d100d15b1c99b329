#pragma once
// Private: the node's Prometheus metrics (prometheus-cpp core; rendered by the REST server at
// /metrics). Counters and histograms are updated where things happen; gauges that mirror the
// state store (executions by status, queue depth) are refreshed at scrape time.

#include <kiln/job_operator.hpp>
#include <kiln/state_store.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace kiln::node_detail {

class node_metrics {
 public:
  node_metrics();
  void commit_latency(double seconds) { commit_latency_.Observe(seconds); }
  void dispatch_latency(double seconds) { dispatch_latency_.Observe(seconds); }
  // Adds an ended execution's step counts to the item counters.
  void execution_ended(const state_store& store, std::int64_t execution_id, const std::string& status);
  [[nodiscard]] std::string scrape(const state_store& store, const node_status& status);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& executions_;
  prometheus::Family<prometheus::Counter>& ended_;
  prometheus::Family<prometheus::Counter>& items_;
  prometheus::Histogram& commit_latency_;
  prometheus::Histogram& dispatch_latency_;
  prometheus::Gauge& queue_depth_;
  prometheus::Gauge& running_;
  prometheus::Gauge& capacity_;
  prometheus::Gauge& uptime_;
};

}  // namespace kiln::node_detail
