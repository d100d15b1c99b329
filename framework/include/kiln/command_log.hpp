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

namespace kiln {

class command_log {
 public:
  virtual ~command_log() = default;
  virtual expected<apply_result> propose(command cmd) = 0;
  virtual std::future<expected<apply_result>> propose_async(command cmd) = 0;
  virtual const state_store& state() const = 0;
};

// Applies commands on one background thread. Commands that queue up while a write is under way
// are written as one group: each its own atomic WriteBatch, only the last synced (RocksDB syncs
// the WAL as a whole), so a group costs one fsync. A proposal completes only after its group's sync.
struct standalone_log_options {
  // Called on the log's thread for every command once it is durable, with the time from
  // proposal to durability (queueing + apply + the group's fsync). Default: none.
  std::function<void(const command&, std::chrono::nanoseconds)> on_durable;
};
std::unique_ptr<command_log> make_standalone_log(state_store& store, standalone_log_options options = {});

}  // namespace kiln
