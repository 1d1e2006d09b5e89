#!/usr/bin/env bash
# Session 26 run A: fwbw in the three backward modes (recomputed; states recomputed with the forward's per-token
# normalizers and stabilizers; saved states) and the forward, then the GPU tests on tensor cores (every case) and
# the SIMT backward cases.
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz  # this run's binaries over any that a warm machine kept
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
build/bench/bench_gpu "$out/bench_fwbw.json" fwbw,chunkwise 2>&1 | grep -E "copy|fwbw|chunkwise fw"
echo "bench took $(( $(date +%s) - start )) s"
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 300 ./hmlstm_tests "~[cpu]~[.],[gpu]" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -3
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -40
echo "tc tests done at $(( $(date +%s) - start )) s"
(cd build/tests && HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=simt \
    timeout 150 ./hmlstm_tests "[backward]~[cpu]" > "$out/gpu_tests_simt_backward.log" 2>&1)
echo "== simt backward"; tail -3 "$out/gpu_tests_simt_backward.log"
echo "total $(( $(date +%s) - start )) s"
