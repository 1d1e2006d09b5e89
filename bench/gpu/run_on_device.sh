#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with build/bench/bench_gpu (and build/tests/hmlstm_tests)
# built on the build machine and carried over, and the mlstm-kernels wheel in .whl/ (docs/benchmarks-gpu.md):
# the GPU test run, then ours and the peers on the same card in one session, then the joined table.
# Results go to $OUT (or build/bench-results).
set -uo pipefail
out="${OUT:-build/bench-results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/device.txt"
# cuBLAS for the ceilings: the toolkit's, else the one the torch wheel brings.
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
    [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
if [ "${RUN_TESTS:-1}" = 1 ] && [ -x build/tests/hmlstm_tests ]; then
    for products in tensor_cores simt; do
        echo "GPU tests, chunkwise products on $products:" | tee -a "$out/gpu_tests.txt"
        (cd build/tests && HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=$products ./hmlstm_tests "~[cpu]~[.],[gpu]") \
            > "$out/gpu_tests_$products.log" 2>&1
        tail -3 "$out/gpu_tests_$products.log" | tee -a "$out/gpu_tests.txt"
    done
fi
build/bench/bench_gpu "$out/bench_gpu.json" 2>&1 | tee "$out/bench_gpu.txt"
python3 -m pip install -q --no-index --no-deps --target /tmp/peers .whl/mlstm_kernels-*.whl
PYTHONPATH=/tmp/peers PYTHONUNBUFFERED=1 python3 bench/peers/bench_peers_gpu.py --json "$out/peers_gpu.json" \
    2>&1 | tail -20 | tee "$out/peers_gpu.txt"
python3 bench/peers/compare_gpu.py "$out/bench_gpu.json" "$out/peers_gpu.json" | tee "$out/comparison_gpu.md"
