#pragma once
// The whole Kiln command line in one call, for an application's own main():
//
//   int main(int argc, char** argv) {
//     kiln::registry jobs;
//     jobs.add(my_job());
//     return kiln::main(argc, argv, jobs);
//   }
//
// Commands: run, jobs, executions, show, abandon (`--help` on each). Exit codes of `run`:
// 0 COMPLETED, 1 FAILED, 2 bad usage or refused, 3 STOPPED.

#include <kiln/job.hpp>

namespace kiln {

enum class exit_code : int { completed = 0, failed = 1, usage = 2, stopped = 3 };

int main(int argc, char** argv, const registry& jobs);

}  // namespace kiln
