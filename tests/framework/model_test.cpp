#include <kiln/batch_status.hpp>
#include <kiln/command.hpp>
#include <kiln/error.hpp>
#include <kiln/job.hpp>
#include <kiln/job_parameters.hpp>

#include <catch2/catch.hpp>

#include <set>

using namespace kiln;

TEST_CASE("every error code has its own name", "[framework][error]") {
  std::set<std::string_view> names;
  for (auto c : all_errc) {
    auto n = to_string(c);
    CHECK(n != "unknown");
    CHECK(names.insert(n).second);
  }
  CHECK(names.size() == static_cast<std::size_t>(errc::bad_command) + 1);
}

TEST_CASE("batch status names round-trip", "[framework][model]") {
  for (auto s : {batch_status::starting, batch_status::started, batch_status::stopping, batch_status::stopped,
                 batch_status::failed, batch_status::completed, batch_status::abandoned}) {
    CHECK(parse_batch_status(to_string(s)) == s);
  }
  CHECK(parse_batch_status("completed") == batch_status::completed);
  CHECK_FALSE(parse_batch_status("DONE"));
  CHECK(is_running(batch_status::stopping));
  CHECK_FALSE(is_running(batch_status::stopped));
}

TEST_CASE("parameter arguments parse with types and identifying flags", "[framework][parameters]") {
  auto a = parse_parameter_argument("input=data/in.csv");
  REQUIRE(a);
  CHECK(a->name == "input");
  CHECK(a->value == "data/in.csv");
  CHECK_FALSE(a->type);
  auto b = parse_parameter_argument("-rows(long)=42");
  REQUIRE(b);
  CHECK(b->name == "rows");
  CHECK(b->type == param_type::int64);
  CHECK(b->identifying == false);
  auto c = parse_parameter_argument("expr=a=b");
  REQUIRE(c);
  CHECK(c->value == "a=b");
  CHECK_FALSE(parse_parameter_argument("novalue"));
  CHECK_FALSE(parse_parameter_argument("x(weird)=1"));
  CHECK_FALSE(parse_parameter_argument("bad name=1"));
  auto twice = parse_parameter_arguments({"a=1", "a=2"});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error().message(), Catch::Contains("'a'"));
}

TEST_CASE("parameters are validated against the job's specs with errors naming the parameter",
          "[framework][parameters]") {
  std::vector<param_spec> specs{param("input").required().describe("the input"),
                                param("rows", param_type::int64).default_value(std::int64_t{10}).positive(),
                                param("ratio", param_type::double_).non_identifying(),
                                param("day", param_type::timestamp)};
  auto ok = validate_parameters(*parse_parameter_arguments({"input=x", "ratio=0.5", "day=2026-01-31"}), specs, false);
  REQUIRE(ok);
  CHECK(ok->get_string("input") == "x");
  CHECK(ok->get_int64("rows") == 10);
  CHECK(ok->get_double("ratio") == 0.5);
  CHECK(ok->find("day")->text() == "2026-01-31T00:00:00.000Z");
  CHECK_FALSE(ok->find("ratio")->identifying);

  auto missing = validate_parameters({}, specs, false);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == errc::bad_parameter);
  CHECK_THAT(missing.error().message(), Catch::Contains("'input'"));

  auto bad_number = validate_parameters(*parse_parameter_arguments({"input=x", "rows=ten"}), specs, false);
  REQUIRE_FALSE(bad_number);
  CHECK_THAT(bad_number.error().message(), Catch::Contains("'rows'") && Catch::Contains("whole number"));

  auto negative = validate_parameters(*parse_parameter_arguments({"input=x", "rows=0"}), specs, false);
  REQUIRE_FALSE(negative);
  CHECK_THAT(negative.error().message(), Catch::Contains("at least 1"));

  auto unknown = validate_parameters(*parse_parameter_arguments({"input=x", "inptu=y"}), specs, false);
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error().message(), Catch::Contains("'inptu'") && Catch::Contains("input, rows"));
  CHECK(validate_parameters(*parse_parameter_arguments({"input=x", "extra=y"}), specs, true));

  auto wrong_type = validate_parameters(*parse_parameter_arguments({"input=x", "rows(double)=1.5"}), specs, false);
  REQUIRE_FALSE(wrong_type);
  CHECK_THAT(wrong_type.error().message(), Catch::Contains("declared long"));
}

TEST_CASE("identifying key covers identifying parameters only - canonically", "[framework][parameters]") {
  job_parameters a, b;
  a.set("x", {std::string("1"), true});
  a.set("y", {std::int64_t{2}, true});
  a.set("z", {std::string("noise"), false});
  b.set("y", {std::int64_t{2}, true});
  b.set("x", {std::string("1"), true});
  CHECK(a.identifying_key() == b.identifying_key());
  CHECK(a.identifying_key() == "x(string)=1;y(long)=2");
  job_parameters c;
  c.set("x", {std::string("1;y(long)=2"), true});
  CHECK(c.identifying_key() != a.identifying_key());
}

TEST_CASE("parameters resolve placeholders and round-trip through JSON", "[framework][parameters]") {
  job_parameters p;
  p.set("input", {std::string("in.csv"), true});
  p.set("n", {std::int64_t{3}, false});
  p.set("when", {timestamp_ms{1'700'000'000'000}, true});
  p.set("r", {2.5, true});
  CHECK(p.resolve("data/{input}.{n}") == "data/in.csv.3");
  CHECK_THROWS_WITH(p.resolve("{nope}"), Catch::Contains("'nope'"));
  auto back = job_parameters::from_json(p.to_json());
  REQUIRE(back);
  CHECK(*back == p);
}

TEST_CASE("every command encodes and decodes to itself", "[framework][command]") {
  job_parameters p;
  p.set("input", {std::string("a.csv"), true});
  step_counts counts{1, 2, 3, 4, 5, 6, 7, 8};
  execution_context ctx{{"reader.offset", 123}};
  std::vector<command> all{create_execution_cmd{"j", p, false, 11},
                           start_execution_cmd{1, 12},
                           start_step_cmd{1, "s", true, 3, 13},
                           commit_chunk_cmd{2, counts, ctx, 14},
                           end_step_cmd{2, batch_status::failed, exit_status::failed("boom"), counts, ctx, 15},
                           request_stop_cmd{1, 16},
                           end_execution_cmd{1, batch_status::stopped, exit_status::stopped("x"), 17},
                           recover_dead_cmd{"dead", 18},
                           abandon_cmd{1, 19}};
  for (const auto& c : all) {
    auto text = encode(c);
    auto back = decode(text);
    REQUIRE(back);
    CHECK(encode(*back) == text);
    CHECK(back->index() == c.index());
  }
  CHECK_FALSE(decode("{\"type\":\"explode\"}"));
  CHECK_FALSE(decode("not json"));
  CHECK_FALSE(decode("{\"type\":\"start_execution\",\"execution_id\":\"one\"}"));
}

TEST_CASE("job builder refuses jobs without steps or with duplicate step names", "[framework][model]") {
  auto noop = [](step_context&) { return repeat_status::finished; };
  CHECK_THROWS_WITH(job_builder("empty").build(), Catch::Contains("no steps"));
  CHECK_THROWS_WITH(job_builder("dup").step(tasklet_step("a", noop)).next(tasklet_step("a", noop)).build(),
                    Catch::Contains("two steps or deciders named 'a'"));
  registry r;
  r.add(job_builder("one").step(tasklet_step("a", noop)).build());
  CHECK_THROWS(r.add(job_builder("one").step(tasklet_step("a", noop)).build()));
  CHECK(r.find("one"));
  CHECK_FALSE(r.find("two"));
}
