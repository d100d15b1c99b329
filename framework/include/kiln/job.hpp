#pragma once
// A job: a name, its declared parameters, and a sequence of steps (Spring Batch's SimpleJob).
// Build with job_builder; register in a registry to make it runnable from the CLI.

#include <kiln/flow.hpp>
#include <kiln/job_parameters.hpp>
#include <kiln/listeners.hpp>
#include <kiln/step.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

// Quartz's DisallowConcurrentExecution: with `forbid`, a queued execution of the job waits while
// another execution of the same job runs.
enum class concurrency_policy { allow, forbid };
// What a node does, on start, with an execution that was running when the node died: `restart`
// resumes it from its last checkpoint (a new execution of the instance); `none` leaves it FAILED
// for a person to decide (for jobs that must not rerun blindly).
enum class recovery_policy { restart, none };

class job {
 public:
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& description() const { return description_; }
  [[nodiscard]] const std::vector<param_spec>& parameter_specs() const { return params_; }
  [[nodiscard]] bool restartable() const { return restartable_; }
  [[nodiscard]] concurrency_policy concurrency() const { return concurrency_; }
  [[nodiscard]] recovery_policy recovery() const { return recovery_; }
  [[nodiscard]] const std::vector<std::shared_ptr<const step>>& steps() const { return steps_; }
  // Steps and deciders in declaration order; the first is where the flow starts.
  [[nodiscard]] const std::vector<std::string>& nodes() const { return order_; }
  [[nodiscard]] const std::vector<transition>& transitions() const { return transitions_; }
  [[nodiscard]] const step* find_step(const std::string& name) const;
  [[nodiscard]] const decider_fn* find_decider(const std::string& name) const;
  [[nodiscard]] const std::vector<job_listener>& listeners() const { return listeners_; }

  // Where the flow goes after `node` ended with (status, exit): the next node's name, or an end
  // state (status, exit code) when `next` comes back empty.
  struct route {
    std::string next;
    batch_status status = batch_status::completed;
    exit_status exit;
    std::string restart_at;  // stop_and_restart: where the next execution resumes
  };
  [[nodiscard]] route route_after(const std::string& node, batch_status status, const exit_status& exit) const;
  // Types, defaults and checks `args` (`[-]name[(type)]=value` each) against the declared specs.
  [[nodiscard]] expected<job_parameters> parameters_from(const std::vector<std::string>& args) const;
  [[nodiscard]] expected<job_parameters> validate(const std::vector<raw_parameter>& raw) const;

 private:
  friend class job_builder;
  std::string name_;
  std::string description_;
  std::vector<param_spec> params_;
  bool allow_unknown_ = false;
  bool restartable_ = true;
  concurrency_policy concurrency_ = concurrency_policy::allow;
  recovery_policy recovery_ = recovery_policy::restart;
  std::vector<std::shared_ptr<const step>> steps_;
  std::vector<std::string> order_;
  std::map<std::string, decider_fn> deciders_;
  std::vector<transition> transitions_;
  std::vector<job_listener> listeners_;
};

class job_builder {
 public:
  explicit job_builder(std::string name);
  job_builder& describe(std::string text);
  // Declares a parameter; see kiln::param.
  job_builder& parameter(param_spec spec);
  // Accept parameters that were not declared (as strings, identifying). Default: refused.
  job_builder& allow_unknown_parameters(bool v = true);
  // A non-restartable job refuses to run an instance a second time. Default: restartable.
  job_builder& restartable(bool v);
  // Default: allow. See concurrency_policy.
  job_builder& concurrency(concurrency_policy p);
  // Default: restart. See recovery_policy.
  job_builder& recovery(recovery_policy p);
  // Adds a job listener (listeners.hpp); listeners run in the order added.
  job_builder& listener(job_listener l);

  // Appends a step (a tasklet_step, a chunk_step<I,O>, or any kiln::step).
  template <class S>
  job_builder& step(S s) {
    return add_step(std::make_shared<const S>(std::move(s)));
  }
  // Same as step(); reads better after the first.
  template <class S>
  job_builder& next(S s) {
    return step(std::move(s));
  }
  job_builder& add_step(std::shared_ptr<const kiln::step> s);

  // A decider: a node that runs no step, only picks the exit code its transitions route on.
  job_builder& decider(std::string name, decider_fn fn);
  // Transitions. `on` starts one from the node declared last (or named by `from`), and one of
  // `to`, `end`, `fail`, `stop_and_restart` completes it:
  //   .step(load).on("FAILED").to("cleanup").from("load").on("*").to("report")
  job_builder& from(std::string node);
  job_builder& on(std::string pattern);
  job_builder& to(std::string node);
  // Ends the job COMPLETED with this exit code.
  job_builder& end(std::string exit_code = "COMPLETED");
  // Ends the job FAILED.
  job_builder& fail();
  // Ends the job STOPPED; restarting the instance resumes the flow at `node`.
  job_builder& stop_and_restart(std::string node);

  // Throws std::invalid_argument for a job without steps, two nodes of the same name, a
  // transition to an unknown node, or an `on` without its target.
  [[nodiscard]] job build() const;

 private:
  job_builder& add_transition(transition::kind what, std::string target);
  job job_;
  std::string current_;  // the node transitions start from
  std::optional<std::string> pattern_;
};

// The jobs an application can run, by name.
class registry {
 public:
  // Throws std::invalid_argument if a job of that name is already registered.
  registry& add(job j);
  [[nodiscard]] const job* find(const std::string& name) const;
  [[nodiscard]] const std::map<std::string, job>& jobs() const { return jobs_; }

 private:
  std::map<std::string, job> jobs_;
};

}  // namespace kiln
