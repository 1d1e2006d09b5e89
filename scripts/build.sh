#!/usr/bin/env bash
# Configures and builds the project in ./build (installing what is missing first). Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
halide_root="$(.venv/bin/python -c 'import halide; print(halide.install_dir())')"
.venv/bin/cmake -S . -B build -G Ninja -DCMAKE_MAKE_PROGRAM="$root/.venv/bin/ninja" \
    -DHalide_ROOT="$halide_root" -DCMAKE_INSTALL_PREFIX="$root/install" "$@"
.venv/bin/cmake --build build --parallel "$(nproc)"
