#include <kiln/trigger.hpp>

#include "cron_parse.hpp"

#include <date/tz.h>
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <limits>

namespace kiln {

namespace {

using seconds = std::chrono::seconds;
using local_seconds = date::local_time<seconds>;
using sys_seconds = date::sys_time<seconds>;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

expected<const date::time_zone*> find_zone(std::string_view name) {
  std::string zone_name = name.empty() ? std::string("UTC") : std::string(name);
  try {
    return date::locate_zone(zone_name);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.find("not found in timezone database") != std::string::npos) {
      return fail(errc::bad_parameter,
                  fmt::format("unknown time zone '{}'; use an IANA name such as 'UTC', 'Europe/Berlin' or "
                              "'America/New_York' (see /usr/share/zoneinfo)",
                              zone_name));
    }
    return fail(errc::bad_parameter,
                fmt::format("time zone '{}' could not be loaded ({}); is the tzdata package installed?",
                            zone_name, what));
  }
}

// A local time read in `zone`: a time skipped by a DST change is the first instant after the
// gap, a repeated time its first occurrence. The same rule the cron trigger follows.
sys_seconds to_sys(const date::time_zone* zone, local_seconds local) {
  auto info = zone->get_info(local);
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:
      return sys_seconds{local.time_since_epoch() - info.first.offset};
    case date::local_info::nonexistent:
      return info.first.end;
  }
  return sys_seconds{local.time_since_epoch() - info.first.offset};
}

std::string format_offset(seconds offset) {
  auto total = offset.count();
  char sign = total < 0 ? '-' : '+';
  if (total < 0) total = -total;
  return fmt::format("{}{:02}:{:02}", sign, total / 3600, (total % 3600) / 60);
}

// "2026-03-29T03:00:00" (+ ".250" when the milliseconds are not zero) for a time since the epoch.
std::string format_date_time(std::int64_t ms_since_epoch) {
  auto secs = floor_div(ms_since_epoch, 1000);
  auto millis = ms_since_epoch - secs * 1000;
  auto day_count = floor_div(secs, 86400);
  auto in_day = secs - day_count * 86400;
  date::year_month_day ymd{date::sys_days{date::days{day_count}}};
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                                in_day / 3600, (in_day % 3600) / 60, in_day % 60);
  if (millis != 0) out += fmt::format(".{:03}", millis);
  return out;
}

template <std::size_t N>
std::optional<unsigned> next_bit(const std::bitset<N>& bits, unsigned from) {
  for (std::size_t i = from; i < N; ++i) {
    if (bits.test(i)) return static_cast<unsigned>(i);
  }
  return std::nullopt;
}

// The first local time >= from and < limit that the expression matches. Jumps field by field
// (year, month, day, hour, minute, second); never steps second by second.
std::optional<local_seconds> find_local(const detail::cron_expr& e, local_seconds from, local_seconds limit) {
  auto day_point = date::floor<date::days>(from);
  date::year_month_day ymd{day_point};
  auto tod = (from - day_point).count();
  int y = static_cast<int>(ymd.year());
  auto mo = static_cast<unsigned>(ymd.month());
  auto d = static_cast<unsigned>(ymd.day());
  auto h = static_cast<unsigned>(tod / 3600);
  auto mi = static_cast<unsigned>((tod % 3600) / 60);
  auto s = static_cast<unsigned>(tod % 60);
  if (y < detail::cron_min_year) {
    y = detail::cron_min_year;
    mo = d = 1;
    h = mi = s = 0;
  }
  auto at = [&] {
    return local_seconds{date::local_days{date::year{y} / date::month{mo} / date::day{d}}} +
           std::chrono::hours{h} + std::chrono::minutes{mi} + seconds{s};
  };
  auto next_month = [&] {
    d = 1;
    h = mi = s = 0;
    if (++mo > 12) {
      mo = 1;
      ++y;
    }
  };
  auto next_day = [&] {
    h = mi = s = 0;
    if (++d > static_cast<unsigned>((date::year{y} / date::month{mo} / date::last).day())) next_month();
  };
  auto next_hour = [&] {
    mi = s = 0;
    if (++h > 23) next_day();
  };
  auto next_minute = [&] {
    s = 0;
    if (++mi > 59) next_hour();
  };
  while (y <= detail::cron_max_year) {
    if (at() >= limit) return std::nullopt;
    if (!e.year_allowed(y)) {
      ++y;
      mo = d = 1;
      h = mi = s = 0;
      continue;
    }
    if (!e.months.test(mo)) {
      next_month();
      continue;
    }
    if (!e.day_matches(y, mo, d)) {
      next_day();
      continue;
    }
    auto nh = next_bit(e.hours, h);
    if (!nh) {
      next_day();
      continue;
    }
    if (*nh != h) {
      h = *nh;
      mi = s = 0;
    }
    auto nm = next_bit(e.minutes, mi);
    if (!nm) {
      next_hour();
      continue;
    }
    if (*nm != mi) {
      mi = *nm;
      s = 0;
    }
    auto ns = next_bit(e.seconds, s);
    if (!ns) {
      next_minute();
      continue;
    }
    s = *ns;
    auto found = at();
    if (found >= limit) return std::nullopt;
    return found;
  }
  return std::nullopt;
}

}  // namespace

struct trigger::impl {
  trigger_spec spec;
  const date::time_zone* zone = nullptr;
  detail::cron_expr cron;

  // The first cron slot at or after `from`, as UTC seconds. Walks the zone's offset periods: within
  // one the local time is UTC plus a fixed offset, so the search runs on the local calendar.
  [[nodiscard]] std::optional<sys_seconds> next_cron(sys_seconds from) const {
    const sys_seconds stop{date::sys_days{date::year{detail::cron_max_year + 1} / 1 / 1}};
    sys_seconds t = from;
    // Each round moves to a later offset period (two a year in a DST zone) or returns.
    for (int round = 0; round < 4000 && t < stop; ++round) {
      auto info = zone->get_info(t);
      auto off = info.offset;
      std::optional<date::sys_info> prev;
      if (info.begin > sys_seconds{seconds{std::numeric_limits<std::int32_t>::min()}}) {
        prev = zone->get_info(info.begin - seconds{1});
      }
      // Fixed hours follow the wall clock: local times skipped by spring-forward fire once, at the
      // first instant after the gap.
      if (t == info.begin && prev && prev->offset < off && !cron.every_hour) {
        local_seconds gap_from{(info.begin + prev->offset).time_since_epoch()};
        local_seconds gap_to{(info.begin + off).time_since_epoch()};
        if (find_local(cron, gap_from, gap_to)) return info.begin;
      }
      local_seconds local_from{(t + off).time_since_epoch()};
      local_seconds local_to = info.end >= stop ? local_seconds{stop.time_since_epoch()}
                                                : local_seconds{(info.end + off).time_since_epoch()};
      auto found = find_local(cron, local_from, local_to);
      if (!found) {
        t = info.end;
        continue;
      }
      // After fall-back the first local hour(s) of this period repeat the previous period's; with
      // fixed hours they fired there already.
      if (prev && prev->offset > off && !cron.every_hour) {
        local_seconds repeat_end{(info.begin + prev->offset).time_since_epoch()};
        if (*found < repeat_end) {
          t = info.begin + (prev->offset - off);
          continue;
        }
      }
      return sys_seconds{found->time_since_epoch() - off};
    }
    return std::nullopt;
  }
};

std::string_view to_string(trigger_kind k) {
  switch (k) {
    case trigger_kind::cron: return "cron";
    case trigger_kind::interval: return "interval";
    case trigger_kind::once: return "once";
  }
  return "unknown";
}

expected<trigger> trigger::make(const trigger_spec& spec) {
  auto p = std::make_shared<impl>();
  p->spec = spec;
  if (p->spec.time_zone.empty()) p->spec.time_zone = "UTC";
  auto zone = find_zone(p->spec.time_zone);
  if (!zone) return std::unexpected(zone.error());
  p->zone = *zone;
  if (spec.end_ms != 0 && spec.end_ms < spec.start_ms) {
    return fail(errc::bad_parameter, fmt::format("trigger end {} is before its start {}; no slot could fire",
                                                 format_utc(spec.end_ms), format_utc(spec.start_ms)));
  }
  switch (spec.kind) {
    case trigger_kind::cron: {
      auto parsed = detail::parse_cron(spec.cron);
      if (!parsed) return std::unexpected(parsed.error());
      p->cron = std::move(*parsed);
      break;
    }
    case trigger_kind::interval:
      if (spec.interval_ms <= 0) {
        return fail(errc::bad_parameter,
                    fmt::format("interval trigger: interval must be positive (got {} ms); e.g. 5m or 90s",
                                spec.interval_ms));
      }
      if (spec.start_ms == 0) {
        return fail(errc::bad_parameter,
                    "interval trigger: a start time is required; slots fall at start + k * interval");
      }
      break;
    case trigger_kind::once:
      if (spec.at_ms <= 0) {
        return fail(errc::bad_parameter, "one-shot trigger: the instant to fire at is required (at)");
      }
      break;
  }
  return trigger(std::shared_ptr<const impl>(std::move(p)));
}

std::optional<std::int64_t> trigger::next_after(std::int64_t after_ms) const {
  const auto& s = impl_->spec;
  if (s.start_ms != 0 && after_ms < s.start_ms - 1) after_ms = s.start_ms - 1;
  std::optional<std::int64_t> slot;
  switch (s.kind) {
    case trigger_kind::once:
      if (s.at_ms > after_ms) slot = s.at_ms;
      break;
    case trigger_kind::interval: {
      if (after_ms < s.start_ms) {
        slot = s.start_ms;
        break;
      }
      auto k = (after_ms - s.start_ms) / s.interval_ms + 1;
      std::int64_t offset = 0;
      std::int64_t value = 0;
      if (!__builtin_mul_overflow(k, s.interval_ms, &offset) &&
          !__builtin_add_overflow(s.start_ms, offset, &value)) {
        slot = value;
      }
      break;
    }
    case trigger_kind::cron: {
      auto from = std::max<std::int64_t>(floor_div(after_ms, 1000) + 1, 0);
      if (auto found = impl_->next_cron(sys_seconds{seconds{from}})) {
        slot = found->time_since_epoch().count() * 1000;
      }
      break;
    }
  }
  if (slot && s.end_ms != 0 && *slot > s.end_ms) return std::nullopt;
  return slot;
}

const trigger_spec& trigger::spec() const { return impl_->spec; }

std::string trigger::local_time(std::int64_t ms) const {
  auto info = impl_->zone->get_info(sys_seconds{seconds{floor_div(ms, 1000)}});
  return format_date_time(ms + info.offset.count() * 1000) + format_offset(info.offset);
}

trigger::trigger(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}
trigger::trigger(const trigger&) = default;
trigger& trigger::operator=(const trigger&) = default;
trigger::trigger(trigger&&) noexcept = default;
trigger& trigger::operator=(trigger&&) noexcept = default;
trigger::~trigger() = default;

namespace {

std::unexpected<error> bad_duration(std::string_view text, std::string_view problem) {
  return std::unexpected<error>(
      error(errc::bad_parameter, fmt::format("duration '{}': {}; use forms like 250ms, 90s, 5m, 1h30m, 2d or "
                                             "ISO-8601 PT5M",
                                             text, problem)));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

expected<std::int64_t> parse_duration_ms(std::string_view text) {
  auto t = trim(text);
  if (t.empty()) return bad_duration(text, "empty");
  if (t.front() == '-') return bad_duration(text, "negative durations are not allowed");
  if (t.front() == '+') t.remove_prefix(1);
  bool iso = t.front() == 'P' || t.front() == 'p';
  bool in_time = false;  // ISO: after 'T'
  if (iso) t.remove_prefix(1);
  std::int64_t total = 0;
  bool any = false;
  while (!t.empty()) {
    if (iso && (t.front() == 'T' || t.front() == 't')) {
      if (in_time) return bad_duration(text, "'T' appears twice");
      in_time = true;
      t.remove_prefix(1);
      continue;
    }
    std::size_t n = 0;
    while (n < t.size() && std::isdigit(static_cast<unsigned char>(t[n]))) ++n;
    if (n == 0) return bad_duration(text, fmt::format("expected a number at '{}'", t));
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + n, value);
    if (ec != std::errc{}) return bad_duration(text, "number too large");
    t.remove_prefix(n);
    std::size_t u = 0;
    auto is_unit_letter = [&](char ch) {
      return std::isalpha(static_cast<unsigned char>(ch)) && !(iso && (ch == 'T' || ch == 't'));
    };
    while (u < t.size() && is_unit_letter(t[u])) ++u;
    if (iso && u > 1) u = 1;  // ISO units are one letter: P1DT2H
    std::string unit(t.substr(0, u));
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    t.remove_prefix(u);
    std::int64_t factor = 0;
    if (unit.empty()) return bad_duration(text, fmt::format("the number {} has no unit", value));
    if (iso) {
      if (!in_time && unit == "d") factor = 86'400'000;
      else if (!in_time && unit == "w") factor = 7 * 86'400'000LL;
      else if (in_time && unit == "h") factor = 3'600'000;
      else if (in_time && unit == "m") factor = 60'000;
      else if (in_time && unit == "s") factor = 1000;
      else if (!in_time && (unit == "y" || unit == "m"))
        return bad_duration(text, "years and months have no fixed length; use days");
      else
        return bad_duration(text, fmt::format("unknown unit '{}'", unit));
    } else {
      if (unit == "ms") factor = 1;
      else if (unit == "s") factor = 1000;
      else if (unit == "m" || unit == "min") factor = 60'000;
      else if (unit == "h") factor = 3'600'000;
      else if (unit == "d") factor = 86'400'000;
      else if (unit == "w") factor = 7 * 86'400'000LL;
      else
        return bad_duration(text, fmt::format("unknown unit '{}' (units: ms, s, m, h, d, w)", unit));
    }
    std::int64_t part = 0;
    if (__builtin_mul_overflow(value, factor, &part) || __builtin_add_overflow(total, part, &total)) {
      return bad_duration(text, "too large");
    }
    any = true;
  }
  if (!any) return bad_duration(text, "no amount");
  if (total == 0) return bad_duration(text, "must be greater than zero");
  return static_cast<std::int64_t>(total);
}

namespace {

std::unexpected<error> bad_instant(std::string_view text, std::string_view problem) {
  return std::unexpected<error>(error(
      errc::bad_parameter,
      fmt::format("instant '{}': {}; use ISO-8601 like 2026-12-01T02:00:00Z, 2026-12-01T02:00:00+01:00 or a "
                  "local 2026-12-01T02:00",
                  text, problem)));
}

// Reads exactly `digits` digits at `pos`.
std::optional<int> digits_at(std::string_view s, std::size_t pos, std::size_t digits) {
  if (pos + digits > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + digits; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

expected<std::int64_t> parse_instant_ms(std::string_view text, std::string_view time_zone) {
  auto s = trim(text);
  auto y = digits_at(s, 0, 4);
  auto mo = digits_at(s, 5, 2);
  auto d = digits_at(s, 8, 2);
  if (!y || !mo || !d || s[4] != '-' || s[7] != '-') return bad_instant(text, "expected a date YYYY-MM-DD");
  date::year_month_day ymd{date::year{*y}, date::month{static_cast<unsigned>(*mo)},
                           date::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return bad_instant(text, "no such date");
  std::size_t pos = 10;
  int h = 0;
  int mi = 0;
  int sec = 0;
  int millis = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    auto hh = digits_at(s, pos + 1, 2);
    auto mm = digits_at(s, pos + 4, 2);
    if (!hh || !mm || s[pos + 3] != ':') return bad_instant(text, "expected a time HH:MM[:SS]");
    h = *hh;
    mi = *mm;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      auto ss = digits_at(s, pos + 1, 2);
      if (!ss) return bad_instant(text, "expected seconds after HH:MM:");
      sec = *ss;
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int scale = 100;
        std::size_t start = pos;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
          millis += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return bad_instant(text, "expected digits after the decimal point");
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return bad_instant(text, "time of day out of range");
  }
  auto local_ms = [&] {
    auto days = date::sys_days{ymd}.time_since_epoch().count();
    return ((static_cast<std::int64_t>(days) * 24 + h) * 60 + mi) * 60'000LL + sec * 1000LL + millis;
  };
  if (pos == s.size()) {
    auto zone = find_zone(time_zone);
    if (!zone) return std::unexpected(zone.error());
    auto ms = local_ms();
    auto whole = floor_div(ms, 1000);
    auto sys = to_sys(*zone, local_seconds{seconds{whole}});
    return sys.time_since_epoch().count() * 1000 + (ms - whole * 1000);
  }
  if (s[pos] == 'Z' || s[pos] == 'z') {
    if (pos + 1 != s.size()) return bad_instant(text, "unexpected text after 'Z'");
    return local_ms();
  }
  if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    auto oh = digits_at(s, pos + 1, 2);
    std::optional<int> om;
    std::size_t end = 0;
    if (pos + 3 < s.size() && s[pos + 3] == ':') {
      om = digits_at(s, pos + 4, 2);
      end = pos + 6;
    } else {
      om = digits_at(s, pos + 3, 2);
      end = pos + 5;
    }
    if (!oh || !om || end != s.size() || *oh > 18 || *om > 59) {
      return bad_instant(text, "expected an offset like +02:00");
    }
    return local_ms() - sign * ((*oh * 60 + *om) * 60'000LL);
  }
  return bad_instant(text, fmt::format("unexpected text '{}'", s.substr(pos)));
}

std::string format_utc(std::int64_t ms) { return format_date_time(ms) + "Z"; }

}  // namespace kiln
