"""Tunes the chunkwise kernel on the machine at hand with hmlstm_tune (the C++ timing driver): at every shape of a
grid, first every compiled chunk size (default schedule), then the other schedules (register-block shapes) at the
two best chunk sizes; shows progress and the time left, and writes a versioned JSON table that the library
dispatches by (autotune/README.md).

    python3 autotune/tune.py --device cpu [--grid default|quick | --shapes HEADS,S,DHQK,DHV ...]
                             [--dtype float32 bfloat16] [--out PATH]
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


def run_driver(driver, device, dtype, shape, min_ms, variants=None):
    """Rows of hmlstm_tune for one shape, timed interleaved: [{"variant": "64/vb1_rb8", "runs": ..., "ms": t}, ...]."""
    cmd = [driver, "--device", device, "--dtype", dtype, "--min-ms", str(min_ms)]
    if variants:
        cmd += ["--variants", ",".join(str(v) for v in variants)]
    cmd.append(",".join(str(x) for x in shape))
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tune.py: {' '.join(cmd)} failed: {out.stderr.strip()}")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    for r in rows:  # every explicit variant must run as itself
        if r["variant"] != "0" and r["runs"] != r["variant"]:
            sys.exit(f"tune.py: variant {r['variant']} ran as {r['runs']}")
    return rows


def schedules(driver, device):
    """The compiled schedules of the chunkwise forward, "default" first."""
    out = subprocess.run([driver, "--device", device, "--schedules"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def time_shape(driver, device, dtype, shape, min_ms, chunks, extra_schedules):
    """{variant key: ms} for one shape: the chunk sizes, then the extra schedules at the two best of them, timed
    with those two again; the second pass is scaled to the first by the best chunk's two times. On CUDA the
    "schedules" are the product paths (simt), whose best chunk sizes differ: every variant in one pass."""
    if device == "cuda":  # the product paths (tensor cores, SIMT) each at every chunk size, in one pass
        variants = chunks + [f"{c}/{s}" for c in chunks for s in extra_schedules]
        return {r["variant"]: r["ms"] for r in run_driver(driver, device, dtype, shape, min_ms, variants)}
    first = {r["variant"]: r["ms"] for r in run_driver(driver, device, dtype, shape, min_ms, chunks)}
    if not extra_schedules:
        return first
    best = sorted(first, key=first.get)[:2]
    second_variants = best + [f"{c}/{s}" for c in best for s in extra_schedules]
    second = {r["variant"]: r["ms"] for r in run_driver(driver, device, dtype, shape, min_ms, second_variants)}
    scale = first[best[0]] / second[best[0]]
    timings = dict(first)
    for key in second_variants[2:]:
        timings[key] = second[key] * scale
    return timings


def work(shape):
    heads, S, DHQK, DHV = shape
    return heads * S * (DHQK + DHV)


def split_key(key):
    chunk, _, schedule = key.partition("/")
    return int(chunk), schedule or "default"


def time_left(done, remaining):
    """Seconds the remaining jobs should take: each job's time fitted as a + b * work over the jobs done (a: the
    minimum timing time per variant, b: the calls themselves), least squares with a, b >= 0."""
    n = len(done)
    mean_w = sum(w for w, _ in done) / n
    mean_t = sum(t for _, t in done) / n
    var_w = sum((w - mean_w) ** 2 for w, _ in done)
    b = max(0.0, sum((w - mean_w) * (t - mean_t) for w, t in done) / var_w) if var_w > 0 else 0.0
    a = max(0.0, mean_t - b * mean_w)
    return sum(a + b * w for w in remaining)


def tune(driver, device, dtypes, shapes, min_ms):
    """Times every shape; prints progress and the estimated time left (from the jobs done so far)."""
    chunks = [16, 32, 64, 128, 256]
    extra = schedules(driver, device)[1:]
    jobs = [(dtype, shape) for dtype in dtypes for shape in shapes]
    begin, entries, done = time.time(), [], []
    for n, (dtype, shape) in enumerate(jobs, 1):
        job_begin = time.time()
        timings = time_shape(driver, device, dtype, shape, min_ms, chunks, extra)
        best = min(timings, key=timings.get)
        chunk, schedule = split_key(best)
        heads, S, DHQK, DHV = shape
        entries.append({"form": "chunkwise", "dtype": dtype, "heads": heads, "S": S, "DHQK": DHQK, "DHV": DHV,
                        "winner": {"chunk_size": chunk, "schedule": schedule}, "timings_ms": timings})
        done.append((work(shape), time.time() - job_begin))
        elapsed = time.time() - begin
        left = time_left(done, [work(s) for _, s in jobs[n:]])
        print(f"[{n}/{len(jobs)}] {dtype} heads={heads} S={S} DHQK={DHQK} DHV={DHV}: best {best} "
              f"({timings[best]:.3f} ms); {elapsed:.0f} s so far, about {left:.0f} s left", flush=True)
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--grid", choices=sorted(grids.TUNING), help="default: 'default' on cpu, 'cuda' on cuda")
    parser.add_argument("--shapes", nargs="+", metavar="HEADS,S,DHQK,DHV",
                        help="tune these shapes instead of a grid (say, the ones a model deploys with)")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--min-ms", type=float, default=100.0, help="time each variant at least this long")
    parser.add_argument("--driver", default=os.path.join(ROOT, "build", "autotune", "hmlstm_tune"))
    parser.add_argument("--out", help="default: autotune/tables/<device>.json")
    args = parser.parse_args()
    out = args.out or os.path.join(ROOT, "autotune", "tables", f"{args.device}.json")

    version = subprocess.run([args.driver, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    args.grid = args.grid or ("cuda" if args.device == "cuda" else "default")
    shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes] if args.shapes else grids.TUNING[args.grid]
    if args.shapes:
        args.grid = "custom"
    print(f"tuning hmlstm {version} on {args.device}: {len(shapes)} shapes x {len(args.dtype)} dtypes", flush=True)
    entries = tune(args.driver, args.device, args.dtype, shapes, args.min_ms)
    table = {"format": "hmlstm-tuning-table", "version": 2, "library": f"hmlstm {version}", "target": args.device,
             "machine": machine(args.device), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "grid": args.grid, "entries": entries}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(table, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
