#include "cron_parse.hpp"

#include <date/date.h>
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace kiln::detail {

namespace {

enum class field_id { second, minute, hour, dom, month, dow, year };

struct field_def {
  field_id id;
  std::string_view name;
  int min;
  int max;
};

constexpr std::array<std::string_view, 12> month_names{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> day_names{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(sep, start);
    out.push_back(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> to_int(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

unsigned last_day(int y, unsigned m) {
  return static_cast<unsigned>(
      (date::year{y} / date::month{m} / date::last).day());
}

unsigned weekday_of(int y, unsigned m, unsigned d) {
  return date::weekday{date::sys_days{date::year{y} / date::month{m} / date::day{d}}}.c_encoding();
}

// Reads one field of one expression; `pos` is the 1-based position of the field in the text.
class field_parser {
 public:
  field_parser(const field_def& def, int pos, bool quartz) : def_(def), pos_(pos), quartz_(quartz) {}

  std::unexpected<error> refuse(std::string_view token, std::string_view problem) const {
    return std::unexpected<error>(error(
        errc::bad_parameter, fmt::format("cron field {} ({}) '{}': {}", pos_, def_.name, token, problem)));
  }

  std::string range_text() const {
    switch (def_.id) {
      case field_id::month: return "1-12 or JAN-DEC";
      case field_id::dow: return quartz_ ? "1-7 (1=SUN) or SUN-SAT" : "0-7 (0 and 7 = SUN) or SUN-SAT";
      default: return fmt::format("{}-{}", def_.min, def_.max);
    }
  }

  // A number or (month, day-of-week) a name, in the dialect's numbering.
  expected<int> value(std::string_view token, std::string_view whole) const {
    if (auto v = to_int(token)) {
      if (*v < def_.min || *v > def_.max) return refuse(whole, "value out of range " + range_text());
      return *v;
    }
    auto name = upper(token);
    if (def_.id == field_id::month) {
      for (std::size_t i = 0; i < month_names.size(); ++i) {
        if (name == month_names[i]) return static_cast<int>(i) + 1;
      }
    } else if (def_.id == field_id::dow) {
      for (std::size_t i = 0; i < day_names.size(); ++i) {
        if (name == day_names[i]) return static_cast<int>(i) + (quartz_ ? 1 : 0);
      }
    }
    if (token.empty()) return refuse(whole, "empty value; expected " + range_text());
    return refuse(whole, "not a valid value; expected " + range_text());
  }

  // "*", "?", "n", "a-b", "a/s", "*/s", "a-b/s", and comma lists of them: the set of values in the
  // dialect's numbering, `min..max` as bit positions.
  expected<std::vector<int>> values(std::string_view text, bool& all) const {
    std::vector<int> out;
    all = false;
    if (text.empty()) return refuse(text, "empty field");
    for (auto item : split(text, ',')) {
      if (item.empty()) return refuse(text, "empty list element");
      std::string_view base = item;
      int step = 0;
      if (auto slash = item.find('/'); slash != std::string_view::npos) {
        base = item.substr(0, slash);
        auto step_text = item.substr(slash + 1);
        auto s = to_int(step_text);
        int span = def_.max - def_.min + 1;
        if (!s || *s < 1 || *s > span) {
          return refuse(item, fmt::format("step must be a number 1-{}", span));
        }
        step = *s;
      }
      int lo = 0;
      int hi = 0;
      bool wrap_ok = def_.id != field_id::year;
      if (base == "*" || base == "?") {
        if (base == "?" && (!quartz_ || (def_.id != field_id::dom && def_.id != field_id::dow))) {
          return refuse(item, quartz_ ? "'?' is allowed only in day-of-month and day-of-week"
                                      : "'?' is not Unix cron; use '*'");
        }
        if (base == "?" && (step != 0 || text != "?")) return refuse(text, "'?' stands alone in its field");
        lo = def_.min;
        hi = def_.max;
        if (step <= 1 && text == item) all = true;
      } else if (auto dash = base.find('-'); dash != std::string_view::npos && dash > 0) {
        auto a = value(base.substr(0, dash), item);
        if (!a) return std::unexpected(a.error());
        auto b = value(base.substr(dash + 1), item);
        if (!b) return std::unexpected(b.error());
        lo = *a;
        hi = *b;
        if (hi < lo && !wrap_ok) return refuse(item, "range start is after its end");
      } else {
        auto a = value(base, item);
        if (!a) return std::unexpected(a.error());
        lo = *a;
        hi = step == 0 ? *a : def_.max;  // "a/s": from a to the end of the range
      }
      if (step == 0) step = 1;
      // A range whose end is below its start wraps around ("22-2" hours, "FRI-MON").
      int span = def_.max - def_.min + 1;
      int length = hi >= lo ? hi - lo + 1 : (def_.max - lo + 1) + (hi - def_.min + 1);
      for (int k = 0; k < length; k += step) {
        int v = lo + k;
        if (v > def_.max) v -= span;
        out.push_back(v);
      }
    }
    return out;
  }

 private:
  const field_def& def_;
  int pos_;
  bool quartz_;
};

// Day-of-month specials: L, L-n, LW, nW. Returns false when `text` is none of them.
expected<bool> parse_dom_special(const field_parser& fp, std::string_view text, cron_expr& e) {
  auto t = upper(text);
  if (t.find_first_of("LW") == std::string::npos) return false;
  if (t == "L") {
    e.dom_last = true;
    return true;
  }
  if (t == "LW") {
    e.dom_last_weekday = true;
    return true;
  }
  if (t.starts_with("L-")) {
    auto n = to_int(std::string_view(t).substr(2));
    if (!n || *n < 0 || *n > 30) {
      return fp.refuse(text, "'L-n' needs an offset 0-30 (days before the last day)");
    }
    e.dom_last = true;
    e.dom_last_offset = *n;
    return true;
  }
  if (t.size() >= 2 && t.back() == 'W') {
    auto n = to_int(std::string_view(t).substr(0, t.size() - 1));
    if (!n || *n < 1 || *n > 31) return fp.refuse(text, "'nW' needs a day 1-31 (weekday nearest that day)");
    e.dom_nearest_weekday = *n;
    return true;
  }
  return fp.refuse(text, "'L' and 'W' are used alone as 'L', 'L-3', 'LW' or '15W'");
}

// Day-of-week specials: L (Saturday), nL (last n-day of the month), n#k (k-th n-day).
expected<bool> parse_dow_special(const field_parser& fp, std::string_view text, cron_expr& e) {
  auto t = upper(text);
  if (auto hash = t.find('#'); hash != std::string::npos) {
    auto wd = fp.value(std::string_view(t).substr(0, hash), text);
    if (!wd) return std::unexpected(wd.error());
    auto k = to_int(std::string_view(t).substr(hash + 1));
    if (!k || *k < 1 || *k > 5) {
      return fp.refuse(text, "'n#k' needs k 1-5 (the k-th such weekday of the month)");
    }
    e.dow_nth_weekday = (*wd - 1) % 7;
    e.dow_nth = *k;
    return true;
  }
  if (t == "L") {
    e.weekdays.reset();
    e.weekdays.set(6);
    return true;
  }
  if (t.size() >= 2 && t.back() == 'L') {
    auto wd = fp.value(std::string_view(t).substr(0, t.size() - 1), text);
    if (!wd) return std::unexpected(wd.error());
    e.dow_last = (*wd - 1) % 7;
    return true;
  }
  return false;
}

}  // namespace

bool cron_expr::day_matches(int y, unsigned m, unsigned d) const {
  auto dom_ok = [&] {
    unsigned last = last_day(y, m);
    if (dom_last) return static_cast<int>(last) - dom_last_offset == static_cast<int>(d);
    if (dom_last_weekday) {
      unsigned target = last;
      auto wd = weekday_of(y, m, last);
      if (wd == 6) target -= 1;
      if (wd == 0) target -= 2;
      return d == target;
    }
    if (dom_nearest_weekday > 0) {
      auto n = static_cast<unsigned>(dom_nearest_weekday);
      if (n > last) return false;
      unsigned target = n;
      auto wd = weekday_of(y, m, n);
      if (wd == 6) target = n == 1 ? n + 2 : n - 1;
      if (wd == 0) target = n == last ? n - 2 : n + 1;
      return d == target;
    }
    return days.test(d);
  };
  auto dow_ok = [&] {
    auto wd = static_cast<int>(weekday_of(y, m, d));
    if (dow_last >= 0) return wd == dow_last && d + 7 > last_day(y, m);
    if (dow_nth_weekday >= 0) return wd == dow_nth_weekday && static_cast<int>((d - 1) / 7 + 1) == dow_nth;
    return weekdays.test(static_cast<std::size_t>(wd));
  };
  if (day_or) return dom_ok() || dow_ok();
  return (!dom_restricted || dom_ok()) && (!dow_restricted || dow_ok());
}

expected<cron_expr> parse_cron(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  bool quartz = fields.size() == 6 || fields.size() == 7;
  if (!quartz && fields.size() != 5) {
    return fail(errc::bad_parameter,
                fmt::format("cron expression '{}' has {} fields; expected 6 or 7 (Quartz: second minute hour "
                            "day-of-month month day-of-week [year], e.g. '0 0 2 * * ?') or 5 (Unix: minute "
                            "hour day-of-month month day-of-week, e.g. '0 2 * * *')",
                            text, fields.size()));
  }
  static const std::array<field_def, 7> quartz_defs{{{field_id::second, "second", 0, 59},
                                                     {field_id::minute, "minute", 0, 59},
                                                     {field_id::hour, "hour", 0, 23},
                                                     {field_id::dom, "day-of-month", 1, 31},
                                                     {field_id::month, "month", 1, 12},
                                                     {field_id::dow, "day-of-week", 1, 7},
                                                     {field_id::year, "year", cron_min_year, cron_max_year}}};
  static const std::array<field_def, 5> unix_defs{{{field_id::minute, "minute", 0, 59},
                                                   {field_id::hour, "hour", 0, 23},
                                                   {field_id::dom, "day-of-month", 1, 31},
                                                   {field_id::month, "month", 1, 12},
                                                   {field_id::dow, "day-of-week", 0, 7}}};
  cron_expr e;
  if (!quartz) e.seconds.set(0);
  e.years.set();
  bool dom_given_q = false;  // Quartz: '?' seen in day-of-month / day-of-week
  bool dow_given_q = false;
  for (std::size_t f = 0; f < fields.size(); ++f) {
    const field_def& def = quartz ? quartz_defs[f] : unix_defs[f];
    field_parser fp(def, static_cast<int>(f) + 1, quartz);
    auto field = fields[f];
    if (def.id == field_id::dom && quartz) {
      auto special = parse_dom_special(fp, field, e);
      if (!special) return std::unexpected(special.error());
      if (*special) {
        e.dom_restricted = true;
        continue;
      }
    }
    if (def.id == field_id::dow && quartz) {
      auto special = parse_dow_special(fp, field, e);
      if (!special) return std::unexpected(special.error());
      if (*special) {
        e.dow_restricted = true;
        continue;
      }
    }
    if (!quartz && field.find_first_of("LW#?") != std::string_view::npos &&
        (def.id == field_id::dom || def.id == field_id::dow)) {
      // Names like "WED" contain W: only refuse the Quartz specials, not day names.
      auto t = upper(field);
      bool is_names = true;
      for (auto item : split(t, ',')) {
        for (auto part : split(item, '-')) {
          bool named = false;
          for (auto n : day_names) named = named || part == n;
          for (auto n : month_names) named = named || part == n;
          if (!named && part.find_first_of("LW#?") != std::string_view::npos) is_names = false;
        }
      }
      if (!is_names) {
        return fp.refuse(field, "'?', 'L', 'W' and '#' are Quartz forms; use the 6-field Quartz syntax "
                                "(second minute hour day-of-month month day-of-week)");
      }
    }
    bool all = false;
    auto vals = fp.values(field, all);
    if (!vals) return std::unexpected(vals.error());
    switch (def.id) {
      case field_id::second:
        for (int v : *vals) e.seconds.set(static_cast<std::size_t>(v));
        break;
      case field_id::minute:
        for (int v : *vals) e.minutes.set(static_cast<std::size_t>(v));
        break;
      case field_id::hour:
        for (int v : *vals) e.hours.set(static_cast<std::size_t>(v));
        break;
      case field_id::dom:
        for (int v : *vals) e.days.set(static_cast<std::size_t>(v));
        e.dom_restricted = !all;
        dom_given_q = field == "?";
        break;
      case field_id::month:
        for (int v : *vals) e.months.set(static_cast<std::size_t>(v));
        break;
      case field_id::dow:
        for (int v : *vals) e.weekdays.set(static_cast<std::size_t>(quartz ? v - 1 : v % 7));
        e.dow_restricted = !all;
        dow_given_q = field == "?";
        break;
      case field_id::year:
        e.years.reset();
        for (int v : *vals) e.years.set(static_cast<std::size_t>(v - cron_min_year));
        break;
    }
  }
  if (quartz) {
    if (dom_given_q && dow_given_q) {
      return fail(errc::bad_parameter,
                  fmt::format("cron expression '{}': '?' in both day-of-month (field 4) and day-of-week "
                              "(field 6); put '?' in one and '*' or a value in the other",
                              text));
    }
    if (e.dom_restricted && e.dow_restricted) {
      return fail(errc::bad_parameter,
                  fmt::format("cron expression '{}': day-of-month (field 4) and day-of-week (field 6) are "
                              "both set; Quartz needs '?' in one of them, e.g. '0 0 12 ? * MON' or "
                              "'0 0 12 15 * ?'",
                              text));
    }
  } else {
    e.day_or = e.dom_restricted && e.dow_restricted;
  }
  e.every_hour = e.hours.all();
  return e;
}

}  // namespace kiln::detail
