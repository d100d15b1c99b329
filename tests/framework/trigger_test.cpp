// The trigger evaluator: cron (Quartz and Unix), interval and one-shot slots, time zones and DST,
// and the duration / instant parsers. The property test checks next_after against a brute-force
// matcher written here independently of the evaluator.

#include <kiln/trigger.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace kiln;

namespace {

std::int64_t at(std::string_view text, std::string_view zone = "UTC") {
  auto v = parse_instant_ms(text, zone);
  REQUIRE(v);
  return *v;
}

trigger cron_trigger(const std::string& expr, const std::string& zone = "UTC") {
  trigger_spec spec;
  spec.kind = trigger_kind::cron;
  spec.cron = expr;
  spec.time_zone = zone;
  auto t = trigger::make(spec);
  INFO(expr << " in " << zone << ": " << (t ? std::string() : t.error().message()));
  REQUIRE(t);
  return *t;
}

// The next slot as UTC text, "none" when there is none.
std::string next_utc(const std::string& expr, std::string_view after, const std::string& zone = "UTC") {
  auto n = cron_trigger(expr, zone).next_after(at(after));
  return n ? format_utc(*n) : "none";
}

std::string refusal(const std::string& expr) {
  trigger_spec spec;
  spec.cron = expr;
  auto t = trigger::make(spec);
  if (t) return "accepted";
  CHECK(t.error().code() == errc::bad_parameter);
  return t.error().message();
}

}  // namespace

TEST_CASE("cron: next slots for a table of Quartz expressions", "[trigger]") {
  struct row {
    const char* expr;
    const char* after;
    const char* next;
  };
  const row rows[] = {
      {"0 0 2 * * ?", "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"},
      {"0 0 2 * * ?", "2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z"},  // strictly after
      {"0 0 2 * * ?", "2026-01-01T01:59:59.999Z", "2026-01-01T02:00:00Z"},
      {"0 0 2 * * ?", "2026-12-31T03:00:00Z", "2027-01-01T02:00:00Z"},
      {"*/15 * * * * ?", "2026-01-01T00:00:07Z", "2026-01-01T00:00:15Z"},
      {"0 5/20 * * * ?", "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"},
      {"0 5/20 * * * ?", "2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z"},
      {"0 5/20 * * * ?", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"},
      {"0 0 9-17/4 * * ?", "2026-01-01T10:00:00Z", "2026-01-01T13:00:00Z"},
      {"0 0 1,3,20 * * ?", "2026-01-01T03:00:00Z", "2026-01-01T20:00:00Z"},
      {"0 0 22-2 * * ?", "2026-01-01T03:00:00Z", "2026-01-01T22:00:00Z"},  // a range that wraps
      {"0 0 22-2 * * ?", "2026-01-01T23:30:00Z", "2026-01-02T00:00:00Z"},
      // Leap years: 29 February.
      {"0 0 12 29 2 ?", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z"},
      {"0 0 12 29 FEB ?", "2024-01-01T00:00:00Z", "2024-02-29T12:00:00Z"},
      {"0 0 0 L * ?", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z"},
      {"0 0 0 L * ?", "2028-02-01T00:00:00Z", "2028-02-29T00:00:00Z"},
      {"0 0 0 L 2 ? 2100", "2026-01-01T00:00:00Z", "2100-02-28T00:00:00Z"},  // 2100 is no leap year
      {"0 0 0 L-3 * ?", "2026-01-01T00:00:00Z", "2026-01-28T00:00:00Z"},
      {"0 0 0 L-3 * ?", "2028-02-01T00:00:00Z", "2028-02-26T00:00:00Z"},
      // W: the weekday nearest a day, inside the month.
      {"0 0 0 LW * ?", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z"},  // Jan 31 2026 is a Saturday
      {"0 0 0 LW * ?", "2026-05-01T00:00:00Z", "2026-05-29T00:00:00Z"},  // May 31 2026 is a Sunday
      {"0 0 0 15W * ?", "2026-02-01T00:00:00Z", "2026-02-16T00:00:00Z"},  // Sunday 15th -> Monday
      {"0 0 0 15W * ?", "2026-08-01T00:00:00Z", "2026-08-14T00:00:00Z"},  // Saturday 15th -> Friday
      {"0 0 0 1W * ?", "2026-07-31T12:00:00Z", "2026-08-03T00:00:00Z"},   // Saturday 1st -> Monday 3rd
      // Day of week: names, 1=SUN..7=SAT, L and #.
      {"0 0 10 ? * MON-FRI", "2026-01-03T00:00:00Z", "2026-01-05T10:00:00Z"},
      {"0 0 10 ? * 2-6", "2026-01-03T00:00:00Z", "2026-01-05T10:00:00Z"},
      {"0 0 10 ? * 1", "2026-01-01T00:00:00Z", "2026-01-04T10:00:00Z"},
      {"0 0 10 ? * sat,sun", "2026-01-01T00:00:00Z", "2026-01-03T10:00:00Z"},
      {"0 0 10 ? * FRI-MON", "2026-01-06T00:00:00Z", "2026-01-09T10:00:00Z"},
      {"0 0 10 ? * 6#3", "2026-01-01T00:00:00Z", "2026-01-16T10:00:00Z"},
      {"0 0 10 ? * FRI#5", "2026-01-01T00:00:00Z", "2026-01-30T10:00:00Z"},
      {"0 0 10 ? * FRI#5", "2026-01-31T00:00:00Z", "2026-05-29T10:00:00Z"},
      {"0 0 10 ? * 6L", "2026-01-01T00:00:00Z", "2026-01-30T10:00:00Z"},
      {"0 0 10 ? * L", "2026-01-01T00:00:00Z", "2026-01-03T10:00:00Z"},  // L alone: Saturday
      {"0 0 9 ? FEB SUN", "2026-01-01T00:00:00Z", "2026-02-01T09:00:00Z"},
      {"0 0 0 1 JAN-MAR/2 ?", "2026-01-02T00:00:00Z", "2026-03-01T00:00:00Z"},
      // Year field.
      {"0 0 0 1 1 ? 2030", "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z"},
      {"0 0 0 1 1 ? 2027-2028", "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"},
      {"0 0 0 1 1 ? 2025", "2026-01-01T00:00:00Z", "none"},
      {"0 0 0 * * ? *", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      // Impossible dates end the search.
      {"0 0 0 30 2 ?", "2026-01-01T00:00:00Z", "none"},
      {"0 0 0 31 4,6,9,11 ?", "2026-01-01T00:00:00Z", "none"},
  };
  for (const auto& r : rows) {
    INFO(r.expr << " after " << r.after);
    CHECK(next_utc(r.expr, r.after) == r.next);
  }
}

TEST_CASE("cron: 5-field Unix expressions", "[trigger]") {
  CHECK(next_utc("30 2 * * *", "2026-01-01T00:00:00Z") == "2026-01-01T02:30:00Z");
  CHECK(next_utc("*/10 * * * *", "2026-01-01T00:00:01Z") == "2026-01-01T00:10:00Z");
  CHECK(next_utc("0 0 * * 0", "2026-01-01T00:00:00Z") == "2026-01-04T00:00:00Z");  // 0 = Sunday
  CHECK(next_utc("0 0 * * 7", "2026-01-01T00:00:00Z") == "2026-01-04T00:00:00Z");  // 7 = Sunday
  CHECK(next_utc("0 0 * * 1-5", "2026-01-03T00:00:00Z") == "2026-01-05T00:00:00Z");
  CHECK(next_utc("0 0 * * 5-7", "2026-01-05T00:00:00Z") == "2026-01-09T00:00:00Z");
  CHECK(next_utc("0 0 * * sun", "2026-01-01T00:00:00Z") == "2026-01-04T00:00:00Z");
  CHECK(next_utc("0 0 1 jan *", "2026-01-01T00:00:00Z") == "2027-01-01T00:00:00Z");
  // Vixie rule: both day fields restricted -> either matches.
  CHECK(next_utc("0 0 13 * 5", "2026-01-01T00:00:00Z") == "2026-01-02T00:00:00Z");  // a Friday
  CHECK(next_utc("0 0 13 * 5", "2026-01-10T00:00:00Z") == "2026-01-13T00:00:00Z");  // the 13th, a Tuesday
  // One restricted: it alone decides.
  CHECK(next_utc("0 0 13 * *", "2026-01-01T00:00:00Z") == "2026-01-13T00:00:00Z");
  CHECK(next_utc("0 0 * * 5", "2026-01-10T00:00:00Z") == "2026-01-16T00:00:00Z");
  CHECK(next_utc("0 0 29 2 *", "2026-01-01T00:00:00Z") == "2028-02-29T00:00:00Z");
}

TEST_CASE("cron: DST in America/New_York", "[trigger]") {
  const std::string ny = "America/New_York";
  SECTION("a time skipped by spring-forward fires once, at the first instant after the gap") {
    auto t = cron_trigger("0 30 2 * * ?", ny);
    auto first = t.next_after(at("2026-03-07T03:00:00", ny));
    REQUIRE(first);
    CHECK(t.local_time(*first) == "2026-03-08T03:00:00-04:00");
    CHECK(format_utc(*first) == "2026-03-08T07:00:00Z");
    auto second = t.next_after(*first);
    REQUIRE(second);
    CHECK(t.local_time(*second) == "2026-03-09T02:30:00-04:00");
    // Just before the gap too.
    CHECK(t.next_after(at("2026-03-08T06:59:59Z")) == first);
  }
  SECTION("every 15 minutes in the skipped hour: one firing") {
    auto t = cron_trigger("0 */15 2 * * ?", ny);
    auto first = t.next_after(at("2026-03-08T00:00:00", ny));
    REQUIRE(first);
    CHECK(t.local_time(*first) == "2026-03-08T03:00:00-04:00");
    CHECK(t.local_time(*t.next_after(*first)) == "2026-03-09T02:00:00-04:00");
  }
  SECTION("hourly across spring-forward fires at every real hour") {
    auto t = cron_trigger("0 0 * * * ?", ny);
    std::vector<std::string> seen;
    auto n = t.next_after(at("2026-03-08T04:30:00Z"));
    for (int i = 0; i < 4 && n; ++i, n = t.next_after(*n)) seen.push_back(format_utc(*n));
    CHECK(seen == std::vector<std::string>{"2026-03-08T05:00:00Z", "2026-03-08T06:00:00Z",
                                           "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"});
  }
  SECTION("hourly across fall-back fires at every real hour, the repeated 01:00 twice") {
    auto t = cron_trigger("0 0 * * * ?", ny);
    std::vector<std::string> seen;
    auto n = t.next_after(at("2026-11-01T03:30:00Z"));
    for (int i = 0; i < 4 && n; ++i, n = t.next_after(*n)) seen.push_back(t.local_time(*n));
    CHECK(seen == std::vector<std::string>{"2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00",
                                           "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"});
    // From inside the first 01:xx the next real hour is the repeated 01:00.
    CHECK(format_utc(*t.next_after(at("2026-11-01T05:30:00Z"))) == "2026-11-01T06:00:00Z");
  }
  SECTION("a daily time in the repeated hour fires once, at its first occurrence") {
    auto t = cron_trigger("0 30 1 * * ?", ny);
    auto first = t.next_after(at("2026-10-31T12:00:00Z"));
    REQUIRE(first);
    CHECK(t.local_time(*first) == "2026-11-01T01:30:00-04:00");
    auto second = t.next_after(*first);
    REQUIRE(second);
    CHECK(t.local_time(*second) == "2026-11-02T01:30:00-05:00");
    // Asked from inside the repeated hour (01:10 EST), the next is tomorrow's.
    CHECK(format_utc(*t.next_after(at("2026-11-01T06:10:00Z"))) == "2026-11-02T06:30:00Z");
  }
}

TEST_CASE("cron: DST in Europe/Berlin", "[trigger]") {
  const std::string berlin = "Europe/Berlin";
  SECTION("spring-forward: 02:30 fires at 03:00 CEST") {
    auto t = cron_trigger("0 30 2 * * ?", berlin);
    auto first = t.next_after(at("2026-03-28T12:00:00Z"));
    REQUIRE(first);
    CHECK(t.local_time(*first) == "2026-03-29T03:00:00+02:00");
    CHECK(format_utc(*first) == "2026-03-29T01:00:00Z");
    CHECK(t.local_time(*t.next_after(*first)) == "2026-03-30T02:30:00+02:00");
  }
  SECTION("fall-back: 02:30 fires once, in CEST") {
    auto t = cron_trigger("0 30 2 * * ?", berlin);
    auto first = t.next_after(at("2026-10-24T12:00:00Z"));
    REQUIRE(first);
    CHECK(t.local_time(*first) == "2026-10-25T02:30:00+02:00");
    CHECK(t.local_time(*t.next_after(*first)) == "2026-10-26T02:30:00+01:00");
  }
  SECTION("hourly across fall-back: every real hour") {
    auto t = cron_trigger("0 0 * * * ?", berlin);
    std::vector<std::string> seen;
    auto n = t.next_after(at("2026-10-24T23:30:00Z"));
    for (int i = 0; i < 4 && n; ++i, n = t.next_after(*n)) seen.push_back(t.local_time(*n));
    CHECK(seen == std::vector<std::string>{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00",
                                           "2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"});
  }
  SECTION("Unix syntax follows the same rules") {
    auto t = cron_trigger("30 2 * * *", berlin);
    CHECK(t.local_time(*t.next_after(at("2026-03-28T12:00:00Z"))) == "2026-03-29T03:00:00+02:00");
  }
}

TEST_CASE("interval and one-shot triggers, start and end bounds", "[trigger]") {
  auto start = at("2026-01-01T00:00:00Z");
  trigger_spec spec;
  spec.kind = trigger_kind::interval;
  spec.interval_ms = 90'000;
  spec.start_ms = start;
  auto t = trigger::make(spec);
  REQUIRE(t);
  CHECK(t->next_after(0) == start);
  CHECK(t->next_after(start - 1) == start);
  CHECK(t->next_after(start) == start + 90'000);
  CHECK(t->next_after(start + 100'000) == start + 180'000);
  spec.end_ms = start + 180'000;
  t = trigger::make(spec);
  REQUIRE(t);
  CHECK(t->next_after(start + 100'000) == start + 180'000);  // the end itself still fires
  CHECK_FALSE(t->next_after(start + 180'000));

  spec = {};
  spec.kind = trigger_kind::interval;
  spec.interval_ms = 1000;
  auto no_start = trigger::make(spec);
  REQUIRE_FALSE(no_start);
  CHECK_THAT(no_start.error().message(), Catch::Contains("start"));
  spec.start_ms = start;
  spec.interval_ms = 0;
  CHECK_FALSE(trigger::make(spec));

  trigger_spec once;
  once.kind = trigger_kind::once;
  once.at_ms = start + 5;
  auto o = trigger::make(once);
  REQUIRE(o);
  CHECK(o->next_after(start) == start + 5);
  CHECK_FALSE(o->next_after(start + 5));
  CHECK(to_string(o->spec().kind) == "once");

  trigger_spec bounded;
  bounded.cron = "0 0 * * * ?";
  bounded.start_ms = at("2026-01-01T05:30:00Z");
  bounded.end_ms = at("2026-01-01T08:00:00Z");
  auto b = trigger::make(bounded);
  REQUIRE(b);
  CHECK(format_utc(*b->next_after(0)) == "2026-01-01T06:00:00Z");
  CHECK(format_utc(*b->next_after(at("2026-01-01T07:00:00Z"))) == "2026-01-01T08:00:00Z");
  CHECK_FALSE(b->next_after(at("2026-01-01T08:00:00Z")));
  bounded.start_ms = at("2026-01-01T06:00:00Z");
  CHECK(format_utc(*trigger::make(bounded)->next_after(0)) == "2026-01-01T06:00:00Z");  // start is inclusive
  bounded.end_ms = bounded.start_ms - 1;
  CHECK_FALSE(trigger::make(bounded));
}

TEST_CASE("cron: bad expressions are refused naming the field", "[trigger]") {
  CHECK(refusal("0 0 25 * * ?") == "cron field 3 (hour) '25': value out of range 0-23");
  CHECK_THAT(refusal("0 61 * * * ?"),
             Catch::StartsWith("cron field 2 (minute) '61': value out of range 0-59"));
  CHECK_THAT(refusal("60 * * * * ?"), Catch::StartsWith("cron field 1 (second) '60'"));
  CHECK_THAT(refusal("0 0 0 32 * ?"), Catch::StartsWith("cron field 4 (day-of-month) '32'"));
  CHECK_THAT(refusal("0 0 0 * 13 ?"), Catch::Contains("cron field 5 (month) '13': value out of range 1-12"));
  CHECK_THAT(refusal("0 0 0 * FOO ?"), Catch::Contains("cron field 5 (month) 'FOO'"));
  CHECK_THAT(refusal("0 0 0 ? * 8"), Catch::Contains("cron field 6 (day-of-week) '8'"));
  CHECK_THAT(refusal("0 0 0 ? * 0"), Catch::Contains("1-7 (1=SUN)"));
  CHECK_THAT(refusal("0 0 0 1 1 ? 1800"), Catch::Contains("cron field 7 (year) '1800'"));
  CHECK_THAT(refusal("*/0 * * * * ?"), Catch::Contains("cron field 1 (second) '*/0': step must be"));
  CHECK_THAT(refusal("0 0 1-x * * ?"), Catch::Contains("cron field 3 (hour) '1-x'"));
  CHECK_THAT(refusal("0 0 1,,2 * * ?"), Catch::Contains("cron field 3 (hour)"));
  CHECK_THAT(refusal("0 0 ? * * *"), Catch::Contains("cron field 3 (hour) '?'"));
  CHECK_THAT(refusal("0 0 0 ? * 6#6"), Catch::Contains("cron field 6 (day-of-week) '6#6'"));
  CHECK_THAT(refusal("0 0 0 L-40 * ?"), Catch::Contains("cron field 4 (day-of-month) 'L-40'"));
  CHECK_THAT(refusal("0 0 0 5L * ?"), Catch::Contains("cron field 4 (day-of-month) '5L'"));
  CHECK_THAT(refusal("0 0 0 5 * MON"), Catch::Contains("'?' in one of them"));
  CHECK_THAT(refusal("0 0 0 ? * ?"), Catch::Contains("'?' in both"));
  CHECK_THAT(refusal("0 0 * *"), Catch::Contains("has 4 fields"));
  CHECK_THAT(refusal(""), Catch::Contains("has 0 fields"));
  CHECK_THAT(refusal("0 0 0 0 0 0 0 0"), Catch::Contains("has 8 fields"));
  // Unix: fields counted from the minute, day-of-week 0-7, no Quartz forms.
  CHECK_THAT(refusal("0 24 * * *"), Catch::StartsWith("cron field 2 (hour) '24'"));
  CHECK_THAT(refusal("0 0 * * 8"), Catch::Contains("cron field 5 (day-of-week) '8': value out of range 0-7"));
  CHECK_THAT(refusal("0 0 L * *"), Catch::Contains("Quartz"));
  CHECK_THAT(refusal("0 0 ? * MON"), Catch::Contains("cron field 3 (day-of-month)"));
  CHECK(refusal("0 0 * * WED") == "accepted");  // a day name with a W in it is not the W form

  trigger_spec zone;
  zone.cron = "0 0 2 * * ?";
  zone.time_zone = "Mars/Olympus_Mons";
  auto t = trigger::make(zone);
  REQUIRE_FALSE(t);
  CHECK_THAT(t.error().message(), Catch::Contains("unknown time zone 'Mars/Olympus_Mons'"));
}

TEST_CASE("cron: impossible expressions end quickly, in any zone", "[trigger]") {
  auto started = std::chrono::steady_clock::now();
  for (const char* zone : {"UTC", "America/New_York", "Australia/Lord_Howe"}) {
    CHECK_FALSE(cron_trigger("0 0 0 30 2 ?", zone).next_after(0));
    CHECK_FALSE(cron_trigger("0 0 0 ? 2 5#5 2027", zone).next_after(0));  // Feb 2027 has four Fridays
  }
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < std::chrono::seconds(2));
}

TEST_CASE("durations, instants and UTC text", "[trigger]") {
  CHECK(parse_duration_ms("90s") == 90'000);
  CHECK(parse_duration_ms("5m") == 300'000);
  CHECK(parse_duration_ms("1h30m") == 5'400'000);
  CHECK(parse_duration_ms("2d") == 172'800'000);
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("1w") == 604'800'000);
  CHECK(parse_duration_ms("PT5M") == 300'000);
  CHECK(parse_duration_ms("P1DT2H") == 93'600'000);
  CHECK(parse_duration_ms("pt1h30m10s") == 5'410'000);
  for (const char* bad : {"", "0s", "-5m", "5x", "5", "PT", "P1M", "m5", "1h-2m"}) {
    INFO(bad);
    auto d = parse_duration_ms(bad);
    REQUIRE_FALSE(d);
    CHECK_THAT(d.error().message(), Catch::Contains("use forms like 250ms, 90s, 5m"));
  }
  CHECK_THAT(parse_duration_ms("5x").error().message(), Catch::Contains("unknown unit 'x'"));

  CHECK(parse_instant_ms("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_instant_ms("2026-12-01T02:00:00Z") == 1'796'090'400'000);
  CHECK(parse_instant_ms("2026-12-01T03:00:00+01:00") == 1'796'090'400'000);
  CHECK(parse_instant_ms("2026-12-01T03:00:00+0100") == 1'796'090'400'000);
  CHECK(parse_instant_ms("2026-12-01T03:00", "Europe/Berlin") == 1'796'090'400'000);
  CHECK(parse_instant_ms("2026-12-01 03:00:00", "Europe/Berlin") == 1'796'090'400'000);
  CHECK(parse_instant_ms("2026-12-01T02:00:00.250Z") == 1'796'090'400'250);
  CHECK(parse_instant_ms("2026-12-01") == 1'796'083'200'000);
  // A local time skipped by DST reads as the first instant after the gap.
  CHECK(parse_instant_ms("2026-03-29T02:30", "Europe/Berlin") == at("2026-03-29T01:00:00Z"));
  for (const char* bad : {"", "yesterday", "2026-13-01T00:00Z", "2026-02-30", "2026-01-01T25:00Z",
                          "2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00Zoo"}) {
    INFO(bad);
    auto i = parse_instant_ms(bad);
    REQUIRE_FALSE(i);
    CHECK_THAT(i.error().message(), Catch::Contains("ISO-8601"));
  }
  CHECK_THAT(parse_instant_ms("2026-01-01T00:00", "Nowhere/City").error().message(),
             Catch::Contains("unknown time zone 'Nowhere/City'"));

  CHECK(format_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(format_utc(1500) == "1970-01-01T00:00:01.500Z");
  CHECK(format_utc(1'796'090'400'000) == "2026-12-01T02:00:00Z");
  CHECK(format_utc(-1000) == "1969-12-31T23:59:59Z");
}

// ---- Property test: next_after against a brute-force matcher ------------------------------------

namespace {

// Civil date from days since 1970-01-01 (proleptic Gregorian), written out here so the check does
// not share the evaluator's calendar code.
struct civil {
  int y;
  int m;
  int d;
  int wd;  // 0 = Sunday
};

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int month_length(int y, int m) {
  static const int lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : lengths[m - 1];
}

civil civil_from_days(std::int64_t days) {
  int y = 1970;
  int m = 1;
  while (true) {
    int len = leap(y) ? 366 : 365;
    if (days >= len) {
      days -= len;
      ++y;
    } else {
      break;
    }
  }
  while (days >= month_length(y, m)) {
    days -= month_length(y, m);
    ++m;
  }
  return {y, m, static_cast<int>(days) + 1, 0};
}

int weekday(int y, int m, int d) {
  // Zeller-style count from a known Sunday: 1970-01-04.
  std::int64_t days = 0;
  for (int yy = 1970; yy < y; ++yy) days += leap(yy) ? 366 : 365;
  for (int mm = 1; mm < m; ++mm) days += month_length(y, mm);
  days += d - 1;
  return static_cast<int>(((days - 3) % 7 + 7) % 7);
}

// One generated expression: its text and, per field, what it allows.
struct generated {
  std::string text;
  std::vector<bool> sec, min, hour, month;
  std::function<bool(int y, int m, int d, int wd)> day;
  std::function<bool(int y)> year = [](int) { return true; };
};

struct field_gen {
  std::mt19937& rng;

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  // A field over [lo, hi]: '*', value, range, a/s, */s, a-b/s or a list of those.
  std::string simple(int lo, int hi, std::vector<bool>& allowed, bool allow_star = true) {
    allowed.assign(static_cast<std::size_t>(hi + 1), false);
    auto one = [&](std::string& text) {
      int form = pick(allow_star ? 0 : 1, 5);
      int a = pick(lo, hi);
      int b = pick(a, hi);
      int s = pick(1, std::max(1, (hi - lo) / 2));
      switch (form) {
        case 0:
          text += "*";
          for (int v = lo; v <= hi; ++v) allowed[v] = true;
          break;
        case 1:
          text += std::to_string(a);
          allowed[a] = true;
          break;
        case 2:
          text += std::to_string(a) + "-" + std::to_string(b);
          for (int v = a; v <= b; ++v) allowed[v] = true;
          break;
        case 3:
          text += std::to_string(a) + "/" + std::to_string(s);
          for (int v = a; v <= hi; v += s) allowed[v] = true;
          break;
        case 4:
          text += "*/" + std::to_string(s);
          for (int v = lo; v <= hi; v += s) allowed[v] = true;
          break;
        default:
          text += std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(s);
          for (int v = a; v <= b; v += s) allowed[v] = true;
          break;
      }
    };
    std::string text;
    int items = pick(0, 3) == 0 ? pick(2, 3) : 1;
    for (int i = 0; i < items; ++i) {
      if (i) text += ",";
      one(text);
      if (text.ends_with("*")) break;
    }
    return text;
  }
};

generated generate(std::mt19937& rng) {
  field_gen g{rng};
  generated e;
  // Keep the expressions firing often enough for a bounded brute-force window most of the time.
  std::string sec = "0";
  e.sec.assign(60, false);
  e.sec[0] = true;
  if (g.pick(0, 2) == 0) sec = g.simple(0, 59, e.sec);
  std::string min = g.simple(0, 59, e.min);
  std::string hour = g.simple(0, 23, e.hour);
  std::string month = g.pick(0, 2) == 0 ? g.simple(1, 12, e.month) : (e.month.assign(13, true), "*");
  std::string dom = "?";
  std::string dow = "?";
  std::vector<bool> days;
  switch (g.pick(0, 8)) {
    case 0:
      dom = "*";
      e.day = [](int, int, int, int) { return true; };
      break;
    case 1:
      dom = g.simple(1, 31, days);
      e.day = [days](int, int, int d, int) { return days[d]; };
      break;
    case 2:
      dow = g.simple(1, 7, days);
      e.day = [days](int, int, int, int wd) { return days[wd + 1]; };
      break;
    case 3: {
      int off = g.pick(0, 3);
      dom = off == 0 ? "L" : "L-" + std::to_string(off);
      e.day = [off](int y, int m, int d, int) { return d == month_length(y, m) - off; };
      break;
    }
    case 4:
      dom = "LW";
      e.day = [](int y, int m, int d, int) {
        int last_weekday = 0;
        for (int x = 1; x <= month_length(y, m); ++x) {
          int w = weekday(y, m, x);
          if (w != 0 && w != 6) last_weekday = x;
        }
        return d == last_weekday;
      };
      break;
    case 5: {
      int n = g.pick(1, 31);
      dom = std::to_string(n) + "W";
      // The weekday of the month closest to day n (none when the month has no day n).
      e.day = [n](int y, int m, int d, int) {
        if (n > month_length(y, m)) return false;
        int best = 0;
        for (int x = 1; x <= month_length(y, m); ++x) {
          int w = weekday(y, m, x);
          if (w == 0 || w == 6) continue;
          if (best == 0 || std::abs(x - n) < std::abs(best - n)) best = x;
        }
        return d == best;
      };
      break;
    }
    case 6: {
      int w = g.pick(1, 7);
      dow = std::to_string(w) + "L";
      e.day = [w](int y, int m, int d, int wd) {
        if (wd != w - 1) return false;
        for (int x = d + 1; x <= month_length(y, m); ++x) {
          if (weekday(y, m, x) == w - 1) return false;
        }
        return true;
      };
      break;
    }
    case 7: {
      int w = g.pick(1, 7);
      int k = g.pick(1, 5);
      dow = std::to_string(w) + "#" + std::to_string(k);
      e.day = [w, k](int y, int m, int d, int wd) {
        if (wd != w - 1) return false;
        int count = 0;
        for (int x = 1; x <= d; ++x) count += weekday(y, m, x) == w - 1;
        return count == k;
      };
      break;
    }
    default: {
      static const char* names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
      int a = g.pick(0, 6);
      int b = g.pick(a, 6);
      dow = std::string(names[a]) + "-" + names[b];
      e.day = [a, b](int, int, int, int wd) { return wd >= a && wd <= b; };
      break;
    }
  }
  e.text = sec + " " + min + " " + hour + " " + dom + " " + month + " " + dow;
  if (g.pick(0, 5) == 0) {
    int a = g.pick(2026, 2029);
    int b = g.pick(a, 2030);
    e.text += " " + std::to_string(a) + "-" + std::to_string(b);
    e.year = [a, b](int y) { return y >= a && y <= b; };
  }
  return e;
}

// The first second >= from (UTC) the expression allows, searching `days` days; -1 when none.
std::int64_t brute_next(const generated& e, std::int64_t from, int days) {
  std::int64_t first_day = from / 86400;
  for (std::int64_t day = first_day; day < first_day + days; ++day) {
    auto c = civil_from_days(day);
    int wd = weekday(c.y, c.m, c.d);
    if (!e.year(c.y) || !e.month[c.m] || !e.day(c.y, c.m, c.d, wd)) continue;
    for (int h = 0; h < 24; ++h) {
      if (!e.hour[h]) continue;
      for (int mi = 0; mi < 60; ++mi) {
        if (!e.min[mi]) continue;
        for (int s = 0; s < 60; ++s) {
          std::int64_t t = day * 86400 + h * 3600 + mi * 60 + s;
          if (e.sec[s] && t >= from) return t;
        }
      }
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("cron property: next_after is the first matching second after t", "[trigger]") {
  std::mt19937 rng(20261130);
  const std::int64_t lo = at("2026-01-01T00:00:00Z") / 1000;
  const std::int64_t hi = at("2029-12-31T00:00:00Z") / 1000;
  const int window_days = 120;
  int compared = 0;
  for (int i = 0; i < 400; ++i) {
    auto e = generate(rng);
    trigger_spec spec;
    spec.cron = e.text;
    auto t = trigger::make(spec);
    INFO(e.text << ": " << (t ? std::string() : t.error().message()));
    REQUIRE(t);
    std::int64_t after_s = std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    std::int64_t after_ms = after_s * 1000 + std::uniform_int_distribution<int>(0, 999)(rng);
    INFO("after " << format_utc(after_ms));
    auto next = t->next_after(after_ms);
    auto expected = brute_next(e, after_s + 1, window_days);
    if (next) CHECK(*next > after_ms);
    if (expected >= 0) {
      REQUIRE(next);
      CHECK(format_utc(*next) == format_utc(expected * 1000));
      ++compared;
    } else if (next) {
      // Nothing in the window: the slot found lies beyond it.
      CHECK(*next / 1000 >= (after_s + 1) / 86400 * 86400 + window_days * 86400LL);
    }
  }
  CHECK(compared > 300);
}

TEST_CASE("cron property: in DST zones slots are strictly increasing and self-consistent", "[trigger]") {
  std::mt19937 rng(7);
  const std::int64_t lo = at("2026-01-01T00:00:00Z");
  const std::int64_t hi = at("2029-12-31T00:00:00Z");
  for (const char* zone : {"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"}) {
    for (int i = 0; i < 100; ++i) {
      auto e = generate(rng);
      trigger_spec spec;
      spec.cron = e.text;
      spec.time_zone = zone;
      auto t = trigger::make(spec);
      REQUIRE(t);
      INFO(e.text << " in " << zone);
      auto n = t->next_after(std::uniform_int_distribution<std::int64_t>(lo, hi)(rng));
      for (int k = 0; k < 5 && n; ++k) {
        CHECK(t->next_after(*n - 1) == n);
        auto after = t->next_after(*n);
        if (after) CHECK(*after > *n);
        n = after;
      }
    }
  }
}
