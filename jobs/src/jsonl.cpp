#include <kiln/jobs/jsonl.hpp>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>

#include <stdexcept>

namespace kiln::detail {

namespace {

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

}  // namespace

// Values are parsed into an arena that is recycled for every line, so parsing a line of up to
// about 64 KiB of values allocates nothing.
struct jsonl_input::state {
  line_reader lines;
  std::string path;
  std::int64_t line = 0;
  unsigned char arena_buffer[64 * 1024];
  boost::json::monotonic_resource arena{arena_buffer, sizeof arena_buffer};
  boost::json::parser parser;
  std::optional<boost::json::value> value;  // allocated in arena
};

jsonl_input::jsonl_input(std::string path_pattern, std::string name)
    : pattern_(std::move(path_pattern)), keys_(name) {}

jsonl_input::jsonl_input(const jsonl_input& other) : pattern_(other.pattern_), keys_(other.keys_) {}

jsonl_input::jsonl_input(jsonl_input&&) noexcept = default;

jsonl_input::~jsonl_input() = default;

void jsonl_input::open(step_context& ctx) {
  state_.reset();
  auto s = std::make_unique<state>();
  s->path = ctx.resolve(pattern_);
  open_at_saved_position(s->lines, s->path, keys_, ctx.context(), [] {});
  state_ = std::move(s);
}

const boost::json::value* jsonl_input::next() {
  if (!state_) throw std::logic_error("jsonl_reader::read() before open()");
  auto& s = *state_;
  std::optional<std::string_view> line;
  do {
    line = s.lines.next_line();
    if (!line) return nullptr;
  } while (is_blank(*line));
  s.line = s.lines.line() - 1;

  s.value.reset();
  s.arena.release();
  s.parser.reset(&s.arena);
  boost::system::error_code ec;
  const std::size_t used = s.parser.write(line->data(), line->size(), ec);
  if (ec) {
    throw parse_error(s.path, s.line, "",
                      "invalid JSON: " + ec.message() + " at column " + std::to_string(used + 1));
  }
  s.value.emplace(s.parser.release());
  return &*s.value;
}

void jsonl_input::update(execution_context& ctx) const {
  if (state_) keys_.save(ctx, state_->lines);
}

void jsonl_input::close() noexcept { state_.reset(); }

std::optional<double> jsonl_input::fraction_done() const {
  if (!state_) return std::nullopt;
  return detail::fraction_done(state_->lines);
}

const std::string& jsonl_input::path() const {
  if (!state_) throw std::logic_error("jsonl_reader used before open()");
  return state_->path;
}

std::int64_t jsonl_input::line() const { return state_ ? state_->line : 0; }

}  // namespace kiln::detail
