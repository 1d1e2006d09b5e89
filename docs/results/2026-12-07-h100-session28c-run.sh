#!/usr/bin/env bash
# Session 28 run C (little device time left): run A's code with the general branch of the float32 operand stage
# fixed; every chunkwise GPU case on tensor cores (forward and backward, fresh seed), then the chunkwise backward
# cases again with run A's seed (its bfloat16 df outlier; those kernels are unchanged since session 27).
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 200 ./hmlstm_tests "chunkwise matches*,chunkwise with extreme*,chunkwise = recurrent*,chunkwise options*" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -25
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -30
(cd build/tests && HMLSTM_TEST_SEED=6957540257381802522 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 60 ./hmlstm_tests "chunkwise backward at every chunk size*" > "$out/gpu_tests_seed_6957540257381802522.log" 2>&1)
echo "== run A's seed ($(( $(date +%s) - start )) s)"; grep -E "df:|passed|failed" "$out/gpu_tests_seed_6957540257381802522.log" | sort | uniq -c | head
echo "total $(( $(date +%s) - start )) s"
