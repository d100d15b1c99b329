#pragma once
// Where commands are proposed. Standalone, the log applies each command to the local state store;
// in a cluster it will replicate through Raft first. Proposals are applied in the order they were
// made. propose() returns once the command is durable; propose_async() returns at once, so a chunk
// step can read its next chunk while the previous commit reaches the disk.

#include <kiln/command.hpp>
#include <kiln/error.hpp>
#include <kiln/state_store.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <vector>

namespace kiln {

class command_log {
 public:
  virtual ~command_log() = default;
  virtual expected<apply_result> propose(command cmd) = 0;
  virtual std::future<expected<apply_result>> propose_async(command cmd) = 0;
  // Calls `done` with the result once the command is durable (or refused). `done` runs on the
  // log's thread and must not block: an actor passes a function that sends itself a message.
  // The default waits here; the standalone log does not.
  virtual void propose_then(command cmd, std::function<void(expected<apply_result>)> done) {
    done(propose(std::move(cmd)));
  }
  virtual const state_store& state() const = 0;
};

// Applies commands on one background thread and syncs them on another. Commands that queue up
// while a group is being applied are applied as the next group, each its own atomic WriteBatch,
// and the group's WAL records are handed to the OS with one write; the sync thread then makes
// every group handed over so far durable with one fdatasync, while the applier goes on with the
// next group. A proposal completes only after a sync that began after its group was written.
struct standalone_log_options {
  // Called on the log's thread for every command once it is durable, with the time from
  // proposal to durability (queueing + apply + the group's fsync). Default: none.
  std::function<void(const command&, std::chrono::nanoseconds)> on_durable;
};
std::unique_ptr<command_log> make_standalone_log(state_store& store, standalone_log_options options = {});

}  // namespace kiln
