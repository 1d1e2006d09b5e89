#!/usr/bin/env bash
# Builds and installs the library, builds the example against the installed CMake package, and runs it:
# prefill with the chunkwise kernel, decode with the step kernel, check against the recurrent sequence.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/build.sh -DHMLSTM_BUILD_TESTS=OFF -DHMLSTM_BUILD_BENCH=OFF
.venv/bin/cmake --install build >/dev/null
.venv/bin/cmake -S examples/prefill_decode -B build/example -G Ninja -DCMAKE_MAKE_PROGRAM="$root/.venv/bin/ninja" \
    -DCMAKE_PREFIX_PATH="$root/install" -DCMAKE_BUILD_TYPE=Release >/dev/null
.venv/bin/cmake --build build/example
build/example/prefill_decode
