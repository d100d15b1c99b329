#pragma once
// Private: the scheduler's Prometheus metrics, rendered after the node's own at /metrics. Firing
// counters and the delay histogram are updated as firings are applied; the per-schedule last/next
// fire time gauges are refreshed from the state store at scrape time.

#include <kiln/command.hpp>
#include <kiln/state_store.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace kiln::node_detail {

class schedule_metrics {
 public:
  schedule_metrics();
  // A fire command was applied; `durable_ms` is when its result was durable.
  void fired(const fire_cmd& c, const apply_result& r, misfire_policy policy, std::int64_t durable_ms);
  [[nodiscard]] std::string scrape(const state_store& store, std::int64_t now);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram& delay_;
  prometheus::Histogram& lead_;
  prometheus::Family<prometheus::Counter>& firings_;
  prometheus::Family<prometheus::Counter>& misfires_;
  prometheus::Counter& overlap_skips_;
  prometheus::Family<prometheus::Gauge>& last_fire_;
  prometheus::Family<prometheus::Gauge>& next_fire_;
  // The gauges of each schedule seen at a scrape; those of a deleted schedule go at the next one.
  struct gauges {
    prometheus::Gauge* last = nullptr;
    prometheus::Gauge* next = nullptr;
  };
  std::mutex scrape_mutex_;  // scrapes may come on several HTTP threads at once
  std::map<std::string, gauges> gauged_;
};

}  // namespace kiln::node_detail
