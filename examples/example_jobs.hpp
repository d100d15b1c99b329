#pragma once
// The example jobs shipped in the `kiln` binary.

#include <kiln/job.hpp>

namespace kiln::examples {

// csv-to-jsonl input=IN.csv output=OUT.jsonl [skip_limit=100] [commit_interval=1000]
// CSV with header id,name,amount -> one JSON object per line, name trimmed, amount a number.
// A row whose amount is not a number is skipped (and counted), up to skip_limit.
job csv_to_jsonl();

// csv-to-jsonl also takes threads=N (each chunk processed on N threads) and partitions=N (the
// input split into N line ranges converted in parallel, then merged); the output is the same.

// The tasklet of csv-to-jsonl's merge step: appends output.part1 .. output.part<partitions-1> to
// output (which partition 0 wrote) and removes them, restartable after a crash in any of its
// calls (public for its tests).
repeat_status merge_parts(step_context& ctx);

// csv-dir input_dir=DIR output_dir=OUT [pattern=*.csv] [grid_size=2] [skip_limit=100]: every
// matching CSV file of DIR converted as csv-to-jsonl does into OUT/<stem>.jsonl, one partition
// per file, grid_size files at once.
job csv_dir();

// generate-csv output=OUT.csv rows=N [bad_every=0]: deterministic sample input for csv-to-jsonl;
// every bad_every-th row gets a non-numeric amount.
job generate_csv();

// count-lines file=F: a tasklet that counts the lines of a file and keeps the count in its context.
job count_lines();

// noop: does nothing (dispatch benchmarks); accepts any parameters.
job noop();

// sleep ms=N [tag=T]: sleeps N milliseconds in checkpointed 50 ms ticks (stoppable, restartable).
job sleep_job();

// exclusive-sleep ms=N [tag=T]: sleep with concurrency forbid and recovery none.
job exclusive_sleep();

// checked-import input=IN.csv output=OUT.jsonl [skip_limit=100] [report=no|yes]: a flow. On a
// failed conversion the input is moved to IN.csv.rejected and the job FAILS; otherwise a decider
// on `report` picks whether a report step counts the output lines.
job checked_import();

// command-and-http url=URL [command=/bin/true] [args="a b c"]: tasklets from kiln/jobs: runs the
// program (output in the step context), then GETs the URL (response in the step context).
job command_and_http();

// purge-history older_than=30d [dry_run=true] [tag=T]: deletes the history that ended before now minus
// older_than, through purge commands; dry_run lists it instead.
job purge_history();

// fan-out input=ITEMS.txt output_dir=DIR: one write-item child execution per line; a rerun after a
// failure relaunches no child that completed.
job fan_out();

// write-item item=NAME output_dir=DIR: writes NAME into DIR/NAME.txt (fan-out's child).
job write_item();
// resilient-import input=IN.csv output=OUT.jsonl [flaky_every=0] [max_amount=0] [max_name=0]
// [skip_limit=100] [commit_interval=1000]: csv-to-jsonl with retries (a flaky simulated service),
// skips in read, process (no rollback) and write (found by a scan), the skip log and a step
// listener that reports "COMPLETED WITH SKIPS".
job resilient_import();

// append-line file=F line=TEXT: appends TEXT as one line to F (skipped if F already holds that
// line, so a rerun after a crash does not duplicate it). With a schedule,
// line={schedule}@{scheduled_time} leaves one trace per firing.
job append_line();

void register_all(registry& jobs);

}  // namespace kiln::examples
