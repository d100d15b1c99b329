#pragma once
// Conditional flows (Spring Batch's FlowJob): after a step or a decider, the job follows the
// transition whose pattern matches the exit code — to another step or decider, or to an end
// state (end, fail, stop_and_restart). Patterns match exit codes with '*' (any run of characters)
// and '?' (one character); the most specific matching pattern wins (exact, then fewer wildcards,
// then longer). Without transitions a node goes on to the next declared one when it COMPLETED,
// and otherwise ends the job with its status.

#include <kiln/batch_status.hpp>
#include <kiln/job_parameters.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace kiln {

struct transition {
  enum class kind { to, end, fail, stop_and_restart };
  std::string from;     // step or decider name
  std::string pattern;  // exit code pattern
  kind what = kind::to;
  std::string target;   // to, stop_and_restart: a node name; end: the job's exit code
};

// What a decider sees: the job's parameters and how the node before it ended.
struct flow_state {
  const job_parameters& parameters;
  std::string last_node;
  batch_status last_status = batch_status::completed;
  exit_status last_exit;
};

// Returns an exit code; the decider's transitions route on it.
using decider_fn = std::function<std::string(const flow_state&)>;

bool exit_pattern_matches(std::string_view pattern, std::string_view code);

// Orders patterns from most to least specific (Spring Batch's ordering of StateTransitions).
bool more_specific(std::string_view a, std::string_view b);

}  // namespace kiln
