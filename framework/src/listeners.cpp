#include <kiln/listeners.hpp>

namespace kiln {

namespace {
// Spring Batch's ExitStatus severity; codes it does not know rank above all.
int severity(const std::string& code) {
  if (code == "EXECUTING") return 1;
  if (code == "COMPLETED") return 2;
  if (code == "NOOP") return 3;
  if (code == "STOPPED") return 4;
  if (code == "FAILED") return 5;
  if (code == "UNKNOWN") return 6;
  return 7;
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty() || a == b) return a;
  return a + "; " + b;
}
}  // namespace

exit_status combine_exit(const exit_status& a, const exit_status& b) {
  const int sa = severity(a.code);
  const int sb = severity(b.code);
  if (sa < sb || (sa == sb && a.code < b.code)) return {b.code, join(b.description, a.description)};
  return {a.code, join(a.description, b.description)};
}

}  // namespace kiln
