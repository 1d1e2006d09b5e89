"""Plots of a tuning table: time against chunk size (default schedule) for every tuned shape, and the winning
variant over the grid (PNG), with a Markdown summary. Needs matplotlib (autotune/requirements.txt).

    python3 autotune/plots.py [--table autotune/tables/cpu.json] [--out autotune/results]
"""
import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tune  # noqa: E402


def label(e):
    return f"B*NH={e['heads']} S={e['S']} {e['DHQK']}/{e['DHV']}"


def winner_key(e):
    """"64", or "64/vb1_rb8" for a schedule other than the default."""
    schedule = e["winner"].get("schedule", "default")
    return str(e["winner"]["chunk_size"]) + ("" if schedule == "default" else "/" + schedule)


def time_against_chunk(table, dtype, path):
    entries = [e for e in table["entries"] if e["dtype"] == dtype]
    fig, ax = plt.subplots(figsize=(9, 6))
    for e in entries:
        chunks = sorted(int(c) for c in e["timings_ms"] if "/" not in c)
        best = min(e["timings_ms"].values())
        ax.plot(chunks, [e["timings_ms"][str(c)] / best for c in chunks], marker="o", label=label(e))
    ax.set_xscale("log", base=2)
    ax.set_xticks([16, 32, 64, 128, 256], labels=["16", "32", "64", "128", "256"])
    ax.set_yscale("log")
    ax.set_xlabel("chunk size")
    ax.set_ylabel("time / best time of the shape")
    ax.set_title(f"chunkwise {dtype}, {table['target']}: time against chunk size ({table['machine'].get('cpu', '')})")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def winners(table, dtype, path):
    entries = [e for e in table["entries"] if e["dtype"] == dtype]
    dims = sorted({(e["DHQK"], e["DHV"]) for e in entries})
    cols = min(4, len(dims))
    rows = math.ceil(len(dims) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(dims):]:
        ax.axis("off")
    for ax, (dqk, dv) in zip(axes.flat, dims):
        sub = [e for e in entries if (e["DHQK"], e["DHV"]) == (dqk, dv)]
        heads = sorted({e["heads"] for e in sub})
        seqs = sorted({e["S"] for e in sub})
        cell = {(e["heads"], e["S"]): e for e in sub}
        grid = [[cell[(h, s)]["winner"]["chunk_size"] if (h, s) in cell else 0 for s in seqs] for h in heads]
        keys = [[winner_key(cell[(h, s)]) if (h, s) in cell else "" for s in seqs] for h in heads]
        # One colour per chunk size on every panel: log2 of 16..256 is 4..8.
        # Shapes the grid leaves out (grids.capped) stay blank.
        ax.imshow([[math.log2(c) if c else float("nan") for c in row] for row in grid], cmap="viridis",
                  origin="lower", vmin=4, vmax=8)
        for i, row in enumerate(keys):
            for j, key in enumerate(row):
                ax.text(j, i, key.replace("/", "\n"), ha="center", va="center", color="white", fontsize=8)
        ax.set_xticks(range(len(seqs)), labels=[str(s) for s in seqs])
        ax.set_yticks(range(len(heads)), labels=[str(h) for h in heads])
        ax.set_xlabel("S")
        ax.set_ylabel("B*NH")
        ax.set_title(f"winner (colour: chunk), DHQK={dqk} DHV={dv}")
    fig.suptitle(f"chunkwise {dtype}, {table['target']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=os.path.join(tune.ROOT, "autotune", "tables", "cpu.json"))
    parser.add_argument("--out", default=os.path.join(tune.ROOT, "autotune", "results"))
    args = parser.parse_args()
    table = json.load(open(args.table))
    os.makedirs(args.out, exist_ok=True)
    target = table["target"]
    lines = [f"# Tuning table {os.path.relpath(os.path.abspath(args.table), tune.ROOT)}", "",
             f"{table['library']}, target {target}, created {table['created']} on {table['machine']}, grid "
             f"`{table.get('grid', '?')}`.", ""]
    for dtype in sorted({e["dtype"] for e in table["entries"]}):
        curve, win = f"{target}-{dtype}-time-vs-chunk.png", f"{target}-{dtype}-winners.png"
        time_against_chunk(table, dtype, os.path.join(args.out, curve))
        winners(table, dtype, os.path.join(args.out, win))
        lines += [f"## {dtype}", "", f"![time against chunk size]({curve})", "", f"![winners]({win})", "",
                  "| shape (B*NH, S, DHQK, DHV) | winner | winner ms | chunk 64 ms | 64 / winner |",
                  "|---|---:|---:|---:|---:|"]
        for e in table["entries"]:
            if e["dtype"] != dtype:
                continue
            w = winner_key(e)
            t = e["timings_ms"]
            lines.append(f"| ({e['heads']}, {e['S']}, {e['DHQK']}, {e['DHV']}) | {w} | {t[w]:.3f} | "
                         f"{t['64']:.3f} | {t['64'] / t[w]:.2f}x |")
        lines.append("")
    with open(os.path.join(args.out, f"summary-{target}.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}/summary-{target}.md and its plots")


if __name__ == "__main__":
    main()
