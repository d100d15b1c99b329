#include <kiln/exceptions.hpp>
#include <kiln/fault_tolerance.hpp>
#include <kiln/state_store.hpp>
#include <kiln/step_context.hpp>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <system_error>

namespace kiln {

namespace json = boost::json;

const std::exception* detail::std_exception_of(const std::exception_ptr& e) {
  thread_local std::exception_ptr last;  // keeps the object alive, so its address is not reused
  thread_local const std::exception* last_std = nullptr;
  if (!e) return nullptr;
  if (e == last) return last_std;
  const std::exception* found = nullptr;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    found = &x;  // the object the exception_ptr holds, not a copy
  } catch (...) {  // NOLINT(bugprone-empty-catch): not a std::exception
  }
  last = e;
  last_std = found;
  return found;
}

bool exception_classes::matches(const std::exception_ptr& e) const {
  if (entries_.empty() || !e) return false;
  const std::exception* x = detail::std_exception_of(e);
  return std::any_of(entries_.begin(), entries_.end(), [&](const entry& en) {
    return x && en.std_match ? en.std_match(*x) : en.match(e);
  });
}

bool skip_policy::skippable(const std::exception_ptr& e) const {
  return skip_.matches(e) && !no_skip_.matches(e);
}

std::chrono::milliseconds backoff_delay(const backoff_policy& p, std::int64_t retry, std::mt19937_64& rng) {
  using std::chrono::milliseconds;
  if (const auto* f = std::get_if<backoff::fixed>(&p)) return f->period;
  const auto* x = std::get_if<backoff::exponential>(&p);
  if (!x) return milliseconds{0};
  const double multiplier = std::max(1.0, x->multiplier);
  const auto cap = static_cast<double>(x->max.count());
  double d = static_cast<double>(x->initial.count()) *
             std::pow(multiplier, static_cast<double>(std::max<std::int64_t>(0, retry - 1)));
  d = std::min(d, cap);
  if (x->jitter) {
    std::uniform_real_distribution<double> u(1.0, multiplier);
    d = std::min(d * u(rng), cap);
  }
  return milliseconds{static_cast<std::int64_t>(d)};
}

std::string describe_exception(const std::exception_ptr& e) {
  if (const auto* x = detail::std_exception_of(e)) return x->what();
  return "unknown error";
}

namespace {
constexpr const char* file_key = "kiln.skip_log.file";
constexpr const char* offset_key = "kiln.skip_log.offset";

// Cuts `file` to `size` bytes if it is longer (a missing file is fine: nothing was logged).
void truncate_to(const std::filesystem::path& file, std::int64_t size) {
  std::error_code ec;
  const auto now = std::filesystem::file_size(file, ec);
  if (ec) return;
  if (now <= static_cast<std::uintmax_t>(size)) return;
  std::filesystem::resize_file(file, static_cast<std::uintmax_t>(size), ec);
  if (ec)
    throw io_error(
        fmt::format("cannot truncate skip log '{}' to its last commit: {}", file.string(), ec.message()));
}

std::int64_t committed_offset(const execution_context& ctx, const std::filesystem::path& file) {
  const auto* f = ctx.if_contains(file_key);
  const auto* o = ctx.if_contains(offset_key);
  if (!f || !o || !f->is_string() || !o->is_int64() || f->as_string() != file.string()) return 0;
  return o->as_int64();
}
}  // namespace

std::filesystem::path skip_log::path_for(const std::filesystem::path& data_dir, std::int64_t execution_id,
                                         std::int64_t step_execution_id) {
  return data_dir / "skips" / std::to_string(execution_id) / (std::to_string(step_execution_id) + ".jsonl");
}

void skip_log::open(const state_store& store, step_context& ctx) {
  close();
  step_ = ctx.step_name();
  execution_id_ = ctx.job_execution_id();
  path_ = path_for(store.dir(), ctx.job_execution_id(), ctx.step_execution_id());
  size_ = 0;
  pending_.clear();
  // Earlier attempts of this step in this instance (earlier executions, or earlier visits of a
  // flow in this one): keep only what their commits recorded.
  if (auto e = store.execution(ctx.job_execution_id())) {
    for (const auto& other : store.instance_executions(e->instance_id)) {
      for (const auto& st : store.step_executions(other.id)) {
        // A running one (a concurrent partition of the same name) owns its file.
        if (st.step_name != ctx.step_name() || st.id == ctx.step_execution_id() || is_running(st.status)) continue;
        const auto file = path_for(store.dir(), other.id, st.id);
        truncate_to(file, committed_offset(store.step_context(st.id), file));
      }
    }
  }
  ctx.context()[file_key] = path_.string();
  ctx.context()[offset_key] = std::int64_t{0};
}

void skip_log::add(std::string_view phase, const std::exception_ptr& error, const json::value* item) {
  json::object rec{{"execution_id", execution_id_},
                   {"step", step_},
                   {"phase", phase},
                   {"error", describe_exception(error)}};
  if (item) rec["item"] = *item;
  pending_ += json::serialize(rec);
  pending_ += '\n';
}

void skip_log::update(execution_context& ctx) {
  ctx[file_key] = path_.string();
  ctx[offset_key] = size_ + static_cast<std::int64_t>(pending_.size());
}

void skip_log::flush() {
  if (pending_.empty()) return;
  if (!open_) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    out_.open(path_, std::ios::binary | std::ios::app);
    if (!out_) throw io_error(fmt::format("cannot open skip log '{}'", path_.string()));
    open_ = true;
  }
  out_.write(pending_.data(), static_cast<std::streamsize>(pending_.size()));
  out_.flush();
  if (!out_) throw io_error(fmt::format("cannot write skip log '{}'", path_.string()));
  size_ += static_cast<std::int64_t>(pending_.size());
  pending_.clear();
}

void skip_log::close() noexcept {
  if (open_) out_.close();
  open_ = false;
  pending_.clear();
}

}  // namespace kiln
