#!/usr/bin/env bash
# Session 27 run B: run A's code plus the lane sums' loads in flight together (groups of 4, unrolled; the float32
# operand stage's den without the causal skip) and the gate scans over a chunk's positions (prefix sums, prefix
# maxima): the GPU tests on tensor cores, bench_gpu chunkwise + fwbw, the fp32 forward's kernel profile at B=1.
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
build/bench/bench_gpu "$out/bench_gpu.json" chunkwise,fwbw 2>&1 | grep -E "copy|fwbw|chunkwise fw" | grep -v "B=8"
echo "bench done at $(( $(date +%s) - start )) s"
ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes.sum --csv --print-units base \
    build/bench/bench_gpu --profile 128 > "$out/ncu_fw_fp32_b1.csv" 2>&1
python3 bench/gpu/ncu_by_kernel.py "$out/ncu_fw_fp32_b1.csv" | head -14
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 300 ./hmlstm_tests "~[cpu]~[.],[gpu]" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -25
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -30
echo "total $(( $(date +%s) - start )) s"
