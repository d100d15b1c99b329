#pragma once
// Kiln's version, as reported by `kiln --version`, REST /api/v1/status and /metrics.

#include <string_view>

namespace kiln {

inline constexpr std::string_view version = "0.2.0";

}  // namespace kiln
