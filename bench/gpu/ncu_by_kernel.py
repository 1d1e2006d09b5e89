"""Sums Nsight Compute's per-launch metrics by kernel name and prints the largest by time, for finding where a
profiled call spends its time and how close each kernel runs to the memory ceiling:

    ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes.sum --csv --print-units base \
        build/bench/bench_gpu --profile 64 bw > p.csv
    python3 bench/gpu/ncu_by_kernel.py p.csv
"""
import collections
import csv
import sys


def main(path, top=40):
    header = None
    metrics = collections.defaultdict(lambda: collections.defaultdict(float))  # metric -> kernel -> sum
    launches = collections.Counter()
    for row in csv.reader(open(path)):
        if header is None:
            header = row if "Kernel Name" in row else None
            continue
        try:
            name = row[header.index("Kernel Name")].split("(")[0][:70]
            metric = row[header.index("Metric Name")] if "Metric Name" in header else "gpu__time_duration.sum"
            value = float(row[header.index("Metric Value")].replace(",", ""))
        except (ValueError, IndexError):
            continue
        metrics[metric][name] += value
        if metric == "gpu__time_duration.sum":
            launches[name] += 1
    time_ns, dram = metrics["gpu__time_duration.sum"], metrics.get("dram__bytes.sum", {})
    all_ns = sum(time_ns.values())
    print(f"total {all_ns / 1e6:.2f} ms over {sum(launches.values())} launches"
          + (f", {sum(dram.values()) / 1e9:.2f} GB of DRAM traffic" if dram else ""))
    for name, ns in sorted(time_ns.items(), key=lambda x: -x[1])[:top]:
        traffic = f" {dram[name] / 1e9:7.3f} GB {dram[name] / ns / 1e3:5.2f} TB/s" if name in dram else ""
        print(f"{ns / 1e6:8.3f} ms {100 * ns / all_ns:5.1f}% x{launches[name]:3d}{traffic} {name}")


if __name__ == "__main__":
    main(sys.argv[1])
