#pragma once
// Private: `kiln schedule add|ls|show|pause|resume|rm|trigger|backfill`, remote calls to a node's
// /api/v1/schedules (--server / KILN_SERVER, --token / KILN_TOKEN).

#include <CLI/CLI.hpp>

#include <memory>

namespace kiln::cli {

struct schedule_cli;

// Declares the subcommands on `app`; the returned state receives their arguments.
std::shared_ptr<schedule_cli> add_schedule_commands(CLI::App& app);
// Whether one of them was given on the command line.
bool schedule_command_parsed(const schedule_cli& s);
int run_schedule_command(const schedule_cli& s);

}  // namespace kiln::cli
