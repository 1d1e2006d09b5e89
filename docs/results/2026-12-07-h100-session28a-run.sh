#!/usr/bin/env bash
# Session 28 run A: the float32 tensor-core forward's operand stage with its values in registers (operand_values,
# den's sums in the lanes' blocked order): the GPU tests on tensor cores, bench_gpu chunkwise + fwbw + step, the
# fp32 forward's kernel profile at B=1 and the decode step's at B=64, then the peers in the same session.
set -uo pipefail
out="${OUT:-build/bench-results}"; mkdir -p "$out"
start=$(date +%s)
tar -xJf .devcarry/bins.tar.xz
source bench/gpu/env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/device.txt"
(cd build/tests && HMLSTM_TEST_REPORT=1 HMLSTM_TEST_DEVICE=cuda HMLSTM_TEST_CUDA_PRODUCTS=tensor_cores \
    timeout 300 ./hmlstm_tests "~[cpu]~[.],[gpu]" > "$out/gpu_tests_tensor_cores.log" 2>&1)
echo "== tensor_cores ($(( $(date +%s) - start )) s)"; grep -v "worst relative" "$out/gpu_tests_tensor_cores.log" | tail -25
grep "worst relative" "$out/gpu_tests_tensor_cores.log" | head -30
build/bench/bench_gpu "$out/bench_gpu.json" chunkwise,fwbw,step 2>&1 | grep -E "copy|fwbw|chunkwise fw|step"
echo "bench done at $(( $(date +%s) - start )) s"
ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes.sum,launch__registers_per_thread --csv \
    --print-units base build/bench/bench_gpu --profile 128 > "$out/ncu_fw_fp32_b1.csv" 2>&1
python3 bench/gpu/ncu_by_kernel.py "$out/ncu_fw_fp32_b1.csv" | head -14
ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes.sum,launch__registers_per_thread --csv \
    --print-units base build/bench/bench_gpu --profile-step 64 > "$out/ncu_step_b64.csv" 2>&1
python3 bench/gpu/ncu_by_kernel.py "$out/ncu_step_b64.csv" | head -8
echo "profiles done at $(( $(date +%s) - start )) s"
if [ "${RUN_PEERS:-1}" = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/peers .whl/mlstm_kernels-*.whl
    PYTHONPATH=/tmp/peers PYTHONUNBUFFERED=1 timeout 300 python3 bench/peers/bench_peers_gpu.py --json "$out/peers_gpu.json" 2>&1 | tail -25
    python3 bench/peers/compare_gpu.py "$out/bench_gpu.json" "$out/peers_gpu.json" > "$out/comparison_gpu.md"
fi
echo "total $(( $(date +%s) - start )) s"
