#!/usr/bin/env bash
# Packs the binaries a GPU run needs (stripped test, benchmark and tuning binaries, the tests' table files) into
# .devcarry/bins.tar.xz: the three binaries are about 58 MB each but share most of their bytes (the same kernel
# libraries), so xz with a large dictionary makes them one small file that fits the device's carry limit.
# bench/gpu/run_on_device.sh unpacks it into build/ on the GPU machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
for f in tests/hmlstm_tests bench/bench_gpu autotune/hmlstm_tune; do
    if [ ! -x "$root/build/$f" ]; then
        echo "pack.sh: build/$f is not built (configure with -DHMLSTM_BUILD_TESTS=ON -DHMLSTM_BUILD_BENCH=ON); left out"
        continue
    fi
    mkdir -p "$stage/build/$(dirname "$f")"
    strip -o "$stage/build/$f" "$root/build/$f"
done
[ -d "$stage/build/tests" ] && cp "$root"/build/tests/*.json "$stage/build/tests/"
mkdir -p "$root/.devcarry"
tar -C "$stage" -cf - build | xz -T0 -9 --lzma2=dict=192MiB > "$root/.devcarry/bins.tar.xz"
ls -l "$root/.devcarry/bins.tar.xz"
