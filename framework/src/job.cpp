#include <kiln/job.hpp>

#include <algorithm>
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

job_builder& job_builder::listener(job_listener l) {
  job_.listeners_.push_back(std::move(l));
  return *this;
}

job_builder& job_builder::recovery(recovery_policy p) {
  job_.recovery_ = p;
  return *this;
}

job_builder& job_builder::add_step(std::shared_ptr<const kiln::step> s) {
  current_ = s->name();
  job_.order_.push_back(s->name());
  job_.steps_.push_back(std::move(s));
  return *this;
}

job_builder& job_builder::decider(std::string name, decider_fn fn) {
  current_ = name;
  job_.order_.push_back(name);
  job_.deciders_[std::move(name)] = std::move(fn);
  return *this;
}

job_builder& job_builder::from(std::string node) {
  current_ = std::move(node);
  return *this;
}

job_builder& job_builder::on(std::string pattern) {
  if (current_.empty()) throw std::invalid_argument("job '" + job_.name_ + "': on(\"" + pattern + "\") before any step");
  if (pattern_) {
    throw std::invalid_argument("job '" + job_.name_ + "': on(\"" + *pattern_ + "\") from '" + current_ +
                                "' has no target (to, end, fail or stop_and_restart)");
  }
  pattern_ = std::move(pattern);
  return *this;
}

job_builder& job_builder::add_transition(transition::kind what, std::string target) {
  if (!pattern_) throw std::invalid_argument("job '" + job_.name_ + "': a transition needs on(pattern) first");
  job_.transitions_.push_back({current_, std::move(*pattern_), what, std::move(target)});
  pattern_.reset();
  return *this;
}

job_builder& job_builder::to(std::string node) { return add_transition(transition::kind::to, std::move(node)); }
job_builder& job_builder::end(std::string exit_code) {
  return add_transition(transition::kind::end, std::move(exit_code));
}
job_builder& job_builder::fail() { return add_transition(transition::kind::fail, {}); }
job_builder& job_builder::stop_and_restart(std::string node) {
  return add_transition(transition::kind::stop_and_restart, std::move(node));
}

const step* job::find_step(const std::string& name) const {
  for (const auto& s : steps_) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

const decider_fn* job::find_decider(const std::string& name) const {
  auto it = deciders_.find(name);
  return it == deciders_.end() ? nullptr : &it->second;
}

job::route job::route_after(const std::string& node, batch_status status, const exit_status& exit) const {
  const transition* best = nullptr;
  bool any = false;
  for (const auto& t : transitions_) {
    if (t.from != node) continue;
    any = true;
    if (exit_pattern_matches(t.pattern, exit.code) && (!best || more_specific(t.pattern, best->pattern))) best = &t;
  }
  route r;
  if (!any) {
    // The sequential default: on to the next declared node after a COMPLETED step.
    if (status == batch_status::completed) {
      auto it = std::find(order_.begin(), order_.end(), node);
      if (it != order_.end() && ++it != order_.end()) {
        r.next = *it;
      } else {
        r.exit = exit_status::completed();
      }
      return r;
    }
    r.status = status;
    r.exit = exit;
    return r;
  }
  if (!best) {
    r.status = batch_status::failed;
    r.exit = exit_status::failed("no transition from '" + node + "' matches exit code '" + exit.code + "'");
    return r;
  }
  switch (best->what) {
    case transition::kind::to: r.next = best->target; break;
    case transition::kind::end: r.exit = {best->target, {}}; break;
    case transition::kind::fail:
      r.status = batch_status::failed;
      r.exit = exit.code == "FAILED" ? exit
                                     : exit_status::failed("the flow fails after '" + node + "' (exit " + exit.code + ")");
      break;
    case transition::kind::stop_and_restart:
      r.status = batch_status::stopped;
      r.exit = exit_status::stopped("stopped after '" + node + "'; a restart resumes at '" + best->target + "'");
      r.restart_at = best->target;
      break;
  }
  return r;
}

bool exit_pattern_matches(std::string_view pattern, std::string_view code) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t p = 0, c = 0, star = std::string_view::npos, mark = 0;
  while (c < code.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == code[c])) {
      ++p;
      ++c;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = c;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      c = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool more_specific(std::string_view a, std::string_view b) {
  auto wildcards = [](std::string_view s) { return std::count(s.begin(), s.end(), '*') * 2 + std::count(s.begin(), s.end(), '?'); };
  if (wildcards(a) != wildcards(b)) return wildcards(a) < wildcards(b);
  return a.size() > b.size();
}

job job_builder::build() const {
  if (job_.name_.empty()) throw std::invalid_argument("a job needs a name");
  if (job_.steps_.empty()) throw std::invalid_argument("job '" + job_.name_ + "' has no steps");
  if (pattern_) throw std::invalid_argument("job '" + job_.name_ + "': on(\"" + *pattern_ + "\") has no target");
  std::set<std::string> names;
  for (const auto& n : job_.order_) {
    if (!names.insert(n).second) {
      throw std::invalid_argument("job '" + job_.name_ + "' has two steps or deciders named '" + n + "'");
    }
  }
  for (const auto& t : job_.transitions_) {
    if (!names.contains(t.from)) {
      throw std::invalid_argument("job '" + job_.name_ + "': transition from unknown step '" + t.from + "'");
    }
    if ((t.what == transition::kind::to || t.what == transition::kind::stop_and_restart) && !names.contains(t.target)) {
      throw std::invalid_argument("job '" + job_.name_ + "': transition from '" + t.from + "' on '" + t.pattern +
                                  "' to unknown step '" + t.target + "'");
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
