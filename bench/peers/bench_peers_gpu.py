"""Times the reference system's own GPU kernels (PyPI mlstm-kernels: Triton TFLA chunkwise, Triton step, torch
native) on the card at hand, at the shapes of bench_gpu. Writes JSON rows keyed like bench_gpu's.

Run through bench/gpu/run_on_device.sh, which also runs bench_gpu in the same session on the same card.
"""
import argparse
import json
import statistics

import torch
import triton
from mlstm_kernels.torch.chunkwise import mlstm_chunkwise__native_autograd
from mlstm_kernels.torch.chunkwise.triton_limit_chunk import mlstm_chunkwise__limit_chunk
from mlstm_kernels.torch.chunkwise.triton_xl_chunk import mlstm_chunkwise__xl_chunk
from mlstm_kernels.torch.recurrent.triton_step import mlstm_recurrent_step__triton_fw


def median_ms(run, reps=20):
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def shape_text(B, NH, S, DHQK, DHV):
    return f"B={B} NH={NH} S={S} DHQK={DHQK} DHV={DHV}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    rows = []

    def row(kernel, shape, ms, peer):
        rows.append({"kernel": kernel, "shape": shape_text(*shape), "ms": ms, "peer": peer})
        print(rows[-1], flush=True)

    g = torch.Generator(device="cuda").manual_seed(7)
    with torch.no_grad():
        shape = (8, 16, 8192, 128, 256)
        B, NH, S, DHQK, DHV = shape
        for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            q = torch.randn(B, NH, S, DHQK, device="cuda", generator=g).to(dtype)
            k = torch.randn(B, NH, S, DHQK, device="cuda", generator=g).to(dtype)
            v = torch.randn(B, NH, S, DHV, device="cuda", generator=g).to(dtype)
            i = torch.randn(B, NH, S, device="cuda", generator=g)  # gates in float32, as in the figures
            f = torch.randn(B, NH, S, device="cuda", generator=g) + 3.0
            for chunk in (64, 128, 256):
                ms = median_ms(lambda: mlstm_chunkwise__xl_chunk(q, k, v, i, f, chunk_size=chunk,
                                                                 autocast_kernel_dtype=dtype))
                row(f"chunkwise fw {tag}, chunk {chunk}", shape, ms, "TFLA triton_xl_chunk")
            ms = median_ms(lambda: mlstm_chunkwise__limit_chunk(q, k, v, i, f, chunk_size=64,
                                                                autocast_kernel_dtype=dtype))
            row(f"chunkwise fw {tag}, chunk 64 (limit_chunk)", shape, ms, "triton_limit_chunk")
            # torch native needs one dtype throughout: gates cast to the inputs' dtype.
            ms = median_ms(lambda: mlstm_chunkwise__native_autograd(q, k, v, i.to(dtype), f.to(dtype), chunk_size=64),
                           reps=5)
            row(f"chunkwise fw {tag}, chunk 64 (torch native)", shape, ms, "torch native_autograd")
            del q, k, v, i, f

        for B in (1, 16, 64):
            NH, DHQK, DHV = 8, 256, 512
            c = torch.randn(B, NH, DHQK, DHV, device="cuda", generator=g)
            n = torch.randn(B, NH, DHQK, device="cuda", generator=g)
            m = torch.zeros(B, NH, 1, device="cuda")
            qs = torch.randn(B, NH, DHQK, device="cuda", generator=g)
            ks = torch.randn(B, NH, DHQK, device="cuda", generator=g)
            vs = torch.randn(B, NH, DHV, device="cuda", generator=g)
            i1 = torch.randn(B, NH, 1, device="cuda", generator=g)
            f1 = torch.randn(B, NH, 1, device="cuda", generator=g) + 3.0
            c2, n2, m2 = torch.empty_like(c), torch.empty_like(n), torch.empty_like(m)
            ms = median_ms(lambda: mlstm_recurrent_step__triton_fw(c, n, m, qs, ks, vs, i1, f1, c2, n2, m2), reps=100)
            row("recurrent step (in place)", (B, NH, 1, DHQK, DHV), ms, "Triton step (mlstm_recurrent_step__triton_fw)")

    # Forward + backward through autograd (TFLA's own backward kernels), dh random, at chunks 64 and 128 like ours.
    shape = (8, 16, 8192, 128, 256)
    B, NH, S, DHQK, DHV = shape
    for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
        leaves = [torch.randn(B, NH, S, d, device="cuda", generator=g).to(dtype).requires_grad_(True)
                  for d in (DHQK, DHQK, DHV)]
        gates = [torch.randn(B, NH, S, device="cuda", generator=g).requires_grad_(True) for _ in range(2)]
        dh = torch.randn(B, NH, S, DHV, device="cuda", generator=g).to(dtype)

        def fwbw(chunk):
            for x in leaves + gates:
                x.grad = None
            h = mlstm_chunkwise__xl_chunk(*leaves, *gates, chunk_size=chunk, autocast_kernel_dtype=dtype)
            h.backward(dh)
        for chunk in (64, 128):
            ms = median_ms(lambda: fwbw(chunk), reps=10)
            row(f"chunkwise fwbw {tag}, chunk {chunk}", shape, ms, "TFLA triton_xl_chunk fw + bw")
        del leaves, gates, dh

    with open(args.json, "w") as out:
        json.dump({"torch": torch.__version__, "triton": triton.__version__,
                   "device": torch.cuda.get_device_name(), "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()
