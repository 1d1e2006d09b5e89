#!/usr/bin/env bash
# Session 29 run A: every chunkwise GPU test on tensor cores (fresh seed) on the build with the bfloat16 backward's
# state gradient split into hi and lo rows for the state gate (and 1ef33f1's fix of the float32 forward's branch
# past the register span, first run here); the chunkwise backward cases again at seeds whose df failed the bound
# in a float64 emulation of the old roundings (6957540257381802522 failed on the H100 in session 28); then the
# fwbw benchmark of the old build (d87bfec, .devcarry/bins_old.tar.xz) and the new one, alternately.
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
mkdir -p /tmp/old && tar -C /tmp/old -xJf .devcarry/bins_old.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 200 ./hmlstm_tests "chunkwise matches*,chunkwise with extreme*,chunkwise = recurrent*,chunkwise options*,chunkwise backward*" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -25
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -30
for seed in 6957540257381802522 1044667620849628796 SEEDS_MORE; do
    [ "$seed" = SEEDS_MORE ] && continue
    (cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_SEED=$seed HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
        timeout 60 ./hmlstm_tests "chunkwise backward at every chunk size*" > "$out/gpu_tests_seed_$seed.log" 2>&1)
    echo "== seed $seed ($(( $(date +%s) - start )) s): $(grep -E "test cases" "$out/gpu_tests_seed_$seed.log")"
    grep "bfloat16 df\|bfloat16 di" "$out/gpu_tests_seed_$seed.log"
done
for round in 1 2; do
    /tmp/old/build/bench/bench_gpu "$out/bench_fwbw_old_$round.json" fwbw 2>&1 | grep -E "fwbw" | sed "s/^/old $round /"
    build/bench/bench_gpu "$out/bench_fwbw_new_$round.json" fwbw 2>&1 | grep -E "fwbw" | sed "s/^/new $round /"
done
echo "total $(( $(date +%s) - start )) s"
