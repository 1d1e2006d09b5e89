#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with the binaries built on the build machine carried over
# (.devcarry/bins.tar.xz from bench/gpu/pack.sh, or build/bench/bench_gpu and build/tests/hmlstm_tests themselves)
# and the mlstm-kernels wheel in .whl/ (docs/benchmarks-gpu.md): the GPU test run, then ours and the peers on the
# same card in one session, then the joined table. Results go to $OUT (or build/bench-results).
#   RUN_TESTS=0 skips the tests; RUN_BENCH=0 skips the benchmarks and the peers; RUN_PEERS=0 the peers alone.
#   PRODUCTS (default "tensor_cores simt"): the chunkwise product paths the tests run on; TESTS: their Catch2
#   filter (default every GPU test); SECTIONS: bench_gpu's sections (default all).
set -uo pipefail
out="${OUT:-build/bench-results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/device.txt"
source bench/gpu/env.sh
if [ "${RUN_TESTS:-1}" = 1 ] && [ -x build/tests/hmlstm_tests ]; then
    for products in ${PRODUCTS:-tensor_cores simt}; do
        echo "GPU tests, chunkwise products on $products:" | tee -a "$out/gpu_tests.txt"
        (cd build/tests && HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=$products ./hmlstm_tests "${TESTS:-~[cpu]~[.],[gpu]}") \
            > "$out/gpu_tests_$products.log" 2>&1
        tail -3 "$out/gpu_tests_$products.log" | tee -a "$out/gpu_tests.txt"
    done
fi
[ "${RUN_BENCH:-1}" = 1 ] || exit 0
build/bench/bench_gpu "$out/bench_gpu.json" ${SECTIONS:-} 2>&1
[ "${RUN_PEERS:-1}" = 1 ] || exit 0
python3 -m pip install -q --no-index --no-deps --target /tmp/peers .whl/mlstm_kernels-*.whl
PYTHONPATH=/tmp/peers PYTHONUNBUFFERED=1 python3 bench/peers/bench_peers_gpu.py --json "$out/peers_gpu.json" \
    2>&1 | tail -20
python3 bench/peers/compare_gpu.py "$out/bench_gpu.json" "$out/peers_gpu.json" | tee "$out/comparison_gpu.md"
