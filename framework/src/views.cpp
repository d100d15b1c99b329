#include <kiln/views.hpp>

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

expected<json::object> execution_detail(const state_store& store, std::int64_t execution_id) {
  auto e = store.execution(execution_id);
  if (!e) return std::unexpected(e.error());
  json::object out = to_json(*e).as_object();
  json::array steps;
  for (const auto& st : store.step_executions(e->id)) {
    json::object so = to_json(st).as_object();
    so["context"] = store.step_context(st.id);
    steps.push_back(std::move(so));
  }
  out["steps"] = std::move(steps);
  return out;
}

}  // namespace kiln
