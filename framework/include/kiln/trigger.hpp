#pragma once
// Triggers: when a schedule's nominal slots fall. A trigger is a cron expression (Quartz syntax,
// 6 or 7 fields, or Unix 5 fields), a fixed interval, or one instant, evaluated in an IANA time
// zone between optional start and end bounds. Evaluation is pure: the same spec and the same
// `after` give the same slot on every node, so the state machine may compute it.
// Times are milliseconds since the Unix epoch, UTC. Thread-safe for concurrent const use.

#include <kiln/error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class trigger_kind { cron, interval, once };

std::string_view to_string(trigger_kind k);

struct trigger_spec {
  trigger_kind kind = trigger_kind::cron;
  std::string cron;               // kind cron: "0 0 2 * * ?" (Quartz) or "0 2 * * *" (Unix)
  std::int64_t interval_ms = 0;   // kind interval: > 0; slots at start + k * interval
  std::int64_t at_ms = 0;         // kind once: the one slot
  std::string time_zone = "UTC";  // Default: UTC. IANA name, e.g. "Europe/Berlin"
  std::int64_t start_ms = 0;      // Default: 0 = no lower bound (interval: anchor, required)
  std::int64_t end_ms = 0;        // Default: 0 = no upper bound; slots after it never fire
};

class trigger {
 public:
  // Validates the spec: a bad cron expression is refused with a message that names the field
  // ("cron field 3 (hour) '25': value out of range 0-23"), an unknown zone with its name.
  static expected<trigger> make(const trigger_spec& spec);

  // The first nominal slot strictly after `after_ms` within the bounds, or nullopt when none
  // remains. DST: a local time skipped by spring-forward fires once at the first valid instant
  // after it; a local time repeated on fall-back fires once (at its first occurrence).
  [[nodiscard]] std::optional<std::int64_t> next_after(std::int64_t after_ms) const;

  [[nodiscard]] const trigger_spec& spec() const;

  // `ms` as local time in the trigger's zone, ISO-8601 with offset: "2026-03-29T03:00:00+02:00".
  [[nodiscard]] std::string local_time(std::int64_t ms) const;

  trigger(const trigger&);
  trigger& operator=(const trigger&);
  trigger(trigger&&) noexcept;
  trigger& operator=(trigger&&) noexcept;
  ~trigger();

  struct impl;

 private:
  explicit trigger(std::shared_ptr<const impl> p);
  std::shared_ptr<const impl> impl_;
};

// "90s", "5m", "1h30m", "2d", "250ms" (also ISO-8601 "PT5M"). Refused: empty, zero, negative,
// unknown unit; the message shows the accepted forms.
expected<std::int64_t> parse_duration_ms(std::string_view text);

// An instant: ISO-8601 with offset or Z ("2026-12-01T02:00:00Z"), or a local date-time
// ("2026-12-01T02:00" / "2026-12-01 02:00:00") read in `time_zone`.
expected<std::int64_t> parse_instant_ms(std::string_view text, std::string_view time_zone = "UTC");

// "2026-12-01T02:00:00Z" (milliseconds shown only when not zero).
std::string format_utc(std::int64_t ms);

}  // namespace kiln
