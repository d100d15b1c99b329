#pragma once
// Restartable in-memory items for framework tests: a reader over 1..n that can be told to throw
// at chosen items, and a writer into a shared vector that truncates to its checkpoint on open,
// as a file writer does.

#include <kiln/exceptions.hpp>
#include <kiln/item.hpp>
#include <kiln/step_context.hpp>

#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

namespace kiln::test {

struct transient_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// What the fault tests' writers throw for a bad item.
struct write_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct number_source {
  int n = 0;
  std::set<int> fail_at;       // read() throws transient_failure at these items (once each)
  std::set<int> bad_items;     // read() throws parse_error for these, every time
  int reads = 0;
};

class number_reader final : public item_reader<int> {
 public:
  explicit number_reader(std::shared_ptr<number_source> src) : src_(std::move(src)) {}
  void open(step_context& ctx) override {
    if (const auto* p = ctx.context().if_contains("numbers.next")) next_ = static_cast<int>(p->as_int64());
  }
  std::optional<int> read() override {
    if (next_ > src_->n) return std::nullopt;
    const int i = next_++;
    ++src_->reads;
    if (src_->fail_at.erase(i)) throw transient_failure("failure at item " + std::to_string(i));
    if (src_->bad_items.contains(i)) throw parse_error("numbers", i, "value", "bad item");
    return i;
  }
  void update(execution_context& ctx) override { ctx["numbers.next"] = next_; }

 private:
  std::shared_ptr<number_source> src_;
  int next_ = 1;
};

class vector_writer final : public item_writer<int> {
 public:
  explicit vector_writer(std::shared_ptr<std::vector<int>> out) : out_(std::move(out)) {}
  void open(step_context& ctx) override {
    std::size_t keep = 0;
    if (const auto* p = ctx.context().if_contains("out.size")) keep = static_cast<std::size_t>(p->as_int64());
    out_->resize(keep);
  }
  void write(const chunk<int>& items) override { out_->insert(out_->end(), items.begin(), items.end()); }
  void update(execution_context& ctx) override { ctx["out.size"] = static_cast<std::int64_t>(out_->size()); }

 private:
  std::shared_ptr<std::vector<int>> out_;
};

}  // namespace kiln::test
