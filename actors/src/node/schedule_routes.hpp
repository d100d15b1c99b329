#pragma once
// Private: the REST routes of schedules (/api/v1/schedules...), per /work/shared/schedule-api.md
// and docs/rest-api.md. Registered by the gateway; handlers call the node's job_operator.

#include <kiln/job_operator.hpp>

#include <boost/json/value.hpp>

#include <cstddef>

namespace httplib {
class Server;
}

namespace kiln::node_detail {

void add_schedule_routes(httplib::Server& server, job_operator& node, std::size_t max_body_bytes);

// The schedule object of the REST API (also what the CLI prints with --json).
boost::json::object schedule_json(const job_operator& node, const schedule_record& s);

}  // namespace kiln::node_detail
