// resilient-import: csv-to-jsonl with the whole of chunk fault tolerance and a listener.
// - read: a row whose amount is not a number is skipped (parse_error);
// - process: a simulated rate service fails the first call for every flaky_every-th row
//   (service_busy): retried with exponential backoff, the chunk processed again from its buffer;
//   an amount over max_amount is rejected in place (over_limit: skipped without a rollback);
// - write: the output refuses a name longer than max_name characters (value_too_long, as a
//   database column would): the chunk is rolled back and scanned row by row so that only that
//   row is skipped;
// - a step listener turns COMPLETED into "COMPLETED WITH SKIPS" when anything was skipped.
// Skipped rows are in the skip log that `kiln show` points to.

#include "example_jobs.hpp"
#include "sales.hpp"

#include <kiln/jobs/flat_file.hpp>
#include <kiln/jobs/jsonl.hpp>

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>

namespace kiln::examples {

namespace {

struct service_busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct over_limit : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct value_too_long : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The rate service: fails once for every flaky_every-th row, then answers.
class rate_service {
 public:
  explicit rate_service(std::int64_t flaky_every) : flaky_every_(flaky_every) {}
  void check(const sale_row& r) {
    const auto id = std::stoll(r.id);
    if (flaky_every_ > 0 && id % flaky_every_ == 0 && failed_.insert(id).second) {
      throw service_busy(fmt::format("rate service busy for row {}", r.id));
    }
  }

 private:
  std::int64_t flaky_every_;
  std::set<std::int64_t> failed_;
};

// The JSON Lines output behind a column limit: a longer name is refused, like an INSERT into a
// VARCHAR(max_name) column.
class limited_output final : public item_writer<sale_row> {
 public:
  void open(step_context& ctx) override {
    max_name_ = static_cast<std::size_t>(ctx.parameters().get_int64("max_name"));
    out_.open(ctx);
  }
  void write(const chunk<sale_row>& items) override {
    for (const auto& r : items) {
      if (max_name_ > 0 && r.name.size() > max_name_) {
        throw value_too_long(fmt::format("row {}: name '{}' is longer than {} characters", r.id, r.name, max_name_));
      }
    }
    out_.write(items);
  }
  void update(execution_context& ctx) override { out_.update(ctx); }
  void flush() override { out_.flush(); }
  void close() override { out_.close(); }

 private:
  jsonl_writer<sale_row> out_{"{output}", write_sale_json};
  std::size_t max_name_ = 0;
};

}  // namespace

job resilient_import() {
  job_builder b("resilient-import");
  b.describe("csv-to-jsonl with retries, skips in read/process/write, a skip log and a step listener")
      .parameter(param("flaky_every", param_type::int64).default_value(std::int64_t{0}).at_least(0)
                     .non_identifying().describe("the rate service fails once for every n-th row (0 = never)"))
      .parameter(param("max_amount", param_type::int64).default_value(std::int64_t{0}).at_least(0)
                     .non_identifying().describe("rows with a larger amount are rejected (0 = no limit)"))
      .parameter(param("max_name", param_type::int64).default_value(std::int64_t{0}).at_least(0)
                     .non_identifying().describe("the output refuses longer names (0 = no limit)"));
  sales_parameters(b);
// [resilient-import]
  auto convert =
      chunk_step<sale_row>("convert")
          .reader(flat_file_reader<sale_row>("{input}", map_sale))
          .processor_from([](step_context& ctx) -> chunk_step<sale_row>::process_fn {
            auto service = std::make_shared<rate_service>(ctx.parameters().get_int64("flaky_every"));
            const auto max_amount = static_cast<double>(ctx.parameters().get_int64("max_amount"));
            return [service, max_amount](sale_row&& r) -> std::optional<sale_row> {
              service->check(r);  // may throw service_busy
              if (max_amount > 0 && r.amount > max_amount) {
                throw over_limit(fmt::format("row {}: amount {} is over {}", r.id, r.amount, max_amount));
              }
              trim_in_place(r.name);
              return std::optional<sale_row>(std::move(r));
            };
          })
          .writer(limited_output{})  // may throw value_too_long
          .commit_interval_from([](const job_parameters& p) { return p.get_int64("commit_interval"); })
          // errors of these classes are skipped in read, process or write, up to skip_limit in all
          .skip<parse_error>()
          .skip<over_limit>()
          .skip<value_too_long>()
          .skip_limit([](const job_parameters& p) { return p.get_int64("skip_limit"); })
          // a busy service is tried 3 times in all, about 10 ms, then 20 ms apart
          .retry<service_busy>()
          .retry_limit(3)
          .backoff(kiln::backoff::exponential{.initial = std::chrono::milliseconds(10),
                                              .multiplier = 2.0,
                                              .max = std::chrono::milliseconds(200),
                                              .jitter = true})
          // a rejected amount is skipped where it is, without rolling the chunk back
          .no_rollback<over_limit>()
          .listener(step_listener{
              .after_step = [](step_context&, const step_result& r) -> std::optional<exit_status> {
                if (r.counts.skip() == 0) return std::nullopt;
                return exit_status{"COMPLETED WITH SKIPS", fmt::format("{} rows skipped", r.counts.skip())};
              }});
// [resilient-import]
  return b.step(std::move(convert)).build();
}

}  // namespace kiln::examples
