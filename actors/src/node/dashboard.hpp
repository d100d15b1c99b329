#pragma once
// Private: the dashboard's static files (web/index.html, style.css and the JavaScript modules),
// built into the binary at configure time so the node serves them without files on disk or a
// front-end build step.

#include <string_view>

namespace kiln::node_detail {

struct web_asset {
  std::string_view path;          // as requested: "/", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path`, or nullptr. The assets hold no data of the node (the page fetches it
// from the API with the user's token), so they are served without a token.
const web_asset* dashboard_asset(std::string_view path);

}  // namespace kiln::node_detail
