#!/usr/bin/env bash
# Builds everything and runs the whole test suite (CTest). The README's test command; .ci/run calls it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$(date +%s)
bash scripts/build.sh -DHMLSTM_BUILD_TESTS=ON -DHMLSTM_BUILD_BENCH=ON
"$root/.venv/bin/ctest" --test-dir build --output-on-failure --no-tests=error
echo "build + tests: $(( $(date +%s) - start )) s"
