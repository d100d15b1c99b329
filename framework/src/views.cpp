#include <kiln/views.hpp>
#include <kiln/fault_tolerance.hpp>

#include <algorithm>
#include <fstream>
#include <optional>

#include <boost/json.hpp>

namespace kiln {

namespace json = boost::json;

json::object job_view(const job& j) {
  json::array params, steps;
  for (const auto& p : j.parameter_specs()) {
    json::object po{{"name", p.name},
                    {"type", to_string(p.type)},
                    {"required", p.required},
                    {"identifying", p.identifying},
                    {"description", p.description}};
    if (p.default_value) po["default"] = job_parameter{*p.default_value, p.identifying}.text();
    params.push_back(std::move(po));
  }
  for (const auto& s : j.steps()) steps.push_back(json::object{{"name", s->name()}, {"kind", s->kind()}});
  return {{"name", j.name()},
          {"description", j.description()},
          {"parameters", std::move(params)},
          {"steps", std::move(steps)},
          {"restartable", j.restartable()},
          {"concurrency", j.concurrency() == concurrency_policy::forbid ? "forbid" : "allow"},
          {"recovery", j.recovery() == recovery_policy::none ? "none" : "restart"}};
}

namespace {
// {"path", "lines"} of a step execution's skip log, when it has one.
std::optional<json::object> skip_log_view(const state_store& store, std::int64_t execution_id, std::int64_t step_id) {
  const auto path = skip_log::path_for(store.dir(), execution_id, step_id);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::int64_t lines = 0;
  char buf[1 << 14];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    lines += std::count(buf, buf + in.gcount(), '\n');
    if (!in) break;
  }
  std::error_code ec;
  const auto shown = std::filesystem::absolute(path, ec);
  return json::object{{"path", (ec ? path : shown).string()}, {"lines", lines}};
}
}  // namespace

expected<json::object> execution_detail(const state_store& store, std::int64_t execution_id) {
  auto e = store.execution(execution_id);
  if (!e) return std::unexpected(e.error());
  json::object out = to_json(*e).as_object();
  json::array steps;
  for (const auto& st : store.step_executions(e->id)) {
    json::object so = to_json(st).as_object();
    so["context"] = store.step_context(st.id);
    if (auto log = skip_log_view(store, e->id, st.id)) so["skip_log"] = std::move(*log);
    steps.push_back(std::move(so));
  }
  out["steps"] = std::move(steps);
  return out;
}

}  // namespace kiln
