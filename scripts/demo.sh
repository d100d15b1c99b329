#!/usr/bin/env bash
# Builds Kiln, makes sample input, and runs the csv-to-jsonl example job on the embedded default
# (a RocksDB folder, no server). Run it twice: the second run makes new files (a new instance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
KILN=./build/examples/kiln
DEMO=demo
mkdir -p "$DEMO"
stamp=$(date +%Y%m%d-%H%M%S)
input="$DEMO/sales-$stamp.csv"
output="$DEMO/sales-$stamp.jsonl"
echo
echo "== 1. sample input: 200,000 rows, every 9973rd with a bad amount"
"$KILN" run generate-csv output="$input" rows=200000 bad_every=9973 --data-dir "$DEMO/kiln-data"
echo
echo "== 2. csv-to-jsonl"
set +e
"$KILN" run csv-to-jsonl input="$input" output="$output" --data-dir "$DEMO/kiln-data"
rc=$?
set -e
echo
echo "== done (exit code $rc)"
echo "input:            $input"
echo "output:           $output  ($(wc -l < "$output") lines; first: $(head -n 1 "$output"))"
echo "execution record: $KILN executions --data-dir $DEMO/kiln-data"
echo "                  $KILN show <execution id> --data-dir $DEMO/kiln-data"
echo "try a crash:      run step 2 again with a new output=, press Ctrl-C twice (or kill -9) mid-way,"
echo "                  then rerun the same command: it resumes from the last checkpoint."
exit "$rc"
