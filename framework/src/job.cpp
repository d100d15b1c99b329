#include <kiln/job.hpp>

#include <set>
#include <stdexcept>

namespace kiln {

expected<job_parameters> job::validate(const std::vector<raw_parameter>& raw) const {
  return validate_parameters(raw, params_, allow_unknown_);
}

expected<job_parameters> job::parameters_from(const std::vector<std::string>& args) const {
  auto raw = parse_parameter_arguments(args);
  if (!raw) return std::unexpected(raw.error());
  return validate(*raw);
}

job_builder::job_builder(std::string name) { job_.name_ = std::move(name); }

job_builder& job_builder::describe(std::string text) {
  job_.description_ = std::move(text);
  return *this;
}

job_builder& job_builder::parameter(param_spec spec) {
  job_.params_.push_back(std::move(spec));
  return *this;
}

job_builder& job_builder::allow_unknown_parameters(bool v) {
  job_.allow_unknown_ = v;
  return *this;
}

job_builder& job_builder::restartable(bool v) {
  job_.restartable_ = v;
  return *this;
}

job_builder& job_builder::concurrency(concurrency_policy p) {
  job_.concurrency_ = p;
  return *this;
}

job_builder& job_builder::recovery(recovery_policy p) {
  job_.recovery_ = p;
  return *this;
}

job_builder& job_builder::add_step(std::shared_ptr<const kiln::step> s) {
  job_.steps_.push_back(std::move(s));
  return *this;
}

job job_builder::build() const {
  if (job_.name_.empty()) throw std::invalid_argument("a job needs a name");
  if (job_.steps_.empty()) throw std::invalid_argument("job '" + job_.name_ + "' has no steps");
  std::set<std::string> names;
  for (const auto& s : job_.steps_) {
    if (!names.insert(s->name()).second) {
      throw std::invalid_argument("job '" + job_.name_ + "' has two steps named '" + s->name() + "'");
    }
  }
  std::set<std::string> params;
  for (const auto& p : job_.params_) {
    if (!params.insert(p.name).second) {
      throw std::invalid_argument("job '" + job_.name_ + "' declares parameter '" + p.name + "' twice");
    }
  }
  return job_;
}

registry& registry::add(job j) {
  auto name = j.name();
  if (!jobs_.emplace(name, std::move(j)).second) {
    throw std::invalid_argument("a job named '" + name + "' is already registered");
  }
  return *this;
}

const job* registry::find(const std::string& name) const {
  auto it = jobs_.find(name);
  return it == jobs_.end() ? nullptr : &it->second;
}

}  // namespace kiln
