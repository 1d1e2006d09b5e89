#!/usr/bin/env bash
# Session 26 run B: the attention backend on the GPU (its test cases on CUDA device memory, then bench_gpu's small
# section: the parallel form, the attention backend and the recurrent sequence at the CPU benchmark's shape).
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz  # this run's binaries over any that a warm machine kept
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
(cd build/tests && HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 200 ./hmlstm_tests "[attention]~[cpu],[gpu]" > "$out/gpu_tests_attention.log" 2>&1)
echo "== attention and [gpu] cases"; tail -3 "$out/gpu_tests_attention.log"
echo "tests done at $(( $(date +%s) - start )) s"
build/bench/bench_gpu "$out/bench_small.json" small 2>&1 | grep -E "copy|parallel|attention|sequence"
echo "total $(( $(date +%s) - start )) s"
