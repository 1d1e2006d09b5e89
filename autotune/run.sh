#!/usr/bin/env bash
# Tunes this machine end to end: builds the library and the timing driver, tunes the chunkwise kernel over the
# default grid, plots the table, and validates it on the held-out grid (autotune/README.md).
#   bash autotune/run.sh [cpu|cuda]      (default cpu; the table goes to autotune/tables/<device>.json)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
device="${1:-cpu}"
bash scripts/build.sh -DHMLSTM_BUILD_TESTS=OFF -DHMLSTM_BUILD_BENCH=OFF  # builds the driver too
.venv/bin/pip install -q --disable-pip-version-check -r autotune/requirements.txt
.venv/bin/python autotune/tune.py --device "$device"
.venv/bin/python autotune/plots.py --table "autotune/tables/$device.json"
.venv/bin/python autotune/validate.py --device "$device"
echo "Rebuild (bash scripts/build.sh) to make the new table the built-in one, or point HMLSTM_TUNING_TABLE at it."
