"""Sums Nsight Compute's per-launch kernel times by kernel name and prints the largest, for finding where a
profiled call spends its time:

    ncu --metrics gpu__time_duration.sum --csv --print-units base build/bench/bench_gpu --profile 64 bw > p.csv
    python3 bench/gpu/ncu_by_kernel.py p.csv
"""
import collections
import csv
import sys


def main(path, top=40):
    header = None
    total, launches = collections.defaultdict(float), collections.Counter()
    for row in csv.reader(open(path)):
        if header is None:
            header = row if "Kernel Name" in row else None
            continue
        try:
            name = row[header.index("Kernel Name")].split("(")[0][:70]
            ns = float(row[header.index("Metric Value")].replace(",", ""))
        except (ValueError, IndexError):
            continue
        total[name] += ns
        launches[name] += 1
    all_ns = sum(total.values())
    print(f"total {all_ns / 1e6:.2f} ms over {sum(launches.values())} launches")
    for name, ns in sorted(total.items(), key=lambda x: -x[1])[:top]:
        print(f"{ns / 1e6:8.3f} ms {100 * ns / all_ns:5.1f}% x{launches[name]:3d} {name}")


if __name__ == "__main__":
    main(sys.argv[1])
