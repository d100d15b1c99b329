#include "support/temp_dir.hpp"

#include <kiln/exceptions.hpp>
#include <kiln/jobs/flat_file.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using kiln::test::read_file;
using kiln::test::temp_dir;
using kiln::test::write_file;

using row = std::vector<std::string>;

// All fields of a record, as strings.
row all_fields(const kiln::csv_record& r) {
  row out;
  for (std::size_t i = 0; i < r.size(); ++i) out.emplace_back(r[i]);
  return out;
}

kiln::flat_file_reader<row> row_reader(const std::string& path, kiln::csv_options options = {}) {
  return {path, all_fields, std::move(options)};
}

template <class T>
std::vector<T> read_all(kiln::item_reader<T>& reader) {
  std::vector<T> out;
  while (auto item = reader.read()) out.push_back(std::move(*item));
  return out;
}

// Opens, reads everything and closes.
template <class T>
std::vector<T> read_file_items(kiln::item_reader<T>& reader) {
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  auto items = read_all(reader);
  reader.close();
  return items;
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

struct trade {
  std::string id;
  std::int64_t qty;
  double price;
  friend bool operator==(const trade&, const trade&) = default;
};

trade map_trade(const kiln::csv_record& r) {
  return {r.get_trimmed("id"), r.get_int64("qty"), r.get_double("price")};
}

void format_trade(const trade& t, kiln::csv_line& line) {
  line.add(t.id);
  line.add(t.qty);
  line.add(t.price);
}

static_assert(std::is_copy_constructible_v<kiln::flat_file_reader<trade>>,
              "chunk_step copies its reader for every execution");
static_assert(std::is_copy_constructible_v<kiln::flat_file_writer<trade>>,
              "chunk_step copies its writer for every execution");

}  // namespace

TEST_CASE("flat_file_reader splits plain records and maps them by header name", "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.csv", "id,qty,price\na,1,1.5\nb,-2,  3e2 \nc,+3,.25\n");
  kiln::flat_file_reader<trade> reader((dir / "in.csv").string(), map_trade);
  auto items = read_file_items(reader);
  REQUIRE(items == std::vector<trade>{{"a", 1, 1.5}, {"b", -2, 300.0}, {"c", 3, 0.25}});
}

TEST_CASE("flat_file_reader handles quotes - escaped quotes - delimiters and line breaks in fields",
          "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.csv",
             "a,b,c\n"
             "\"x,y\",\"say \"\"hi\"\"\",plain\n"
             "\"\",\"\"\"\",\"line1\nline2\n\nline4\"\n"
             "1,\"multi\nline \"\"quoted\"\"\",\"after, comma\"\n"
             "5\"inch,\"a\"\"\nb\"\"c\",z\n");
  auto reader = row_reader((dir / "in.csv").string());
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  auto items = read_all(reader);
  REQUIRE(items.size() == 4);
  CHECK(items[0] == row{"x,y", "say \"hi\"", "plain"});
  CHECK(items[1] == row{"", "\"", "line1\nline2\n\nline4"});
  CHECK(items[2] == row{"1", "multi\nline \"quoted\"", "after, comma"});
  CHECK(items[3] == row{"5\"inch", "a\"\nb\"c", "z"});
}

TEST_CASE("flat_file_reader reports the physical line on which a record starts", "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.csv", "a,b\n\"1\n2\",x\n\n3,y\n");
  kiln::flat_file_reader<std::int64_t> reader((dir / "in.csv").string(),
                                              [](const kiln::csv_record& r) { return r.line(); });
  REQUIRE(read_file_items(reader) == std::vector<std::int64_t>{2, 5});
}

TEST_CASE("flat_file_reader supports a custom delimiter and quote", "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.tsv", "name\tnote\nann\t'tab\there'\nbob\t'it''s'\n");
  kiln::csv_options options;
  options.delimiter = '\t';
  options.quote = '\'';
  auto items = [&] {
    auto reader = row_reader((dir / "in.tsv").string(), options);
    return read_file_items(reader);
  }();
  REQUIRE(items == std::vector<row>{{"ann", "tab\there"}, {"bob", "it's"}});
}

TEST_CASE("flat_file_reader without a header uses the given columns", "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.csv", "a, 1 ,2.5\n");
  kiln::csv_options options;
  options.header = false;
  options.columns = {"id", "qty", "price"};
  kiln::flat_file_reader<trade> reader((dir / "in.csv").string(), map_trade, options);
  REQUIRE(read_file_items(reader) == std::vector<trade>{{"a", 1, 2.5}});

  options.columns.clear();
  CHECK_THROWS_AS(kiln::flat_file_reader<trade>("x.csv", map_trade, options), std::invalid_argument);
}

TEST_CASE("flat_file_reader maps header names with trimming and reports unknown columns", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "id , qty,price\nx,1,2\n");
  kiln::flat_file_reader<std::string> reader(path, [](const kiln::csv_record& r) {
    CHECK(r.get("qty") == "1");
    CHECK(r.columns() == std::vector<std::string>{"id", "qty", "price"});
    return std::string(r.get("amount"));
  });
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  const auto text = parse_error_text([&] { (void)reader.read(); });
  CHECK(text == path + ":2: field 'amount': no such column; columns are: id, qty, price");
}

TEST_CASE("flat_file_reader number errors name file - line and field and reading goes on",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "id,qty,price\na,1,1.0\nb,2,abc\nc,x7,1\nd,99999999999999999999,1\ne,5,\nf,6,6\n");
  kiln::flat_file_reader<trade> reader(path, map_trade);
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  CHECK(reader.read()->id == "a");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":3: field 'price': not a number: 'abc'");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":4: field 'qty': not a whole number: 'x7'");
  CHECK_THROWS_AS(reader.read(), kiln::parse_error);
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":6: field 'price': not a number: ''");
  CHECK(reader.read()->id == "f");
  CHECK_FALSE(reader.read());
  CHECK_FALSE(reader.read());
}

TEST_CASE("flat_file_reader numbers: whitespace and a leading '+' are accepted, the rest named", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path,
             "id,qty,price\n"
             "a, 7 ,\t1.5 \n"
             "b,+7,+.5\n"
             "c,-3,-0\n"
             "d,+-7,1\n"
             "e,7,1e400\n"
             "f,9223372036854775808,1\n"
             "g, ,1\n"
             "h,7,+\n");
  kiln::flat_file_reader<trade> reader(path, map_trade);
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  auto t = reader.read();
  CHECK((t->qty == 7 && t->price == 1.5));
  t = reader.read();
  CHECK((t->qty == 7 && t->price == 0.5));
  t = reader.read();
  CHECK((t->qty == -3 && t->price == 0.0));
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":5: field 'qty': not a whole number: '+-7'");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":6: field 'price': number out of range: '1e400'");
  CHECK(parse_error_text([&] { (void)reader.read(); }) ==
        path + ":7: field 'qty': whole number out of range: '9223372036854775808'");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":8: field 'qty': not a whole number: ' '");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":9: field 'price': not a number: '+'");
  CHECK_FALSE(reader.read());
}

TEST_CASE("flat_file_reader checks the field count unless told not to", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "a,b,c\n1,2\n1,2,3\n1,2,3,4\n");
  SECTION("strict") {
    auto reader = row_reader(path);
    kiln::job_parameters params;
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    reader.open(ctx);
    CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":2: expected 3 fields, found 2");
    CHECK(*reader.read() == row{"1", "2", "3"});
    CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":4: expected 3 fields, found 4");
    CHECK_FALSE(reader.read());
  }
  SECTION("lenient: missing fields read as empty") {
    kiln::csv_options options;
    options.strict_field_count = false;
    kiln::flat_file_reader<std::string> reader(path, [](const kiln::csv_record& r) { return std::string(r.get("c")); },
                                               options);
    CHECK(read_file_items(reader) == std::vector<std::string>{"", "3", "3"});
  }
}

TEST_CASE("flat_file_reader handles CRLF - empty lines - a BOM and a last line without newline",
          "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "in.csv", "\xEF\xBB\xBFid,qty\r\n\r\na,1\r\n\"b\r\nc\",2\r\n\n\nd,3");
  auto reader = row_reader((dir / "in.csv").string());
  auto items = read_file_items(reader);
  REQUIRE(items == std::vector<row>{{"a", "1"}, {"b\r\nc", "2"}, {"d", "3"}});
}

TEST_CASE("flat_file_reader reports an unterminated quote and a stray character after a quote",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "a,b\n\"x\"y,1\n2,3\n4,\"open\n");
  auto reader = row_reader(path);
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  CHECK(parse_error_text([&] { (void)reader.read(); }) ==
        path + ":2: field 'a': unexpected text after the closing quote: 'y'");
  CHECK(*reader.read() == row{"2", "3"});
  CHECK(parse_error_text([&] { (void)reader.read(); }) ==
        path + ":4: field 'b': quoted field is not closed before the end of the file");
  CHECK_FALSE(reader.read());
}

TEST_CASE("flat_file_reader reports a missing file as io_error naming the path", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "missing.csv").string();
  auto reader = row_reader(path);
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  try {
    reader.open(ctx);
    FAIL("no io_error");
  } catch (const kiln::io_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("No such file"));
  }
}

TEST_CASE("flat_file_reader resolves {param} placeholders in its path", "[jobs][flat_file]") {
  temp_dir dir;
  write_file(dir / "day-2024.csv", "id,qty,price\nz,9,9\n");
  kiln::job_parameters params;
  params.set("dir", kiln::job_parameter{dir.path().string()});
  params.set("input", kiln::job_parameter{std::string("day-2024.csv")});
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::flat_file_reader<trade> reader("{dir}/{input}", map_trade);
  reader.open(ctx);
  CHECK(reader.read() == trade{"z", 9, 9.0});
  CHECK_FALSE(reader.read());
}

TEST_CASE("flat_file_reader restarts at the record after the last update", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "id,qty,price\na,1,1\n\"b\nb\",2,2\n\nc,3,3\nd,4,bad\ne,5,5\n");
  kiln::job_parameters params;
  kiln::execution_context saved;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::flat_file_reader<trade> reader(path, map_trade, {}, "trades");
    reader.open(ctx);
    CHECK(reader.read()->id == "a");
    CHECK(reader.read()->id == "b\nb");
    reader.update(saved);
    CHECK(reader.read()->id == "c");  // read after the update: read again on restart
    CHECK(saved.at("trades.line").as_int64() == 5);
    CHECK(saved.at("trades.offset").as_int64() == static_cast<std::int64_t>(std::string("id,qty,price\na,1,1\n\"b\nb\",2,2\n").size()));
    reader.close();
  }
  kiln::step_context ctx("job", "step", 2, 2, params, saved);
  kiln::flat_file_reader<trade> reader(path, map_trade, {}, "trades");
  reader.open(ctx);
  CHECK(reader.read()->id == "c");
  CHECK(parse_error_text([&] { (void)reader.read(); }) == path + ":7: field 'price': not a number: 'bad'");
  CHECK(reader.read()->id == "e");
  CHECK_FALSE(reader.read());
  CHECK(reader.fraction_done() == Approx(1.0));
}

TEST_CASE("flat_file_reader reports progress as the fraction of bytes read", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  write_file(path, "h\n1\n2\n3\n");  // 8 bytes
  kiln::flat_file_reader<std::string> reader(path, [](const kiln::csv_record& r) { return std::string(r[0]); });
  CHECK_FALSE(reader.fraction_done());
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  reader.open(ctx);
  CHECK(*reader.fraction_done() == Approx(0.25));
  (void)reader.read();
  CHECK(*reader.fraction_done() == Approx(0.5));
  while (reader.read()) {
  }
  CHECK(*reader.fraction_done() == Approx(1.0));
}

TEST_CASE("flat_file_reader reads records longer than its buffer and across buffer boundaries",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "in.csv").string();
  const std::string huge(3 * 1024 * 1024 + 17, 'x');
  std::string text = "k,v\n";
  std::vector<row> expected;
  for (int i = 0; i < 60000; ++i) {
    const std::string k = std::to_string(i);
    if (i == 30000) {
      text += k + ",\"" + huge + "\n" + huge + "\"\n";
      expected.push_back({k, huge + "\n" + huge});
    } else if (i % 7 == 0) {
      text += k + ",\"a \"\"q\"\"\nb,c\"\n";
      expected.push_back({k, "a \"q\"\nb,c"});
    } else {
      text += k + ",value-" + k + "\n";
      expected.push_back({k, "value-" + k});
    }
  }
  write_file(path, text);
  auto reader = row_reader(path);
  REQUIRE(read_file_items(reader) == expected);
}

TEST_CASE("flat_file_writer output reads back the same fields - also across a restart",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "out.csv").string();
  std::mt19937 rng(7);
  const std::string alphabet = "ab ,\"\n\r;x";
  auto random_field = [&] {
    std::string s(rng() % 12, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    return s;
  };
  std::vector<row> rows(20000);
  for (auto& r : rows) r = {random_field(), random_field(), random_field()};

  kiln::flat_file_writer_options wopts;
  wopts.header = {"a", "b", "c"};
  kiln::flat_file_writer<row> writer(path, [](const row& r, kiln::csv_line& line) {
    for (const auto& f : r) line.add(f);
  }, wopts);
  kiln::job_parameters params;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    writer.open(ctx);
    for (std::size_t i = 0; i < rows.size(); i += 1000) {
      writer.write(kiln::chunk<row>(rows.begin() + static_cast<std::ptrdiff_t>(i),
                                    rows.begin() + static_cast<std::ptrdiff_t>(i + 1000)));
      writer.update(ctx.context());
    }
    writer.close();
  }

  auto reader = row_reader(path);
  std::vector<row> first;
  kiln::execution_context saved;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    reader.open(ctx);
    for (int i = 0; i < 12345; ++i) first.push_back(*reader.read());
    reader.update(saved);
    reader.close();
  }
  kiln::step_context ctx("job", "step", 2, 2, params, saved);
  auto restarted = reader;  // a copy of a closed reader starts fresh
  restarted.open(ctx);
  auto rest = read_all(restarted);
  first.insert(first.end(), rest.begin(), rest.end());
  REQUIRE(first == rows);
}

TEST_CASE("csv_line quotes only where needed and formats numbers", "[jobs][flat_file]") {
  std::string out;
  kiln::csv_line line(out);
  line.add("plain");
  line.add("a,b");
  line.add("say \"hi\"");
  line.add("two\nlines");
  line.add("cr\r");
  line.add(std::int64_t{-42});
  line.add(0.1);
  line.add(1e300);
  line.add(7);
  line.add(std::uint64_t{18446744073709551615ULL});
  line.add("");
  CHECK(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",-42,0.1,1e+300,7,18446744073709551615,");

  std::string semi;
  kiln::csv_line other(semi, ';', '\'');
  other.add("a,b");
  other.add("x;y");
  other.add("it's");
  CHECK(semi == "a,b;'x;y';'it''s'");
}

namespace {

std::vector<trade> make_trades(int from, int to) {
  std::vector<trade> out;
  for (int i = from; i < to; ++i) {
    std::string id = "t";
    id += std::to_string(i);  // not "t" + ...: GCC 12 warns about that (-Wrestrict, a false positive)
    out.push_back({std::move(id), i, i * 0.5});
  }
  return out;
}

void write_uninterrupted(const std::string& path, const kiln::flat_file_writer_options& options) {
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::flat_file_writer<trade> writer(path, format_trade, options);
  writer.open(ctx);
  for (int c = 0; c < 4; ++c) {
    writer.write(make_trades(c * 10, c * 10 + 10));
    writer.update(ctx.context());
  }
  writer.close();
}

}  // namespace

TEST_CASE("flat_file_writer after a crash and restart leaves the same bytes as an uninterrupted run",
          "[jobs][flat_file]") {
  temp_dir dir;
  kiln::flat_file_writer_options options;
  options.header = {"id", "qty", "price"};
  options.force_sync = GENERATE(false, true);
  write_uninterrupted((dir / "expected.csv").string(), options);
  const auto expected = read_file(dir / "expected.csv");
  REQUIRE(expected.rfind("id,qty,price\nt0,0,0\nt1,1,0.5\n", 0) == 0);

  const auto path = (dir / "out.csv").string();
  kiln::job_parameters params;
  kiln::execution_context committed;
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::flat_file_writer<trade> writer(path, format_trade, options);
    writer.open(ctx);
    writer.write(make_trades(0, 10));
    writer.update(ctx.context());
    writer.write(make_trades(10, 20));
    writer.update(ctx.context());
    committed = ctx.context();
    CHECK(committed.at("writer.written").as_int64() == 20);
    // update() saves the position of lines still buffered; flush() (the step calls it before the
    // checkpoint goes to the log) hands them to the file.
    CHECK(read_file(path).empty());
    writer.flush();
    CHECK(committed.at("writer.offset").as_int64() == static_cast<std::int64_t>(read_file(path).size()));
    writer.write(make_trades(20, 25));  // uncommitted: reaches the file at close, then the "crash"
    writer.close();
  }
  write_file(path, read_file(path) + "garbage from a torn write");

  kiln::step_context ctx("job", "step", 2, 2, params, committed);
  kiln::flat_file_writer<trade> writer(path, format_trade, options);
  writer.open(ctx);
  CHECK(read_file(path).size() == static_cast<std::size_t>(committed.at("writer.offset").as_int64()));
  writer.write(make_trades(20, 30));
  writer.update(ctx.context());
  writer.write(make_trades(30, 40));
  writer.update(ctx.context());
  CHECK(ctx.context().at("writer.written").as_int64() == 40);
  writer.close();
  CHECK(read_file(path) == expected);
}

TEST_CASE("flat_file_writer restart truncates bytes flushed from a large uncommitted chunk",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "out.csv").string();
  kiln::job_parameters params;
  kiln::execution_context committed;
  const auto big = make_trades(0, 100000);  // well over the writer's 128 KiB buffer
  {
    kiln::step_context ctx("job", "step", 1, 1, params, {});
    kiln::flat_file_writer<trade> writer(path, format_trade);
    writer.open(ctx);
    writer.write(make_trades(0, 3));
    writer.update(ctx.context());
    writer.flush();
    committed = ctx.context();
    writer.write(big);
    CHECK(read_file(path).size() > (1u << 20));  // flushed although not committed
  }  // destroyed without update or close: a crash
  kiln::step_context ctx("job", "step", 2, 2, params, committed);
  kiln::flat_file_writer<trade> writer(path, format_trade);
  writer.open(ctx);
  writer.write(make_trades(3, 4));
  writer.update(ctx.context());
  writer.close();
  CHECK(read_file(path) == "t0,0,0\nt1,1,0.5\nt2,2,1\nt3,3,1.5\n");
}

TEST_CASE("flat_file_writer refuses to restart when the output was changed outside Kiln",
          "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "out.csv").string();
  kiln::job_parameters params;
  kiln::execution_context committed;
  committed["writer.offset"] = 100;
  committed["writer.written"] = 5;
  kiln::step_context ctx("job", "step", 2, 2, params, committed);
  kiln::flat_file_writer<trade> writer(path, format_trade);
  SECTION("shorter") {
    write_file(path, "short\n");
    try {
      writer.open(ctx);
      FAIL("no io_error");
    } catch (const kiln::io_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("changed outside Kiln"));
    }
    CHECK(read_file(path) == "short\n");
  }
  SECTION("missing") {
    try {
      writer.open(ctx);
      FAIL("no io_error");
    } catch (const kiln::io_error& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("changed outside Kiln"));
    }
  }
}

TEST_CASE("flat_file_writer keeps no line of a chunk whose formatter throws", "[jobs][flat_file]") {
  temp_dir dir;
  const auto path = (dir / "out.csv").string();
  kiln::job_parameters params;
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::flat_file_writer<int> writer(path, [](const int& v, kiln::csv_line& line) {
    line.add(v);
    if (v < 0) throw std::runtime_error("negative");
  });
  writer.open(ctx);
  writer.write({1, 2});
  CHECK_THROWS_AS(writer.write({3, -1}), std::runtime_error);
  writer.write({});
  writer.update(ctx.context());
  writer.close();
  CHECK(read_file(path) == "1\n2\n");
  CHECK(ctx.context().at("writer.written").as_int64() == 2);
}

TEST_CASE("flat_file_writer resolves {param} placeholders and reports unwritable paths", "[jobs][flat_file]") {
  temp_dir dir;
  kiln::job_parameters params;
  params.set("out", kiln::job_parameter{(dir / "o.csv").string()});
  kiln::step_context ctx("job", "step", 1, 1, params, {});
  kiln::flat_file_writer<int> writer("{out}", [](const int& v, kiln::csv_line& line) { line.add(v); });
  writer.open(ctx);
  writer.write({7});
  writer.close();
  CHECK(read_file(dir / "o.csv") == "7\n");

  kiln::flat_file_writer<int> bad((dir / "no-such-dir" / "o.csv").string(),
                                  [](const int& v, kiln::csv_line& line) { line.add(v); });
  CHECK_THROWS_AS(bad.open(ctx), kiln::io_error);
}
