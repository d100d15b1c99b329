#pragma once
// JSON views of jobs and executions, shared by `kiln ... --json`, the REST API and the dashboard,
// so every surface shows the same fields.

#include <kiln/error.hpp>
#include <kiln/job.hpp>
#include <kiln/state_store.hpp>

#include <boost/json/object.hpp>

namespace kiln {

// name, description, parameters (name, type, required, identifying, default, description),
// steps (name, kind), restartable, concurrency, recovery.
boost::json::object job_view(const job& j);

// The execution record plus its step executions, each with its committed context.
expected<boost::json::object> execution_detail(const state_store& store, std::int64_t execution_id);

}  // namespace kiln
