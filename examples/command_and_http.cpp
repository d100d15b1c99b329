#include "example_jobs.hpp"

#include <kiln/jobs/command_tasklet.hpp>
#include <kiln/jobs/http_tasklet.hpp>

#include <chrono>
#include <sstream>

namespace kiln::examples {

namespace {

// "a b  c" -> {"a", "b", "c"}: arguments from one parameter, split on spaces (no quoting).
std::vector<std::string> split_on_spaces(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

}  // namespace

// [command-and-http]
job command_and_http() {
  using namespace std::chrono_literals;
  return job_builder("command-and-http")
      .describe("runs a program, then calls a URL; each step's output is kept in its context")
      .parameter(param("command")
                     .default_value(std::string("/bin/true"))
                     .non_empty()
                     .describe("program to run (a path, or a name looked up in PATH)"))
      .parameter(param("args").default_value(std::string()).describe("its arguments, separated by spaces"))
      .parameter(param("url").required().non_empty().describe("http:// or https:// URL to GET"))
      .step(tasklet_step("command", command_tasklet("{command}")
                                        .args_from([](const job_parameters& p) {
                                          return split_on_spaces(p.get_string("args"));
                                        })
                                        .timeout(60s)))
      .next(tasklet_step("http", http_tasklet("{url}").timeout(10s).retries(3).backoff(200ms)))
      .build();
}
// [command-and-http]

}  // namespace kiln::examples
