#pragma once
// The message vocabulary of Kiln's actors: every atom and message struct, with inspect() so CAF
// can print (and later serialize) them. Nothing here carries a C++ exception: outcomes travel as
// values.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::actors {

using run_atom = caf::atom_constant<caf::atom("run")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using step_done_atom = caf::atom_constant<caf::atom("stepdone")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using claim_atom = caf::atom_constant<caf::atom("claim")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using run_done_atom = caf::atom_constant<caf::atom("rundone")>;
using claimed_atom = caf::atom_constant<caf::atom("claimed")>;
// The scheduler: its timer, the leadership signal, and "this schedule changed" (by name).
using tick_atom = caf::atom_constant<caf::atom("schedtick")>;
using leader_atom = caf::atom_constant<caf::atom("leader")>;
using schedule_changed_atom = caf::atom_constant<caf::atom("schedchg")>;

// How a step execution or a job execution ended.
struct outcome {
  std::int64_t execution_id = 0;
  std::string status;  // BatchStatus name, e.g. "COMPLETED"
  std::string exit_code;
  std::string exit_description;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outcome& x) {
  return f(caf::meta::type_name("kiln_outcome"), x.execution_id, x.status, x.exit_code, x.exit_description);
}

// The durable result of the dispatcher's claim number `seq`: the executions it took, or why it failed.
struct claim_result {
  std::int64_t seq = 0;
  std::vector<std::int64_t> executions;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_result& x) {
  return f(caf::meta::type_name("kiln_claim_result"), x.seq, x.executions, x.error);
}

}  // namespace kiln::actors
