#pragma once
// An execution context is a JSON object (Boost.JSON) that item streams and tasklets use to keep
// restart state. A step's context is committed atomically with every chunk; on restart the step
// resumes with the context of its last commit.

#include <boost/json/object.hpp>

namespace kiln {
using execution_context = boost::json::object;
}
