#include "json_fields.hpp"

#include <kiln/command.hpp>

namespace kiln {

namespace json = boost::json;

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};

json::object status_fields(batch_status s, const exit_status& e) {
  return {{"status", to_string(s)}, {"exit_code", e.code}, {"exit_description", e.description}};
}

}  // namespace

std::string encode(const command& c) {
  json::object o = std::visit(
      overloaded{
          [](const create_execution_cmd& x) {
            return json::object{{"type", "create_execution"},
                                {"job", x.job},
                                {"parameters", x.parameters.to_json()},
                                {"restartable", x.restartable},
                                {"time", x.time},
                                {"queue", x.queue},
                                {"priority", x.priority},
                                {"forbid_concurrent", x.forbid_concurrent},
                                {"node", x.node},
                                {"run_key", x.run_key},
                                {"not_before", x.not_before}};
          },
          [](const start_execution_cmd& x) {
            return json::object{{"type", "start_execution"}, {"execution_id", x.execution_id}, {"time", x.time}};
          },
          [](const start_step_cmd& x) {
            return json::object{{"type", "start_step"},
                                {"execution_id", x.execution_id},
                                {"step", x.step},
                                {"allow_start_if_complete", x.allow_start_if_complete},
                                {"start_limit", x.start_limit},
                                {"time", x.time}};
          },
          [](const commit_chunk_cmd& x) {
            return json::object{{"type", "commit_chunk"},
                                {"step_execution_id", x.step_execution_id},
                                {"counts", to_json(x.counts)},
                                {"context", x.context},
                                {"time", x.time}};
          },
          [](const end_step_cmd& x) {
            json::object o = status_fields(x.status, x.exit);
            o["type"] = "end_step";
            o["step_execution_id"] = x.step_execution_id;
            o["counts"] = to_json(x.counts);
            o["context"] = x.context;
            o["time"] = x.time;
            return o;
          },
          [](const request_stop_cmd& x) {
            return json::object{{"type", "request_stop"}, {"execution_id", x.execution_id}, {"time", x.time}};
          },
          [](const end_execution_cmd& x) {
            json::object o = status_fields(x.status, x.exit);
            o["type"] = "end_execution";
            o["execution_id"] = x.execution_id;
            o["time"] = x.time;
            if (!x.restart_step.empty()) o["restart_step"] = x.restart_step;
            return o;
          },
          [](const recover_dead_cmd& x) {
            return json::object{{"type", "recover_dead"}, {"reason", x.reason}, {"time", x.time}};
          },
          [](const abandon_cmd& x) {
            return json::object{{"type", "abandon"}, {"execution_id", x.execution_id}, {"time", x.time}};
          },
          [](const claim_cmd& x) {
            json::array queues(x.queues.begin(), x.queues.end());
            json::object free;
            for (const auto& [q, n] : x.queue_free) free[q] = n;
            return json::object{{"type", "claim"}, {"node", x.node},          {"max", x.max},
                                {"queues", queues}, {"queue_free", free}, {"time", x.time}};
          },
          [](const cancel_cmd& x) {
            return json::object{{"type", "cancel"}, {"execution_id", x.execution_id}, {"time", x.time}};
          },
          [](const kill_cmd& x) {
            return json::object{
                {"type", "kill"}, {"execution_id", x.execution_id}, {"reason", x.reason}, {"time", x.time}};
          },
          [](const purge_cmd& x) {
            return json::object{{"type", "purge"},
                                {"before_time", x.before_time},
                                {"time", x.time},
                                {"max_instances", x.max_instances}};
          },
          [](const create_schedule_cmd& x) {
            return json::object{{"type", "create_schedule"}, {"schedule", to_json(x.schedule)}, {"time", x.time}};
          },
          [](const update_schedule_cmd& x) {
            return json::object{{"type", "update_schedule"}, {"schedule", to_json(x.schedule)}, {"time", x.time}};
          },
          [](const delete_schedule_cmd& x) {
            return json::object{{"type", "delete_schedule"}, {"name", x.name}, {"time", x.time}};
          },
          [](const pause_schedule_cmd& x) {
            return json::object{{"type", "pause_schedule"}, {"name", x.name}, {"note", x.note}, {"time", x.time}};
          },
          [](const resume_schedule_cmd& x) {
            return json::object{
                {"type", "resume_schedule"}, {"name", x.name}, {"catch_up", x.catch_up}, {"time", x.time}};
          },
          [](const fire_cmd& x) {
            json::object o{{"type", "fire"},
                           {"schedule", x.schedule},
                           {"slot", x.slot},
                           {"version", x.version},
                           {"time", x.time},
                           {"outcome", to_string(x.outcome)},
                           {"skipped", x.skipped},
                           {"misfired", x.misfired},
                           {"from_buffer", x.from_buffer},
                           {"manual", x.manual},
                           {"cancel_execution", x.cancel_execution},
                           {"error", x.error}};
            if (x.outcome == fire_outcome::fired && x.error.empty()) {
              o["execution"] = json::parse(encode(command(x.execution)));
            }
            return o;
          },
      },
      c);
  return json::serialize(o);
}

expected<command> decode(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fail(errc::bad_command, "command is not valid JSON: " + ec.message());
  detail::json_reader r(v, "command");
  const std::string type = r.str("type");
  const std::int64_t time = r.i64("time");
  auto status = [&]() -> std::optional<batch_status> { return parse_batch_status(r.str("status")); };
  auto exit = [&] { return exit_status{r.str("exit_code"), r.str("exit_description")}; };
  auto counts = [&]() -> expected<step_counts> {
    const auto* c = r.raw("counts");
    if (!c) return step_counts{};
    return step_counts_from_json(*c);
  };
  command out;
  if (type == "create_execution") {
    create_execution_cmd x{r.str("job"), {}, r.boolean("restartable", true), time, r.str("queue"),
                           r.i64("priority"), r.boolean("forbid_concurrent"), r.str("node"), r.str("run_key"),
                           r.i64("not_before")};
    if (const auto* p = r.raw("parameters")) {
      auto params = job_parameters::from_json(*p);
      if (!params) return std::unexpected(params.error());
      x.parameters = std::move(*params);
    }
    out = std::move(x);
  } else if (type == "start_execution") {
    out = start_execution_cmd{r.i64("execution_id"), time};
  } else if (type == "start_step") {
    out = start_step_cmd{r.i64("execution_id"), r.str("step"), r.boolean("allow_start_if_complete"),
                         r.i64("start_limit"), time};
  } else if (type == "commit_chunk") {
    auto c = counts();
    if (!c) return std::unexpected(c.error());
    out = commit_chunk_cmd{r.i64("step_execution_id"), *c, r.obj("context"), time};
  } else if (type == "end_step") {
    auto c = counts();
    auto s = status();
    if (!c) return std::unexpected(c.error());
    if (!s) return fail(errc::bad_command, "end_step: bad status");
    out = end_step_cmd{r.i64("step_execution_id"), *s, exit(), *c, r.obj("context"), time};
  } else if (type == "request_stop") {
    out = request_stop_cmd{r.i64("execution_id"), time};
  } else if (type == "end_execution") {
    auto s = status();
    if (!s) return fail(errc::bad_command, "end_execution: bad status");
    out = end_execution_cmd{r.i64("execution_id"), *s, exit(), time, r.str("restart_step")};
  } else if (type == "recover_dead") {
    out = recover_dead_cmd{r.str("reason"), time};
  } else if (type == "abandon") {
    out = abandon_cmd{r.i64("execution_id"), time};
  } else if (type == "claim") {
    claim_cmd x{r.str("node"), r.i64("max"), {}, {}, time};
    if (const auto* q = r.raw("queues"); q && q->is_array()) {
      for (const auto& e : q->as_array()) {
        if (!e.is_string()) return fail(errc::bad_command, "claim: queues must be strings");
        x.queues.emplace_back(e.as_string());
      }
    }
    for (const auto& [q, n] : r.obj("queue_free")) {
      if (!n.is_int64()) return fail(errc::bad_command, "claim: queue_free values must be integers");
      x.queue_free[std::string(q)] = n.as_int64();
    }
    out = std::move(x);
  } else if (type == "cancel") {
    out = cancel_cmd{r.i64("execution_id"), time};
  } else if (type == "kill") {
    out = kill_cmd{r.i64("execution_id"), r.str("reason"), time};
  } else if (type == "purge") {
    out = purge_cmd{r.i64("before_time"), time, r.i64("max_instances")};
  } else if (type == "create_schedule" || type == "update_schedule") {
    const auto* s = r.raw("schedule");
    if (!s) return fail(errc::bad_command, type + ": missing schedule");
    auto rec = schedule_from_json(*s);
    if (!rec) return std::unexpected(rec.error());
    if (type == "create_schedule") out = create_schedule_cmd{std::move(*rec), time};
    else out = update_schedule_cmd{std::move(*rec), time};
  } else if (type == "delete_schedule") {
    out = delete_schedule_cmd{r.str("name"), time};
  } else if (type == "pause_schedule") {
    out = pause_schedule_cmd{r.str("name"), r.str("note"), time};
  } else if (type == "resume_schedule") {
    out = resume_schedule_cmd{r.str("name"), r.boolean("catch_up"), time};
  } else if (type == "fire") {
    fire_cmd x;
    x.schedule = r.str("schedule");
    x.slot = r.i64("slot");
    x.version = r.i64("version");
    x.time = time;
    auto outcome = parse_fire_outcome(r.str("outcome", "fired"));
    if (!outcome) return fail(errc::bad_command, "fire: unknown outcome");
    x.outcome = *outcome;
    x.skipped = r.i64("skipped", 1);
    x.misfired = r.boolean("misfired");
    x.from_buffer = r.boolean("from_buffer");
    x.manual = r.boolean("manual");
    x.cancel_execution = r.i64("cancel_execution");
    x.error = r.str("error");
    if (const auto* e = r.raw("execution")) {
      auto inner = decode(json::serialize(*e));
      if (!inner) return std::unexpected(inner.error());
      auto* create = std::get_if<create_execution_cmd>(&*inner);
      if (!create) return fail(errc::bad_command, "fire: execution must be a create_execution command");
      x.execution = std::move(*create);
    }
    out = std::move(x);
  } else {
    return fail(errc::bad_command, "unknown command type '" + type + "'");
  }
  if (!r.ok()) return std::unexpected(r.failure());
  return out;
}

bool purge_selects(const std::vector<job_execution_record>& instance_executions, std::int64_t before_time) {
  if (instance_executions.empty()) return false;
  for (const auto& e : instance_executions) {
    if (is_running(e.status)) return false;
    const auto ended = e.end_time != 0 ? e.end_time : e.last_updated;
    if (ended >= before_time) return false;
  }
  return true;
}

}  // namespace kiln
