"""Held-out validation of a tuning table, as a benchmark: on shapes that are not in the tuning grid, times every
compiled variant (chunk size x schedule) and the library's own dispatch (chunk_size 0 and no schedule, with the
table loaded through HMLSTM_TUNING_TABLE) interleaved in the same run, and reports whether the table's choice (the
variant the dispatch runs) is within 5% of the best variant (confirmed head to head where they differ), and its
speedup over a fixed chunk size of 64 (default schedule). Writes Markdown and JSON next to --out.

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
CONFIRM = 4  # the head-to-head run times each of its variants this many times as long
CHUNKS = [16, 32, 64, 128, 256]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--table", help="default: autotune/tables/<device>.json")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--min-ms", type=float, default=150.0, help="time each variant at least this long")
    parser.add_argument("--driver", default=os.path.join(tune.ROOT, "build", "autotune", "hmlstm_tune"))
    parser.add_argument("--out", help="default: autotune/results/validation-<device>")
    args = parser.parse_args()
    table_path = os.path.abspath(args.table or os.path.join(tune.ROOT, "autotune", "tables", f"{args.device}.json"))
    out = args.out or os.path.join(tune.ROOT, "autotune", "results", f"validation-{args.device}")
    table = json.load(open(table_path))
    os.environ["HMLSTM_TUNING_TABLE"] = table_path  # the driver's dispatch reads this table

    schedules = tune.schedules(args.driver, args.device)
    variants = [f"{c}" if s == "default" else f"{c}/{s}" for c in CHUNKS for s in schedules]
    rows = []
    held_out = grids.HELD_OUT_CUDA if args.device == "cuda" else grids.HELD_OUT
    jobs = [(dtype, shape) for dtype in args.dtype for shape in held_out]
    begin = time.time()
    for n, (dtype, shape) in enumerate(jobs, 1):
        timed = {r["variant"]: r for r in tune.run_driver(args.driver, args.device, dtype, shape, args.min_ms,
                                                          variants + ["0"])}
        dispatch = timed.pop("0")
        ms = {key: r["ms"] for key, r in timed.items()}
        best, choice = min(ms, key=ms.get), dispatch["runs"]
        # The table's choice is judged by its variant's time. The best of 15 noisy medians is biased low (the
        # fastest-looking one is often only luckier): where the choice is another variant, the two (with chunk 64
        # and the dispatch) are timed again head to head, and that run decides.
        row = {"dtype": dtype, "shape": shape, "choice": choice, "choice_ms": ms[choice], "dispatch_ms": dispatch["ms"],
               "best": best, "best_ms": ms[best], "fixed64_ms": ms["64"], "timings_ms": ms}
        if choice != best:
            head_to_head = list(dict.fromkeys([best, choice, "64"])) + ["0"]
            again = {r["variant"]: r["ms"] for r in tune.run_driver(args.driver, args.device, dtype, shape,
                                                                    CONFIRM * args.min_ms, head_to_head)}
            row.update(choice_ms=again[choice], best_ms=again[best], fixed64_ms=again["64"], dispatch_ms=again["0"],
                       confirmed=True)
        rows.append(row)
        r = rows[-1]
        print(f"[{n}/{len(jobs)}] {dtype} {shape}: table picks {r['choice']} ({r['choice_ms']:.3f} ms), best "
              f"{r['best']} ({r['best_ms']:.3f} ms); {time.time() - begin:.0f} s", flush=True)

    info = tune.machine(args.device)
    where = info.get("gpu") or f"{info.get('cpu', '?')} ({os.cpu_count()} cores)"
    within = sum(r["choice_ms"] <= TOLERANCE * r["best_ms"] for r in rows)
    speedup = math.exp(sum(math.log(r["fixed64_ms"] / r["choice_ms"]) for r in rows) / len(rows))
    overhead = max(abs(r["dispatch_ms"] / r["choice_ms"] - 1) for r in rows)
    lines = [f"# Held-out validation of {os.path.relpath(table_path, tune.ROOT)} ({args.device})", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {where}, {table['library']}; command: `python3 "
             f"autotune/validate.py --device {args.device}`. Every row times all {len(variants)} compiled variants "
             f"(chunk size / schedule; a bare number is the default schedule) and the library's dispatch (chunk_size "
             f"0, which runs the table's variant) interleaved in the same run, at least {args.min_ms:.0f} ms each, "
             f"medians. The table's choice is judged by its variant's time; where it is not the fastest variant, the "
             f"two and chunk 64 are timed again head to head ({CONFIRM}x as long; marked *), and that run decides, "
             f"since the fastest of 15 medians is biased low. Shapes are (B*NH, S, DHQK, DHV), none of them in the "
             f"tuning grid.", "",
             f"Table's choice within 5% of the best variant: {within} of {len(rows)} shapes. Geometric-mean speedup "
             f"of the table's choice over a fixed chunk size of 64: {speedup:.2f}x. The dispatch call itself and "
             f"the explicit call of its variant differ by at most {100 * overhead:.1f}% (timing spread; the lookup "
             f"takes microseconds).", "",
             "| dtype | shape | table's variant | its ms | best variant | best ms | choice / best | chunk 64 ms | "
             "speedup over 64 | dispatch ms |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["choice_ms"] / r["best_ms"]
        mark = " *" if r.get("confirmed") else ""
        lines.append(f"| {r['dtype']} | {tuple(r['shape'])} | {r['choice']} | {r['choice_ms']:.3f}{mark} | "
                     f"{r['best']} | {r['best_ms']:.3f}{mark} | {ratio:.3f}{'' if ratio <= TOLERANCE else ' (over)'} | "
                     f"{r['fixed64_ms']:.3f} | {r['fixed64_ms'] / r['choice_ms']:.2f}x | {r['dispatch_ms']:.3f} |")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".json", "w") as f:
        json.dump({"table": table_path, "within_5_percent": within, "shapes": len(rows),
                   "geomean_speedup_over_64": speedup, "rows": rows}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
