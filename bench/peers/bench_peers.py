"""Times the reference system's own CPU kernels (PyPI mlstm-kernels, torch native) at the shapes of bench_cpu.

Run through run_peers.sh, which installs them into a separate virtualenv. Writes JSON rows keyed like bench_cpu's.
"""
import argparse
import json
import statistics
import time

import torch
from mlstm_kernels.torch.chunkwise import mlstm_chunkwise__native_autograd
from mlstm_kernels.torch.parallel import mlstm_parallel__native_autograd
from mlstm_kernels.torch.recurrent import mlstm_recurrent_sequence__native_fw, mlstm_recurrent_step__native


def median_ms(run, min_reps=3, min_seconds=1.0):
    run()
    run()  # warm-up
    times, begin = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - begin < min_seconds:
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
        if len(times) >= 50:
            break
    return statistics.median(times)


def inputs(B, NH, S, DHQK, DHV):
    g = torch.Generator().manual_seed(7)
    q = torch.randn(B, NH, S, DHQK, generator=g)
    k = torch.randn(B, NH, S, DHQK, generator=g)
    v = torch.randn(B, NH, S, DHV, generator=g)
    i = torch.randn(B, NH, S, generator=g)
    f = torch.randn(B, NH, S, generator=g) + 3.0
    return q, k, v, i, f


def shape_text(B, NH, S, DHQK, DHV):
    return f"B={B} NH={NH} S={S} DHQK={DHQK} DHV={DHV}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []

    with torch.no_grad():
        shape = (1, 4, 4096, 128, 256)
        q, k, v, i, f = inputs(*shape)
        for chunk in (16, 32, 64, 128, 256):
            ms = median_ms(lambda: mlstm_chunkwise__native_autograd(q, k, v, i, f, chunk_size=chunk))
            rows.append({"kernel": f"chunkwise fw, chunk {chunk}", "shape": shape_text(*shape), "ms": ms,
                         "peer": "mlstm_kernels torch chunkwise native_autograd"})
            print(rows[-1], flush=True)

        shape = (1, 4, 1024, 128, 256)
        q, k, v, i, f = inputs(*shape)
        ms = median_ms(lambda: mlstm_parallel__native_autograd(q, k, v, i, f))
        rows.append({"kernel": "parallel fw", "shape": shape_text(*shape), "ms": ms,
                     "peer": "mlstm_kernels torch parallel native_autograd"})
        print(rows[-1], flush=True)

        for B in (1, 16):
            NH, DHQK, DHV = 8, 256, 512
            g = torch.Generator().manual_seed(3)
            c = torch.randn(B, NH, DHQK, DHV, generator=g)
            n = torch.randn(B, NH, DHQK, generator=g)
            m = torch.zeros(B, NH, 1)
            qs, ks = torch.randn(B, NH, DHQK, generator=g), torch.randn(B, NH, DHQK, generator=g)
            vs = torch.randn(B, NH, DHV, generator=g)
            i1, f1 = torch.randn(B, NH, 1, generator=g), torch.randn(B, NH, 1, generator=g) + 3.0
            ms = median_ms(lambda: mlstm_recurrent_step__native(q=qs, k=ks, v=vs, i=i1, f=f1, c=c, n=n, m=m))
            rows.append({"kernel": "recurrent step (in place)", "shape": shape_text(B, NH, 1, DHQK, DHV), "ms": ms,
                         "peer": "mlstm_kernels torch recurrent step native"})
            print(rows[-1], flush=True)

        shape = (1, 4, 1024, 128, 256)
        q, k, v, i, f = inputs(*shape)
        ms = median_ms(lambda: mlstm_recurrent_sequence__native_fw(q, k, v, i, f), min_reps=3, min_seconds=0.5)
        rows.append({"kernel": "recurrent sequence fw", "shape": shape_text(*shape), "ms": ms,
                     "peer": "mlstm_kernels torch recurrent sequence native"})
        print(rows[-1], flush=True)

    # Forward + backward: torch autograd through the native chunkwise kernel, with dh = v as in bench_cpu.
    shape = (1, 4, 4096, 128, 256)
    q, k, v, i, f = inputs(*shape)
    leaves = [x.clone().requires_grad_(True) for x in (q, k, v, i, f)]
    dh = v.clone()
    for chunk in (32, 64, 128):
        def fwbw():
            for x in leaves:
                x.grad = None
            h = mlstm_chunkwise__native_autograd(*leaves, chunk_size=chunk)
            h.backward(dh)
        ms = median_ms(fwbw)
        rows.append({"kernel": f"chunkwise fwbw, chunk {chunk}", "shape": shape_text(*shape), "ms": ms,
                     "peer": "mlstm_kernels torch chunkwise native_autograd + autograd backward"})
        print(rows[-1], flush=True)

    with open(args.json, "w") as out:
        json.dump({"torch": torch.__version__, "threads": args.threads, "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()
