"""Tunes the chunkwise kernel on the machine at hand: times every compiled chunk size over a grid of shapes with
hmlstm_tune (the C++ timing driver), shows progress and the time left, and writes a versioned JSON table that the
library dispatches by (autotune/README.md).

    python3 autotune/tune.py --device cpu [--grid default|quick] [--dtype float32 bfloat16] [--out PATH]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import grids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine(device):
    info = {"system": platform.platform(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        info["cpu"] = next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name"))
        flags = next(l for l in text.splitlines() if l.startswith("flags")).split()
        info["isa"] = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "baseline"
    except (OSError, StopIteration):
        pass
    if device == "cuda":
        try:
            info["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                         capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            info["gpu"] = "unknown"
    return info


def run_driver(driver, device, dtype, shape, min_ms, chunks=None, rounds=1):
    """Rows of hmlstm_tune for one shape: [{"chunk_size": L, "ms": t, ...}, ...]."""
    cmd = [driver, "--device", device, "--dtype", dtype, "--min-ms", str(min_ms), "--rounds", str(rounds)]
    if chunks:
        cmd += ["--chunks", ",".join(str(c) for c in chunks)]
    cmd.append(",".join(str(x) for x in shape))
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tune.py: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def work(shape):
    heads, S, DHQK, DHV = shape
    return heads * S * (DHQK + DHV)


def tune(driver, device, dtypes, shapes, min_ms):
    """Times every shape; prints progress and the estimated time left (from the work done so far)."""
    jobs = [(dtype, shape) for dtype in dtypes for shape in shapes]
    total_work, done_work, begin, entries = sum(work(s) for _, s in jobs), 0, time.time(), []
    for n, (dtype, shape) in enumerate(jobs, 1):
        rows = run_driver(driver, device, dtype, shape, min_ms)
        timings = {str(r["chunk_size"]): r["ms"] for r in rows}
        best = min(rows, key=lambda r: r["ms"])
        heads, S, DHQK, DHV = shape
        entries.append({"form": "chunkwise", "dtype": dtype, "heads": heads, "S": S, "DHQK": DHQK, "DHV": DHV,
                        "winner": {"chunk_size": best["chunk_size"]}, "timings_ms": timings})
        done_work += work(shape)
        elapsed = time.time() - begin
        left = elapsed / done_work * (total_work - done_work)
        print(f"[{n}/{len(jobs)}] {dtype} heads={heads} S={S} DHQK={DHQK} DHV={DHV}: best chunk "
              f"{best['chunk_size']} ({best['ms']:.3f} ms); {elapsed:.0f} s so far, about {left:.0f} s left",
              flush=True)
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--grid", choices=sorted(grids.TUNING), help="default: 'default' on cpu, 'cuda' on cuda")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--min-ms", type=float, default=150.0, help="time each variant at least this long")
    parser.add_argument("--driver", default=os.path.join(ROOT, "build", "autotune", "hmlstm_tune"))
    parser.add_argument("--out", help="default: autotune/tables/<device>.json")
    args = parser.parse_args()
    out = args.out or os.path.join(ROOT, "autotune", "tables", f"{args.device}.json")

    version = subprocess.run([args.driver, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    args.grid = args.grid or ("cuda" if args.device == "cuda" else "default")
    shapes = grids.TUNING[args.grid]
    print(f"tuning hmlstm {version} on {args.device}: {len(shapes)} shapes x {len(args.dtype)} dtypes", flush=True)
    entries = tune(args.driver, args.device, args.dtype, shapes, args.min_ms)
    table = {"format": "hmlstm-tuning-table", "version": 1, "library": f"hmlstm {version}", "target": args.device,
             "machine": machine(args.device), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "grid": args.grid, "entries": entries}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(table, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
