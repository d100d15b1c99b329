#pragma once
// Private: the dashboard page (web/index.html), built into the binary at configure time so the
// node serves it without files on disk or a front-end build step.

#include <string_view>

namespace kiln::node_detail {

std::string_view dashboard_html();

}  // namespace kiln::node_detail
