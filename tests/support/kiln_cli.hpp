#pragma once
// Running the `kiln` binary (KILN_BINARY) in a test's folder, for process-level tests of the CLI.
// Include only from test_process.

#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::test {

// `kiln ARGS...` run to its end in `dir`.
inline process_result run_kiln(const temp_dir& dir, const std::vector<std::string>& args) {
  return run_process(KILN_BINARY, args, dir.path());
}

// The execution id `kiln run` printed ("execution N ...").
inline std::int64_t execution_id_of(const process_result& r) {
  const auto pos = r.out.find("execution ");
  REQUIRE(pos != std::string::npos);
  return std::stoll(r.out.substr(pos + 10));
}

}  // namespace kiln::test
