#!/usr/bin/env bash
# Runs on the GPU machine (binaries carried as for run_on_device.sh): Nsight Compute's per-kernel time and DRAM
# traffic of one chunkwise forward at the benchmark's bf16 shape (chunk ${CHUNK:-128}) and of a forward and backward
# pair (chunk 64; BACKWARD=0 skips it), and its full sections for one decode step at B=64, into $OUT (or
# build/bench-results).
set -uo pipefail
out="${OUT:-build/bench-results}"
mkdir -p "$out"
source bench/gpu/env.sh
ncu="ncu --clock-control none"
$ncu --metrics gpu__time_duration.sum,dram__bytes.sum --csv --print-units base \
    build/bench/bench_gpu --profile "${CHUNK:-128}" bf16 > "$out/ncu_chunkwise_fw.csv"
python3 bench/gpu/ncu_by_kernel.py "$out/ncu_chunkwise_fw.csv"
if [ "${BACKWARD:-1}" = 1 ]; then  # the forward and backward pair, bf16 at the benchmark shape, chunk 64
    $ncu --metrics gpu__time_duration.sum,dram__bytes.sum --csv --print-units base \
        build/bench/bench_gpu --profile 64 bw-bf16 > "$out/ncu_chunkwise_fwbw.csv"
    python3 bench/gpu/ncu_by_kernel.py "$out/ncu_chunkwise_fwbw.csv" | head -40
fi
$ncu --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats build/bench/bench_gpu --profile-step 64 > "$out/ncu_step.txt" 2>&1
grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|Stall|Eligible" \
    "$out/ncu_step.txt" | head -80
