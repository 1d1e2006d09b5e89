"""Held-out validation of a tuning table, as a benchmark: on shapes that are not in the tuning grid, times every
compiled chunk size and the library's own dispatch (chunk_size 0, with the table loaded through
HMLSTM_TUNING_TABLE) in the same run, and reports whether the dispatch is within 5% of the best variant, and its
speedup over a fixed chunk size of 64. Writes Markdown and JSON next to --out.

    python3 autotune/validate.py --device cpu [--table autotune/tables/cpu.json] [--out autotune/results/validation-cpu]
"""
import argparse
import json
import math
import os
import time

import grids
import tune

TOLERANCE = 1.05


def table_choice(table, dtype, shape, neighbours=4):
    """The table's chunk size for a shape, as the library picks it (runtime/src/tuning_table.h): relative times
    averaged over the nearest entries, weighted by closeness in log space."""
    near = []
    for e in table["entries"]:
        if e.get("form") != "chunkwise" or e["dtype"] != dtype:
            continue
        d = math.sqrt(sum((math.log(a) - math.log(b)) ** 2
                          for a, b in zip(shape, (e["heads"], e["S"], e["DHQK"], e["DHV"]))))
        near.append((d, e))
    if not near:
        return 64
    near = sorted(near, key=lambda x: x[0])[:neighbours]
    scores = {}
    for chunk in (16, 32, 64, 128, 256):
        total = weight = 0.0
        for d, e in near:
            t = e.get("timings_ms", {})
            rel = t[str(chunk)] / min(t.values()) if str(chunk) in t else 1.0 if e["winner"]["chunk_size"] == chunk else 2.0
            total += rel / (d + 0.05)
            weight += 1 / (d + 0.05)
        scores[chunk] = total / weight
    return min(scores, key=scores.get)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--table", help="default: autotune/tables/<device>.json")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--min-ms", type=float, default=150.0)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the variants; each keeps its best median")
    parser.add_argument("--driver", default=os.path.join(tune.ROOT, "build", "autotune", "hmlstm_tune"))
    parser.add_argument("--out", help="default: autotune/results/validation-<device>")
    args = parser.parse_args()
    table_path = os.path.abspath(args.table or os.path.join(tune.ROOT, "autotune", "tables", f"{args.device}.json"))
    out = args.out or os.path.join(tune.ROOT, "autotune", "results", f"validation-{args.device}")
    table = json.load(open(table_path))
    os.environ["HMLSTM_TUNING_TABLE"] = table_path  # the driver's dispatch reads this table

    rows = []
    held_out = grids.HELD_OUT_CUDA if args.device == "cuda" else grids.HELD_OUT
    jobs = [(dtype, shape) for dtype in args.dtype for shape in held_out]
    begin = time.time()
    for n, (dtype, shape) in enumerate(jobs, 1):
        timed = {r["chunk_size"]: r["ms"] for r in
                 tune.run_driver(args.driver, args.device, dtype, shape, args.min_ms,
                                 chunks=[16, 32, 64, 128, 256, 0], rounds=args.rounds)}
        dispatch = timed.pop(0)
        best_chunk = min(timed, key=timed.get)
        rows.append({"dtype": dtype, "shape": shape, "choice": table_choice(table, dtype, shape),
                     "dispatch_ms": dispatch, "best_chunk": best_chunk, "best_ms": timed[best_chunk],
                     "fixed64_ms": timed[64], "timings_ms": timed})
        r = rows[-1]
        print(f"[{n}/{len(jobs)}] {dtype} {shape}: table picks {r['choice']} ({dispatch:.3f} ms), best "
              f"{best_chunk} ({r['best_ms']:.3f} ms); {time.time() - begin:.0f} s", flush=True)

    info = tune.machine(args.device)
    where = info.get("gpu") or f"{info.get('cpu', '?')} ({os.cpu_count()} cores)"
    within = sum(r["dispatch_ms"] <= TOLERANCE * r["best_ms"] for r in rows)
    speedup = math.exp(sum(math.log(r["fixed64_ms"] / r["dispatch_ms"]) for r in rows) / len(rows))
    lines = [f"# Held-out validation of {os.path.relpath(table_path, tune.ROOT)} ({args.device})", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {where}, {table['library']}; command: `python3 autotune/validate.py --device "
             f"{args.device}`. Every row times all compiled chunk sizes and the library's dispatch (chunk_size 0) "
             f"in the same run ({args.rounds} interleaved passes, each variant's best median); shapes are (B*NH, S, DHQK, DHV), none of them in the tuning grid.", "",
             f"Dispatch within 5% of the best variant: {within} of {len(rows)} shapes. Geometric-mean speedup of the "
             f"dispatch over a fixed chunk size of 64: {speedup:.2f}x.", "",
             "| dtype | shape | table's chunk | dispatch ms | best chunk | best ms | dispatch / best | chunk 64 ms | "
             "speedup over 64 |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["dispatch_ms"] / r["best_ms"]
        lines.append(f"| {r['dtype']} | {tuple(r['shape'])} | {r['choice']} | {r['dispatch_ms']:.3f} | "
                     f"{r['best_chunk']} | {r['best_ms']:.3f} | {ratio:.3f}{'' if ratio <= TOLERANCE else ' (over)'} | "
                     f"{r['fixed64_ms']:.3f} | {r['fixed64_ms'] / r['dispatch_ms']:.2f}x |")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".json", "w") as f:
        json.dump({"table": table_path, "within_5_percent": within, "shapes": len(rows),
                   "geomean_speedup_over_64": speedup, "rows": rows}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
