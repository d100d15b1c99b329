#include "schedule_metrics.hpp"

#include <kiln/scheduler_core.hpp>

#include <prometheus/text_serializer.h>

#include <sstream>

namespace kiln::node_detail {

namespace {

// 1 ms .. ~65 s, doubling: on time is milliseconds, a catch-up after downtime is minutes.
prometheus::Histogram::BucketBoundaries delay_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 0.001; v < 100.0; v *= 2) b.push_back(v);
  return b;
}

}  // namespace

schedule_metrics::schedule_metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      delay_(prometheus::BuildHistogram()
                 .Name("kiln_schedule_firing_delay_seconds")
                 .Help("Scheduled firings: from the nominal slot until the execution was runnable, i.e. "
                       "max(durable, not_before) - slot (a firing ahead of its slot runs from its instant)")
                 .Register(*registry_)
                 .Add({}, delay_buckets())),
      lead_(prometheus::BuildHistogram()
                .Name("kiln_schedule_fire_lead_seconds")
                .Help("Scheduled firings recorded ahead of their slot: how long before the slot's instant "
                      "(not_before) the execution was durable")
                .Register(*registry_)
                .Add({}, delay_buckets())),
      firings_(prometheus::BuildCounter()
                   .Name("kiln_schedule_firings_total")
                   .Help("Executions created by schedules, by source (schedule, manual)")
                   .Register(*registry_)),
      misfires_(prometheus::BuildCounter()
                    .Name("kiln_schedule_misfires_total")
                    .Help("Slots later than the misfire threshold, by misfire policy and what became of them")
                    .Register(*registry_)),
      overlap_skips_(prometheus::BuildCounter()
                         .Name("kiln_schedule_overlap_skips_total")
                         .Help("Slots dropped because the previous run of the schedule still ran")
                         .Register(*registry_)
                         .Add({})),
      last_fire_(prometheus::BuildGauge()
                     .Name("kiln_schedule_last_fire_timestamp_seconds")
                     .Help("When each schedule last created an execution (Unix time)")
                     .Register(*registry_)),
      next_fire_(prometheus::BuildGauge()
                     .Name("kiln_schedule_next_fire_timestamp_seconds")
                     .Help("Each active schedule's next nominal slot (Unix time)")
                     .Register(*registry_)) {}

void schedule_metrics::fired(const fire_cmd& c, const apply_result& r, misfire_policy policy, std::int64_t durable_ms) {
  const std::string p(to_string(policy));
  if (r.outcome == "fired") {
    firings_.Add({{"source", c.manual ? "manual" : "schedule"}}).Increment();
    if (!c.manual && !c.from_buffer) {
      const auto not_before = c.execution.not_before;
      delay_.Observe(static_cast<double>(std::max(durable_ms, not_before) - c.slot) / 1000.0);
      if (not_before > 0) lead_.Observe(static_cast<double>(std::max<std::int64_t>(0, not_before - durable_ms)) / 1000.0);
    }
    if (c.misfired) misfires_.Add({{"policy", p}, {"result", "fired"}}).Increment();
  } else if (r.outcome == "skipped_misfire") {
    misfires_.Add({{"policy", p}, {"result", "skipped"}}).Increment(static_cast<double>(std::max<std::int64_t>(1, c.skipped)));
  } else if (r.outcome == "skipped_overlap") {
    overlap_skips_.Increment();
  }
}

std::string schedule_metrics::scrape(const state_store& store, std::int64_t now) {
  std::lock_guard lock(scrape_mutex_);
  std::map<std::string, gauges> seen;
  for (const auto& s : store.schedules()) {
    auto g = gauged_.contains(s.name) ? gauged_.at(s.name) : gauges{};
    if (s.last_fire_time > 0) {
      if (!g.last) g.last = &last_fire_.Add({{"schedule", s.name}});
      g.last->Set(static_cast<double>(s.last_fire_time) / 1000.0);
    }
    if (!g.next) g.next = &next_fire_.Add({{"schedule", s.name}});
    auto next = upcoming_slots(s, now, 1);
    g.next->Set(next.empty() ? 0.0 : static_cast<double>(next[0]) / 1000.0);
    seen.emplace(s.name, g);
  }
  for (const auto& [name, g] : gauged_) {
    if (seen.contains(name)) continue;
    if (g.last) last_fire_.Remove(g.last);
    if (g.next) next_fire_.Remove(g.next);
  }
  gauged_ = std::move(seen);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace kiln::node_detail
