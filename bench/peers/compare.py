"""Joins bench_cpu's JSON and the peers' JSON into one table of same-run speedups (stdout, Markdown)."""
import json
import re
import sys


def peer_key(kernel):
    # Our rows name the CPU schedule that ran ("chunkwise fw, chunk 64/vb4_rb4"); the peers' rows have no schedule.
    return re.sub(r"(chunk \d+)/\S+", r"\1", kernel)


def main(ours_path, peers_path):
    ours = json.load(open(ours_path))
    peers = json.load(open(peers_path))
    peer_ms = {(r["kernel"], r["shape"]): r for r in peers["rows"]}
    ceil = ours["ceilings"]
    print(f"Ceilings measured in the same run: fp32 FMA {ceil['fp32_fma_gflops']:.1f} GFLOP/s ({ceil['isa']}), "
          f"copy {ceil['copy_gbytes_per_s']:.1f} GB/s; {ours['threads']} threads for both; torch {peers['torch']}.\n")
    print("| kernel | shape | hmlstm ms | fraction of ceiling | peer | peer ms | speedup |")
    print("|---|---|---:|---:|---|---:|---:|")
    for r in ours["rows"]:
        p = peer_ms.get((peer_key(r["kernel"]), r["shape"]))
        peer_name, peer_ms_text, speedup = ("-", "-", "-") if p is None else (
            p["peer"], f"{p['ms']:.3f}", f"{p['ms'] / r['ms']:.1f}x")
        print(f"| {r['kernel']} | {r['shape']} | {r['ms']:.3f} | {100 * r['fraction_of_ceiling']:.1f}% of "
              f"{r['ceiling']} | {peer_name} | {peer_ms_text} | {speedup} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
