#!/usr/bin/env bash
# Session 29 run B: the chunkwise GPU tests on tensor cores (forward and backward, fresh seed) after the float32
# operand stage's loop over feature blocks was kept from being partitioned per lane (never_partition): run A's
# failure at (1,1,4096,256,512), chunks 16-128, came from a shuffle of den inside that per-lane loop.
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 240 ./hmlstm_tests "chunkwise matches*,chunkwise with extreme*,chunkwise = recurrent*,chunkwise options*,chunkwise backward*" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -25
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -30
echo "total $(( $(date +%s) - start )) s"
