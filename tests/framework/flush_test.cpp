// Writers that buffer (item_stream::flush): a checkpoint goes to the command log only after the
// data it counts was flushed, skip log included; a flush that fails drops the checkpoints not yet
// handed over and fails the step, whose record and restart then start from the last one handed
// over. Over a real RocksDB folder and the standalone log.

#include "support/temp_dir.hpp"
#include "support/test_items.hpp"

#include <kiln/command_log.hpp>
#include <kiln/exceptions.hpp>
#include <kiln/job.hpp>
#include <kiln/job_run.hpp>
#include <kiln/state_store.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

using namespace kiln;
using namespace kiln::test;

namespace {

// The "file" of a buffering writer: what flush() handed over, readable from the log's thread.
struct flushed_items {
  std::mutex mu;
  std::vector<int> items;
  std::atomic<std::int64_t> size{0};
  std::atomic<int> flushes{0};
  int fail_on_flush = 0;  // flush() number (1-based) that throws io_error; 0: none
};

class buffering_writer final : public item_writer<int> {
 public:
  explicit buffering_writer(std::shared_ptr<flushed_items> f) : f_(std::move(f)) {}
  void open(step_context& ctx) override {
    std::int64_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = p->as_int64();
    std::lock_guard lock(f_->mu);
    if (static_cast<std::int64_t>(f_->items.size()) < keep) throw std::logic_error("the checkpoint counts lost items");
    f_->items.resize(static_cast<std::size_t>(keep));
    f_->size = keep;
    buffer_.clear();
  }
  void write(const chunk<int>& items) override { buffer_.insert(buffer_.end(), items.begin(), items.end()); }
  // The position counts the buffered items, as a buffering file writer's does.
  void update(execution_context& ctx) override {
    ctx["out.size"] = f_->size.load() + static_cast<std::int64_t>(buffer_.size());
  }
  void flush() override {
    if (++f_->flushes == f_->fail_on_flush) throw io_error("cannot write 'out': no space left on device");
    std::lock_guard lock(f_->mu);
    f_->items.insert(f_->items.end(), buffer_.begin(), buffer_.end());
    f_->size = static_cast<std::int64_t>(f_->items.size());
    buffer_.clear();
  }
  void close() override { buffer_.clear(); }  // a crash: what was not flushed is gone

 private:
  std::shared_ptr<flushed_items> f_;
  std::vector<int> buffer_;
};

struct fixture {
  temp_dir dir;
  std::unique_ptr<state_store> store = std::move(state_store::open(dir.path() / "data", store_access::read_write).value());
  std::shared_ptr<number_source> src = std::make_shared<number_source>();
  std::shared_ptr<flushed_items> out = std::make_shared<flushed_items>();
  job_parameters params;
  std::mutex mu;
  std::vector<std::string> violations;
  std::atomic<int> checked{0};

  fixture() {
    src->n = 1000;
    for (int i = 37; i <= src->n; i += 37) src->bad_items.insert(i);
    params.set("run", {std::string("1"), true});
  }

  // Checks, as each commit becomes durable, that the data it counts is already flushed.
  void on_durable(const command& c) {
    const auto* commit = std::get_if<commit_chunk_cmd>(&c);
    if (!commit) return;
    ++checked;
    const auto counted = commit->context.at("out.size").as_int64();
    std::string problem;
    if (counted > out->size.load()) {
      problem = "commit " + std::to_string(commit->counts.commit) + " counts " + std::to_string(counted) +
                " items, " + std::to_string(out->size.load()) + " flushed";
    }
    if (const auto* offset = commit->context.if_contains("kiln.skip_log.offset"); offset && offset->as_int64() > 0) {
      const std::filesystem::path file(std::string(commit->context.at("kiln.skip_log.file").as_string()));
      std::error_code ec;
      const auto size = std::filesystem::file_size(file, ec);
      if (ec || static_cast<std::int64_t>(size) < offset->as_int64()) {
        problem += " skip log at " + std::to_string(offset->as_int64()) + " bytes, file has " +
                   (ec ? std::string("none") : std::to_string(size));
      }
    }
    if (!problem.empty()) {
      std::lock_guard lock(mu);
      violations.push_back(problem);
    }
  }

  run_result run() {
    standalone_log_options opts;
    opts.on_durable = [this](const command& c, std::chrono::nanoseconds) { on_durable(c); };
    auto log = make_standalone_log(*store, opts);
    auto j = job_builder("buffered")
                 .step(chunk_step<int>("copy")
                           .reader(number_reader(src))
                           .writer(buffering_writer(out))
                           .commit_interval(10)
                           .skip<parse_error>()
                           .skip_limit(100))
                 .build();
    auto r = run_job(j, params, *log);
    REQUIRE(r);
    return *r;
  }
};

std::vector<int> good_items(const number_source& src) {
  std::vector<int> v;
  for (int i = 1; i <= src.n; ++i) {
    if (!src.bad_items.contains(i)) v.push_back(i);
  }
  return v;
}

}  // namespace

TEST_CASE("a checkpoint goes to the log only after the writer and the skip log flushed what it counts",
          "[framework][flush]") {
  fixture f;
  auto r = f.run();
  CHECK(r.status == batch_status::completed);
  auto st = f.store->step_executions(r.execution_id).at(0);
  CHECK(st.counts.commit == 98);  // 973 good items in chunks of 10
  // One durable commit per lot of commits handed over (the lot's last stands for all of it).
  CHECK(f.checked >= 1);
  CHECK(f.checked == f.out->flushes);
  CHECK(f.violations == std::vector<std::string>{});
  CHECK(f.out->items == good_items(*f.src));
  // Flushed once per lot of commits handed over together: never more often than per commit.
  CHECK(f.out->flushes >= 1);
  CHECK(f.out->flushes <= 98);
  CHECK(st.counts.read_skip == 27);
  const auto ctx = f.store->step_context(st.id);
  const std::filesystem::path skip_file(std::string(ctx.at("kiln.skip_log.file").as_string()));
  CHECK(static_cast<std::int64_t>(std::filesystem::file_size(skip_file)) == ctx.at("kiln.skip_log.offset").as_int64());
}

TEST_CASE("a failed flush fails the step; its record and its restart start from the last checkpoint handed over",
          "[framework][flush]") {
  fixture f;
  f.out->fail_on_flush = GENERATE(1, 2, 3);
  auto first = f.run();
  CHECK(first.status == batch_status::failed);
  CHECK_THAT(first.exit.description, Catch::Contains("no space left on device"));
  CHECK(f.violations == std::vector<std::string>{});
  auto st = f.store->step_executions(first.execution_id).at(0);
  // The step's record counts exactly what was flushed: the commits held with the lost data are gone.
  CHECK(st.counts.write == f.out->size.load());
  const auto ctx = f.store->step_context(st.id);
  const auto* counted = ctx.if_contains("out.size");
  CHECK((counted ? counted->as_int64() : 0) == f.out->size.load());
  if (f.out->fail_on_flush == 1) CHECK(st.counts.commit == 0);  // the first lot never went to the log
  if (f.out->fail_on_flush > 1) CHECK(st.counts.commit > 0);

  f.out->fail_on_flush = 0;
  auto second = f.run();
  CHECK(second.status == batch_status::completed);
  CHECK(second.execution_id != first.execution_id);
  CHECK(f.violations == std::vector<std::string>{});
  CHECK(f.out->items == good_items(*f.src));
}
