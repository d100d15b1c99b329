#include "support/temp_dir.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace demo {

struct order {
  std::string id;
  std::int64_t qty = 0;
  double price = 0;
  friend bool operator==(const order&, const order&) = default;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const order& o) {
  v = {{"id", o.id}, {"qty", o.qty}, {"price", o.price}};
}

order tag_invoke(boost::json::value_to_tag<order>, const boost::json::value& v) {
  const auto& o = v.as_object();
  return {boost::json::value_to<std::string>(o.at("id")), o.at("qty").to_number<std::int64_t>(),
          o.at("price").to_number<double>()};
}

}  // namespace demo

namespace {

using demo::order;
using kiln::test::read_file;
using kiln::test::temp_dir;
using kiln::test::write_file;

std::vector<order> make_orders(int from, int to) {
  std::vector<order> out;
  for (int i = from; i < to; ++i) out.push_back({"o\"" + std::to_string(i), i, i * 0.25});
  return out;
}

std::string parse_error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const kiln::parse_error& e) {
    return e.what();
  }
  FAIL("no parse_error thrown");
  return {};
}

static_assert(std::is_copy_constructible_v<kiln::jsonl_reader<order>>);
static_assert(std::is_copy_constructible_v<kiln::jsonl_writer<order>>);

}  // namespace

TEST_CASE("jsonl round trip with tag_invoke conversions", "[jobs][jsonl]") {
  temp_dir dir;
  const auto path = (dir / "orders.jsonl").string();
  const auto orders = make_orders(0, 50);
  kiln::job_parameters params;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::jsonl_writer<order> writer(path);
    writer.open(ctx);
    writer.write(kiln::chunk<order>(orders.begin(), orders.begin() + 20));
    writer.update(ctx.context());
    writer.write(kiln::chunk<order>(orders.begin() + 20, orders.end()));
    writer.update(ctx.context());
    CHECK(ctx.context().at("writer.written").as_int64() == 50);
    writer.close();
  }
  CHECK(read_file(path).rfind("{\"id\":\"o\\\"0\",\"qty\":0,\"price\":0E0}\n", 0) == 0);

  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::jsonl_reader<order> reader(path);
  reader.open(ctx);
  std::vector<order> back;
  while (auto o = reader.read()) back.push_back(*o);
  reader.close();
  CHECK(back == orders);
}

TEST_CASE("jsonl_reader reports bad JSON and mapper failures with the line and goes on", "[jobs][jsonl]") {
  temp_dir dir;
  const auto path = (dir / "in.jsonl").string();
  write_file(path,
             "{\"id\":\"a\",\"qty\":1,\"price\":1}\r\n"
             "\n"
             "   \n"
             "{\"id\":\"b\",\"qty\":2,\n"
             "{\"id\":\"c\",\"qty\":\"three\",\"price\":3}\n"
             "[1,2]\n"
             "{\"id\":\"d\",\"qty\":4,\"price\":4} trailing\n"
             "{\"id\":\"e\",\"qty\":5,\"price\":5}");
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::jsonl_reader<order> reader(path);
  reader.open(ctx);
  CHECK(reader.read()->id == "a");
  CHECK_THAT(parse_error_text([&] { (void)reader.read(); }), Catch::StartsWith(path + ":4: invalid JSON: "));
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":5: not a number");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":6: not an object");
  CHECK_THAT(parse_error_text([&] { (void)reader.read(); }), Catch::StartsWith(path + ":7: invalid JSON: ") && Catch::EndsWith("extra data at column 30"));
  CHECK(reader.read()->id == "e");
  CHECK_FALSE(reader.read());
  CHECK(*reader.fraction_done() == Approx(1.0));
}

TEST_CASE("jsonl_reader with a custom mapper - its parse_errors pass through", "[jobs][jsonl]") {
  temp_dir dir;
  const auto path = (dir / "in.jsonl").string();
  write_file(path, "{\"n\":1}\n{\"n\":-1}\n{\"n\":3}\n");
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::jsonl_reader<std::int64_t> reader(path, [](const boost::json::value& v) {
    auto n = v.at("n").as_int64();
    if (n < 0) throw kiln::parse_error("custom", 99, "n", "negative");
    return n;
  });
  reader.open(ctx);
  CHECK(*reader.read() == 1);
  CHECK(parse_error_text([&] { (void)reader.read(); }) == "custom:99: field 'n': negative");
  CHECK(*reader.read() == 3);
  CHECK_FALSE(reader.read());
}

TEST_CASE("jsonl_reader restarts after the last update and resolves {param} paths", "[jobs][jsonl]") {
  temp_dir dir;
  write_file(dir / "in.jsonl", "{\"n\":1}\n\n{\"n\":2}\n{\"n\":3}\nnope\n{\"n\":5}\n");
  kiln::job_parameters params;
  params.set("input", kiln::job_parameter{(dir / "in.jsonl").string()});
  auto map = [](const boost::json::value& v) { return v.at("n").as_int64(); };
  kiln::execution_context saved;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::jsonl_reader<std::int64_t> reader("{input}", map, "events");
    reader.open(ctx);
    CHECK(*reader.read() == 1);
    CHECK(*reader.read() == 2);
    reader.update(saved);
    CHECK(*reader.read() == 3);
    reader.close();
  }
  CHECK(saved.at("events.line").as_int64() == 4);
  kiln::step_context ctx("job", "step", 2, 2, params, saved);
  kiln::jsonl_reader<std::int64_t> reader("{input}", map, "events");
  reader.open(ctx);
  CHECK(*reader.read() == 3);
  CHECK_THAT(parse_error_text([&] { (void)reader.read(); }),
             Catch::StartsWith((dir / "in.jsonl").string() + ":5: invalid JSON"));
  CHECK(*reader.read() == 5);
  CHECK_FALSE(reader.read());
}

TEST_CASE("jsonl_writer restarts at its last commit with byte-identical output", "[jobs][jsonl]") {
  temp_dir dir;
  kiln::job_parameters params;
  const auto expected_path = (dir / "expected.jsonl").string();
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::jsonl_writer<order> writer(expected_path);
    writer.open(ctx);
    writer.write(make_orders(0, 10));
    writer.update(ctx.context());
    writer.write(make_orders(10, 20));
    writer.update(ctx.context());
    writer.close();
  }
  const auto path = (dir / "out.jsonl").string();
  kiln::execution_context committed;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::jsonl_writer<order> writer(path, kiln::jsonl_writer<order>::default_serializer(), true, "orders");
    writer.open(ctx);
    writer.write(make_orders(0, 10));
    writer.update(ctx.context());
    committed = ctx.context();
    writer.write(make_orders(10, 15));
    writer.close();  // flushed but not committed
  }
  CHECK(read_file(path).size() > static_cast<std::size_t>(committed.at("orders.offset").as_int64()));
  kiln::step_context ctx("job", "step", 2, 2, params, committed);
  kiln::jsonl_writer<order> writer(path, kiln::jsonl_writer<order>::default_serializer(), true, "orders");
  writer.open(ctx);
  writer.write(make_orders(10, 20));
  writer.update(ctx.context());
  writer.close();
  CHECK(read_file(path) == read_file(expected_path));
  CHECK(ctx.context().at("orders.written").as_int64() == 20);
}

TEST_CASE("jsonl_writer with a custom serializer", "[jobs][jsonl]") {
  temp_dir dir;
  const auto path = (dir / "out.jsonl").string();
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::jsonl_writer<int> writer(path, [](const int& v, std::string& out) { out += "{\"v\":" + std::to_string(v) + "}"; });
  writer.open(ctx);
  writer.write({1, 2, 3});
  writer.update(ctx.context());
  writer.close();
  CHECK(read_file(path) == "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n");
}
