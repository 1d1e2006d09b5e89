#!/usr/bin/env bash
# Session 30 run C: the full GPU suite, both product modes, fresh seed, on binaries built from bc20456 (the
# causal sums' new form; the CUDA kernels' math unchanged).
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
for products in tensor_cores simt; do
    (cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=$products \
        timeout 250 ./hmlstm_tests "~[cpu]~[.],[gpu]" > "$out/gpu_tests_full_$products.log" 2>&1; echo "rc $?" >> "$out/gpu_tests_full_$products.log")
    echo "== $products ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_full_$products.log" | tail -8
done
echo "total $(( $(date +%s) - start )) s"
