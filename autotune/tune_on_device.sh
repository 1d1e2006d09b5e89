#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with build/autotune/hmlstm_tune built on the build machine and
# carried over (bench/gpu/pack.sh packs it): tunes the CUDA chunkwise kernel over the "cuda" grid and validates the
# table on the held-out grid. The table and the validation go to $OUT (or autotune/tables and autotune/results);
# plot them on the build machine with autotune/plots.py.
set -euo pipefail
source bench/gpu/env.sh
table="${OUT:-autotune/tables}/cuda.json"
export PYTHONUNBUFFERED=1
python3 autotune/tune.py --device cuda --out "$table" "$@"
python3 autotune/validate.py --device cuda --table "$table" --out "${OUT:-autotune/results}/validation-cuda"
