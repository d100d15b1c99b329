#pragma once
// The item interfaces of a chunk step (Spring Batch's ItemReader/ItemProcessor/ItemWriter/ItemStream).
//
// Threading: a step calls its reader, processor and writer from one thread at a time, never
// concurrently; they need no locking. An object is used by one step execution only.
// Exceptions thrown from read/process/write are caught by the step and classified by its skip
// policy; they never escape the step.

#include <kiln/execution_context.hpp>

#include <optional>
#include <vector>

namespace kiln {

class step_context;

// Resources with restart state. open() is called once before the first item (with the context of
// the last commit on restart), update() before every commit to save the position into the
// context, close() once at the end, also after a failure.
//
// A writer's update() may save a position whose data it still buffers: the step calls the
// writer's flush() before a checkpoint holding that position goes to the command log, so the data
// is where a crash of the process cannot lose it (the kernel, a server) before the checkpoint can
// be durable. The step hands checkpoints over in lots (step_committer), so a buffering writer
// hands its data over once per lot instead of once per chunk (Spring Batch's file writers
// likewise buffer until the transaction commits). When flush() throws, the checkpoints not yet
// handed over are dropped and the step fails; a restart resumes from the last one handed over.
class item_stream {
 public:
  virtual ~item_stream() = default;
  virtual void open(step_context& /*ctx*/) {}
  virtual void update(execution_context& /*ctx*/) {}
  // Default: nothing; update() left nothing buffered.
  virtual void flush() {}
  virtual void close() {}
};

// The items of one chunk, in input order.
template <class T>
using chunk = std::vector<T>;

// read(): the next item, or nullopt at the end of the input (and on every call after it).
template <class T>
class item_reader : public virtual item_stream {
 public:
  using item_type = T;
  virtual std::optional<T> read() = 0;
  // What the chunk loop calls: reads the next item onto the end of `items` and returns true, or
  // returns false at the end of the input, adding nothing (also when it throws). The default
  // goes through read(); a reader may build the item in place instead.
  virtual bool read_into(chunk<T>& items) {
    auto item = read();
    if (!item) return false;
    items.push_back(std::move(*item));
    return true;
  }
  // How much of the input has been read, 0..1, when the reader knows (for progress and ETA).
  [[nodiscard]] virtual std::optional<double> fraction_done() const { return std::nullopt; }
  // True when close() and then open() with the context of the last commit make read() return the
  // same items again, in the same order (a file from a saved offset, a key range). A chunk step
  // with skip or retry then hands each item to its processor without keeping a copy, and reads
  // the chunk again only when a rollback needs its items. Default: false, the step keeps a copy
  // of every item of the chunk.
  [[nodiscard]] virtual bool repeatable() const { return false; }
};

// process(): the output item, or nullopt to filter the item out (counted as filtered, not written).
template <class I, class O>
class item_processor {
 public:
  virtual ~item_processor() = default;
  virtual std::optional<O> process(I item) = 0;
};

// write(): writes all items of a chunk; must accept an empty chunk. The position update() saves
// must cover exactly the items written so far; durability is owed once flush() returned.
template <class T>
class item_writer : public virtual item_stream {
 public:
  using item_type = T;
  virtual void write(const chunk<T>& items) = 0;
};

}  // namespace kiln
