#include "example_jobs.hpp"

#include <kiln/jobs/flat_file.hpp>

#include <array>
#include <fmt/format.h>

namespace kiln::examples {

namespace {

struct generated_row {
  std::int64_t id = 0;
  std::string name;
  std::string amount;
};

// Row i of the sample data, a pure function of i, so a restarted run continues identically.
// Names carry stray spaces (csv-to-jsonl trims them) and some need CSV quoting.
class sample_reader final : public item_reader<generated_row> {
 public:
  void open(step_context& ctx) override {
    rows_ = ctx.parameters().get_int64("rows");
    bad_every_ = ctx.parameters().get_int64("bad_every");
    if (const auto* next = ctx.context().if_contains("sample.next")) next_ = next->as_int64();
  }
  std::optional<generated_row> read() override {
    if (next_ > rows_) return std::nullopt;
    static constexpr std::array<const char*, 8> names{
        "Ada Lovelace", " Grace Hopper", "Alan Turing ", "Edsger \"EWD\" Dijkstra",
        "Barbara Liskov", "Hopper, Grace", "  Ken Thompson", "Margaret Hamilton"};
    const std::int64_t i = next_++;
    generated_row r{i, names[static_cast<std::size_t>(i % 8)], {}};
    if (bad_every_ > 0 && i % bad_every_ == 0) {
      r.amount = "n/a";
    } else {
      r.amount = fmt::format("{}.{:02}", (i * 7919) % 100000, (i * 31) % 100);
    }
    return r;
  }
  void update(execution_context& ctx) override { ctx["sample.next"] = next_; }
  [[nodiscard]] std::optional<double> fraction_done() const override {
    return rows_ > 0 ? static_cast<double>(next_ - 1) / static_cast<double>(rows_) : 1.0;
  }

 private:
  std::int64_t rows_ = 0;
  std::int64_t bad_every_ = 0;
  std::int64_t next_ = 1;
};

}  // namespace

job generate_csv() {
  flat_file_writer_options csv;
  csv.header = {"id", "name", "amount"};
  return job_builder("generate-csv")
      .describe("writes deterministic sample input for csv-to-jsonl")
      .parameter(param("output").required().non_empty().describe("CSV file to write"))
      .parameter(param("rows", param_type::int64).required().at_least(0).describe("number of data rows"))
      .parameter(param("bad_every", param_type::int64).default_value(std::int64_t{0}).at_least(0)
                     .describe("every n-th row gets a non-numeric amount (0 = none)"))
      .step(chunk_step<generated_row>("generate")
                .reader(sample_reader{})
                .writer(flat_file_writer<generated_row>(
                    "{output}",
                    [](const generated_row& r, csv_line& line) {
                      line.add(r.id);
                      line.add(r.name);
                      line.add(r.amount);
                    },
                    csv))
                .commit_interval(10000))
      .build();
}

}  // namespace kiln::examples
