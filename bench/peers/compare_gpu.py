"""Joins bench_gpu's JSON and the GPU peers' JSON into one table of same-run ratios (stdout, Markdown).
Every peer row at a shape is listed against our best row of the same kernel family and dtype at that shape."""
import json
import sys


def family(kernel):
    # "chunkwise fw bf16, chunk 64 (limit_chunk)" -> "chunkwise fw bf16"
    return kernel.split(",")[0]


def main(ours_path, peers_path):
    ours = json.load(open(ours_path))
    peers = json.load(open(peers_path))
    c = ours["ceilings"]
    print(f"Same session on {ours['device']}: copy {c['copy_tbytes_per_s']:.2f} TB/s; cuBLAS fp32 "
          f"{c['sgemm_tflops']:.1f}, TF32 {c['tf32_tflops']:.1f}, bf16 {c['bf16_tflops']:.1f} TFLOP/s; peers on "
          f"torch {peers['torch']}, triton {peers['triton']}.\n")
    print("| kernel | shape | hmlstm ms | TFLOP/s or TB/s | of ceiling |")
    print("|---|---|---:|---:|---:|")
    for r in ours["rows"]:
        rate = f"{r['tflops']:.1f} TFLOP/s" if r["tflops"] else f"{r['tbytes_per_s']:.2f} TB/s"
        print(f"| {r['kernel']} | {r['shape']} | {r['ms']:.4f} | {rate} | {100 * r['fraction_of_ceiling']:.1f}% of "
              f"{r['ceiling']} |")
    print("\n| peer | kernel | shape | peer ms | our best ms (variant) | peer ms / ours |")
    print("|---|---|---|---:|---:|---:|")
    for p in peers["rows"]:
        same = [r for r in ours["rows"] if r["shape"] == p["shape"] and family(r["kernel"]) == family(p["kernel"])]
        if not same:
            continue
        best = min(same, key=lambda r: r["ms"])
        print(f"| {p['peer']} | {p['kernel']} | {p['shape']} | {p['ms']:.4f} | {best['ms']:.4f} ({best['kernel']}) | "
              f"{p['ms'] / best['ms']:.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
