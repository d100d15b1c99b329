#include "json_fields.hpp"

#include <kiln/records.hpp>

namespace kiln {

namespace json = boost::json;

json::value to_json(const step_counts& c, json::storage_ptr sp) {
  return json::object({{"read", c.read},
                       {"write", c.write},
                       {"filter", c.filter},
                       {"read_skip", c.read_skip},
                       {"process_skip", c.process_skip},
                       {"write_skip", c.write_skip},
                       {"commit", c.commit},
                       {"rollback", c.rollback},
                       {"retry", c.retry}},
                      std::move(sp));
}

expected<step_counts> step_counts_from_json(const json::value& v) {
  detail::json_reader r(v, "counts");
  step_counts c;
  c.read = r.i64("read");
  c.write = r.i64("write");
  c.filter = r.i64("filter");
  c.read_skip = r.i64("read_skip");
  c.process_skip = r.i64("process_skip");
  c.write_skip = r.i64("write_skip");
  c.commit = r.i64("commit");
  c.rollback = r.i64("rollback");
  c.retry = r.i64("retry");  // absent in records written before retries existed: 0
  if (!r.ok()) return std::unexpected(r.failure());
  return c;
}

json::value to_json(const job_instance_record& r) {
  return json::object{{"id", r.id}, {"job", r.job_name}, {"key", r.key}};
}

expected<job_instance_record> job_instance_from_json(const json::value& v) {
  detail::json_reader r(v, "job instance");
  job_instance_record out{r.i64("id"), r.str("job"), r.str("key")};
  if (!r.ok()) return std::unexpected(r.failure(errc::storage));
  return out;
}

json::value to_json(const job_execution_record& r) {
  json::object o{{"id", r.id},
                      {"instance_id", r.instance_id},
                      {"job", r.job_name},
                      {"parameters", r.parameters.to_json()},
                      {"status", to_string(r.status)},
                      {"exit_code", r.exit.code},
                      {"exit_description", r.exit.description},
                      {"create_time", r.create_time},
                      {"start_time", r.start_time},
                      {"end_time", r.end_time},
                      {"last_updated", r.last_updated},
                      {"queue", r.queue},
                      {"priority", r.priority},
                      {"node", r.node},
                      {"claim_time", r.claim_time},
                      {"restart_step", r.restart_step}};
  if (!r.run_key.empty()) o["run_key"] = r.run_key;
  if (r.not_before > 0) o["not_before"] = r.not_before;
  return o;
}

expected<job_execution_record> job_execution_from_json(const json::value& v) {
  detail::json_reader r(v, "job execution");
  job_execution_record out;
  out.id = r.i64("id");
  out.instance_id = r.i64("instance_id");
  out.job_name = r.str("job");
  auto status = parse_batch_status(r.str("status"));
  out.exit = {r.str("exit_code"), r.str("exit_description")};
  out.create_time = r.i64("create_time");
  out.start_time = r.i64("start_time");
  out.end_time = r.i64("end_time");
  out.last_updated = r.i64("last_updated");
  out.queue = r.str("queue");
  out.priority = r.i64("priority");
  out.node = r.str("node");
  out.claim_time = r.i64("claim_time");
  out.restart_step = r.str("restart_step");
  out.run_key = r.str("run_key");
  out.not_before = r.i64("not_before");
  if (!r.ok() || !status) return fail(errc::storage, "corrupt job execution record");
  out.status = *status;
  if (const auto* p = r.raw("parameters")) {
    auto params = job_parameters::from_json(*p);
    if (!params) return std::unexpected(params.error());
    out.parameters = std::move(*params);
  }
  return out;
}

json::value to_json(const step_execution_record& r, json::storage_ptr sp) {
  // The counts are built in `sp` too, so that the object takes them without a copy.
  return json::object({{"id", r.id},
                       {"execution_id", r.execution_id},
                       {"step", r.step_name},
                       {"status", to_string(r.status)},
                       {"exit_code", r.exit.code},
                       {"exit_description", r.exit.description},
                       {"counts", to_json(r.counts, sp)},
                       {"start_time", r.start_time},
                       {"end_time", r.end_time},
                       {"last_updated", r.last_updated}},
                      sp);
}

expected<step_execution_record> step_execution_from_json(const json::value& v) {
  detail::json_reader r(v, "step execution");
  step_execution_record out;
  out.id = r.i64("id");
  out.execution_id = r.i64("execution_id");
  out.step_name = r.str("step");
  auto status = parse_batch_status(r.str("status"));
  out.exit = {r.str("exit_code"), r.str("exit_description")};
  out.start_time = r.i64("start_time");
  out.end_time = r.i64("end_time");
  out.last_updated = r.i64("last_updated");
  if (!r.ok() || !status) return fail(errc::storage, "corrupt step execution record");
  out.status = *status;
  if (const auto* c = r.raw("counts")) {
    auto counts = step_counts_from_json(*c);
    if (!counts) return std::unexpected(counts.error());
    out.counts = *counts;
  }
  return out;
}

}  // namespace kiln
