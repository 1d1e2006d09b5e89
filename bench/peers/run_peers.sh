#!/usr/bin/env bash
# Same-run comparison with the reference system's own CPU kernels: installs PyPI mlstm-kernels and torch into a
# separate virtualenv (.peers-venv), builds and runs bench_cpu, times the peers at the same shapes with the same
# thread count, and prints the joined table. Outputs land in build/bench-results/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
venv="$root/.peers-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r bench/peers/requirements-peers.txt
bash scripts/build.sh -DHMLSTM_BUILD_BENCH=ON
out="$root/build/bench-results"
mkdir -p "$out"
threads=$(nproc)
build/bench/bench_cpu "$out/bench_cpu.json"
"$venv/bin/python" bench/peers/bench_peers.py --threads "$threads" --json "$out/peers_cpu.json"
python3 bench/peers/compare.py "$out/bench_cpu.json" "$out/peers_cpu.json" | tee "$out/comparison.md"
