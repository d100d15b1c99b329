#!/usr/bin/env bash
# Builds Kiln and runs every test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-web-test-deps.sh   # chromium, node and tests/web/node_modules for the `web` test
bash scripts/setup.sh
cd "${KILN_BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 600 "$@"
