#pragma once
// A parsed cron expression and the calendar matching that the trigger's search uses. Private to
// the framework: users see only kiln::trigger (trigger.hpp).
//
// Two dialects are read: Quartz (6 fields "sec min hour dom month dow" or 7 with a year) and Unix
// (5 fields "min hour dom month dow", seconds fixed at 0). Day-of-week is stored 0=SUN..6=SAT in
// both; the text is 1=SUN..7=SAT in Quartz and 0..7 (0 and 7 = SUN) in Unix.

#include <kiln/error.hpp>

#include <bitset>
#include <string_view>

namespace kiln::detail {

// Years a cron expression may name, and the end of every search: an expression that has no slot
// before `cron_max_year` ends has none at all ("0 0 0 30 2 ?").
inline constexpr int cron_min_year = 1970;
inline constexpr int cron_max_year = 2199;

struct cron_expr {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31; used when no special day-of-month form is set
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0=SUN..6=SAT; used when no special day-of-week form is set
  std::bitset<cron_max_year - cron_min_year + 1> years;  // bit i = year cron_min_year + i

  // A field given as '*' or '?' (all values) does not restrict the day.
  bool dom_restricted = false;
  bool dow_restricted = false;
  // Unix cron (Vixie rule): when both day fields are restricted a day matches either of them;
  // otherwise (and always in Quartz) a day must match both.
  bool day_or = false;

  // Special day-of-month forms (Quartz): "L" / "L-3" (last day minus offset), "LW" (last
  // weekday), "15W" (the weekday nearest the 15th, within the month).
  bool dom_last = false;
  int dom_last_offset = 0;
  bool dom_last_weekday = false;
  int dom_nearest_weekday = 0;  // 0 = not used

  // Special day-of-week forms (Quartz): "6L" (last Friday of the month), "6#3" (third Friday).
  int dow_last = -1;  // weekday 0..6, -1 = not used
  int dow_nth_weekday = -1;
  int dow_nth = 0;

  // All 24 hours allowed. Such an expression follows real elapsed time across DST changes (an
  // hourly trigger fires at every real hour); one with fixed hours follows the wall clock (a
  // skipped time fires once right after the gap, a repeated time once).
  bool every_hour = false;

  [[nodiscard]] bool day_matches(int y, unsigned m, unsigned d) const;
  [[nodiscard]] bool year_allowed(int y) const {
    return y >= cron_min_year && y <= cron_max_year &&
           years.test(static_cast<std::size_t>(y - cron_min_year));
  }
};

// Parses `text`; a refusal names the field, its position, the bad token and the allowed range:
// "cron field 3 (hour) '25': value out of range 0-23".
expected<cron_expr> parse_cron(std::string_view text);

}  // namespace kiln::detail
