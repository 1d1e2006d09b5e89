// CUDA benchmarks of every forward form on the caller's device memory, against the card's ceilings measured in the
// same run (device-to-device copy bandwidth; cuBLAS fp32, TF32 and bf16 matrix products). Prints a table and
// writes JSON (argv[1], default bench_gpu.json). Each row is the median of event-timed calls after warm-up.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <hmlstm/hmlstm.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "report.h"

namespace {

void cuda_check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) {
        std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
        std::exit(1);
    }
}

void check(const hmlstm::Error &e) {
    if (!e.ok()) {
        std::fprintf(stderr, "benchmark call failed: %s\n", e.message.c_str());
        std::exit(1);
    }
}

cudaStream_t stream;

// Median milliseconds of `run` (which queues work on `stream`), timed with events, after two warm-up calls.
double median_ms(const std::function<void()> &run, int min_reps = 10, double min_ms = 300.0) {
    run();
    run();
    cuda_check(cudaStreamSynchronize(stream), "warm-up");
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    std::vector<double> ms;
    double total = 0;
    while ((int(ms.size()) < min_reps || total < min_ms) && ms.size() < 500) {
        cudaEventRecord(start, stream);
        run();
        cudaEventRecord(stop, stream);
        cuda_check(cudaEventSynchronize(stop), "timed call");
        float t = 0;
        cudaEventElapsedTime(&t, start, stop);
        ms.push_back(t);
        total += t;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// Device memory holding random data (never zeros: they can run faster than real data).
struct DeviceArray {
    void *p = nullptr;
    size_t bytes = 0;
    DeviceArray(size_t count, bool bf16, float mean, float sd, std::mt19937 &rng) : bytes(count * (bf16 ? 2 : 4)) {
        std::normal_distribution<float> d(mean, sd);
        std::vector<uint8_t> host(bytes);
        for (size_t e = 0; e < count; e++) {
            float x = d(rng);
            if (bf16) {
                uint32_t bits;
                std::memcpy(&bits, &x, 4);
                const uint16_t top = uint16_t(bits >> 16);
                std::memcpy(&host[2 * e], &top, 2);
            } else {
                std::memcpy(&host[4 * e], &x, 4);
            }
        }
        cuda_check(cudaMalloc(&p, bytes), "cudaMalloc");
        cuda_check(cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice), "upload");
    }
    DeviceArray(const DeviceArray &) = delete;
    ~DeviceArray() { cudaFree(p); }
    template <typename T>
    T *as() const { return static_cast<T *>(p); }
};

struct Problem {
    hmlstm::Shape s;
    hmlstm::DType dtype;
    DeviceArray q, k, v, i, f, h;
    Problem(hmlstm::Shape shape, hmlstm::DType type, std::mt19937 &rng)
        : s(shape), dtype(type), q(count(s.DHQK), bf16(), 0, 1, rng), k(count(s.DHQK), bf16(), 0, 1, rng),
          v(count(s.DHV), bf16(), 0, 1, rng), i(count(1), false, 0, 1, rng), f(count(1), false, 3, 1, rng),
          h(count(s.DHV), bf16(), 0, 1, rng) {}
    size_t count(int64_t width) const { return size_t(s.B * s.NH * s.S * width); }
    bool bf16() const { return dtype == hmlstm::DType::bfloat16; }
    hmlstm::QKV qkv() const { return {q.p, k.p, v.p, dtype}; }
    hmlstm::Gates gates() const { return {i.as<float>(), f.as<float>()}; }
};

hmlstm::DeviceOptions on_stream() { return {hmlstm::Device::cuda, stream, nullptr}; }

std::string shape_text(const hmlstm::Shape &s) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "B=%lld NH=%lld S=%lld DHQK=%lld DHV=%lld", (long long)s.B, (long long)s.NH,
                  (long long)s.S, (long long)s.DHQK, (long long)s.DHV);
    return buf;
}

struct Ceilings {
    double copy_tbytes = 0;  // device-to-device copy, bytes read + written
    double sgemm_tflops = 0, tf32_tflops = 0, bf16_tflops = 0;
};

// cuBLAS products of 8192^3 on random data: fp32 (SIMT), TF32 and bf16 tensor cores.
Ceilings measure_ceilings(std::mt19937 &rng) {
    Ceilings c;
    const size_t copy_bytes = size_t(2) << 30;
    void *a = nullptr, *b = nullptr;
    cuda_check(cudaMalloc(&a, copy_bytes), "cudaMalloc");
    cuda_check(cudaMalloc(&b, copy_bytes), "cudaMalloc");
    cudaMemsetAsync(a, 1, copy_bytes, stream);
    const double copy_ms = median_ms([&] { cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice, stream); });
    c.copy_tbytes = 2.0 * copy_bytes / copy_ms / 1e9;
    cudaFree(a);
    cudaFree(b);

    const int n = 8192;
    cublasHandle_t handle;
    cublasCreate(&handle);
    cublasSetStream(handle, stream);
    DeviceArray x(size_t(n) * n, false, 0, 1, rng), y(size_t(n) * n, false, 0, 1, rng), z(size_t(n) * n, false, 0, 1, rng);
    DeviceArray x16(size_t(n) * n, true, 0, 1, rng), y16(size_t(n) * n, true, 0, 1, rng);
    const float one = 1, zero = 0;
    const double flop = 2.0 * n * n * double(n);
    auto gemm = [&](const void *A, const void *B, cudaDataType ab, cublasComputeType_t compute) {
        return median_ms([&] {
            cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, ab, n, B, ab, n, &zero, z.p, CUDA_R_32F, n,
                         compute, CUBLAS_GEMM_DEFAULT);
        }, 5, 200.0);
    };
    c.sgemm_tflops = flop / gemm(x.p, y.p, CUDA_R_32F, CUBLAS_COMPUTE_32F) / 1e9;
    c.tf32_tflops = flop / gemm(x.p, y.p, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32) / 1e9;
    c.bf16_tflops = flop / gemm(x16.p, y16.p, CUDA_R_16BF, CUBLAS_COMPUTE_32F) / 1e9;
    cublasDestroy(handle);
    return c;
}

}  // namespace

// `bench_gpu --profile <chunk> [simt|bw|bf16|bw-bf16]`: one chunkwise call (after a warm-up) for a profiler to see
// each generated kernel once: fp32 at B=1 (a smaller shape), or with `bf16` the benchmark's bf16 shape (B=8); with
// `bw`, the forward (on tensor cores) and its backward; `bw-bf16` both at the benchmark's bf16 shape.
int profile_chunkwise(int64_t chunk, const std::string &mode) {
    std::mt19937 rng(7);
    const bool bf16 = mode == "bf16" || mode == "bw-bf16", backward = mode == "bw" || mode == "bw-bf16";
    Problem p({bf16 ? 8 : 1, 16, 8192, 128, 256}, bf16 ? hmlstm::DType::bfloat16 : hmlstm::DType::float32, rng);
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = chunk;
    o.device = on_stream();
    o.cuda_products = mode == "simt" ? hmlstm::CudaProducts::simt : hmlstm::CudaProducts::tensor_cores;
    DeviceArray dh(p.count(p.s.DHV), p.bf16(), 0, 1, rng), dq(p.count(p.s.DHQK), p.bf16(), 0, 1, rng),
        dk(p.count(p.s.DHQK), p.bf16(), 0, 1, rng), dv(p.count(p.s.DHV), p.bf16(), 0, 1, rng),
        di(p.count(1), false, 0, 1, rng), df(p.count(1), false, 0, 1, rng);
    const hmlstm::Gradients grads{dq.p, dk.p, dv.p, di.as<float>(), df.as<float>()};
    for (int rep = 0; rep < 2; rep++) {
        check(hmlstm::mlstm_chunkwise_fw(p.s, p.qkv(), p.gates(), p.h.p, {}, {}, o));
        if (backward) check(hmlstm::mlstm_chunkwise_bw(p.s, p.qkv(), p.gates(), dh.p, grads, {}, nullptr, o));
    }
    cuda_check(cudaStreamSynchronize(stream), "profile run");
    return 0;
}

// The decode step of the benchmark and the profile: NH=8, DHQK=256, DHV=512, fp32 state updated in place.
struct DecodeStep {
    hmlstm::Shape s;
    Problem p;
    DeviceArray c, n, m;
    DecodeStep(int64_t batch, std::mt19937 &rng)
        : s{batch, 8, 1, 256, 512}, p(s, hmlstm::DType::float32, rng), c(size_t(s.B * s.NH * s.DHQK * s.DHV), false, 0, 1, rng),
          n(size_t(s.B * s.NH * s.DHQK), false, 0, 1, rng), m(size_t(s.B * s.NH), false, 0, 1, rng) {}
    void run() {
        hmlstm::StepOptions o;
        o.device = on_stream();
        check(hmlstm::recurrent_step_fw(s, p.qkv(), p.gates(), p.h.p, {c.as<float>(), n.as<float>(), m.as<float>()},
                                        {c.as<float>(), n.as<float>(), m.as<float>()}, o));
    }
};

// `bench_gpu --profile-step <B>`: two decode steps, for a profiler.
int profile_step(int64_t batch) {
    std::mt19937 rng(7);
    DecodeStep step(batch, rng);
    for (int rep = 0; rep < 2; rep++) step.run();
    cuda_check(cudaStreamSynchronize(stream), "profile run");
    return 0;
}

int main(int argc, char **argv) {
    cuda_check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (argc > 2 && std::strcmp(argv[1], "--profile") == 0) {
        return profile_chunkwise(std::atoll(argv[2]), argc > 3 ? argv[3] : "");
    }
    if (argc > 2 && std::strcmp(argv[1], "--profile-step") == 0) return profile_step(std::atoll(argv[2]));
    const char *json_path = argc > 1 ? argv[1] : "bench_gpu.json";
    // `bench_gpu <json> [sections]`: a comma-separated subset of chunkwise,fwbw,step,small (default: all).
    const std::string sections = argc > 2 ? std::string(",") + argv[2] + "," : "";
    auto wants = [&](const char *section) {
        return sections.empty() || sections.find(std::string(",") + section + ",") != std::string::npos;
    };
    cudaDeviceProp prop;
    cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    std::mt19937 rng(7);
    std::printf("%s: measuring ceilings...\n", prop.name);
    const Ceilings ceil = measure_ceilings(rng);
    std::printf("copy %.2f TB/s (read + write); cuBLAS 8192^3: fp32 %.1f, TF32 %.1f, bf16 %.1f TFLOP/s\n\n",
                ceil.copy_tbytes, ceil.sgemm_tflops, ceil.tf32_tflops, ceil.bf16_tflops);

    std::vector<bench::Row> rows;
    auto flop_row = [&](const std::string &name, const hmlstm::Shape &s, double ms, double flop) {
        bench::Row r{name, shape_text(s), ms, flop / ms / 1e9, 0, 0, "cuBLAS fp32 SGEMM"};
        r.fraction = r.flop_rate / ceil.sgemm_tflops;
        rows.push_back(r);
        std::printf("%-34s %8.3f ms %8.2f TFLOP/s\n", name.c_str(), ms, r.flop_rate);
    };

    // Chunkwise at the shape: dense-equivalent FLOPs of L = 64 chunks, whatever chunk size runs.
    for (hmlstm::DType dtype : {hmlstm::DType::bfloat16, hmlstm::DType::float32}) {
        if (!wants("chunkwise")) break;
        Problem p({8, 16, 8192, 128, 256}, dtype, rng);
        const hmlstm::Shape &s = p.s;
        const double L = 64;
        const double flop = s.B * s.NH * (s.S / L) * 2 * (L * L * s.DHQK + L * L * s.DHV + 2 * L * s.DHQK * s.DHV);
        // Tensor-core products (the default) at every chunk size; Halide's SIMT products at their best one.
        for (int64_t chunk : {16, 32, 64, 128, 256, -32}) {
            const bool simt = chunk < 0;
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = simt ? -chunk : chunk;
            o.device = on_stream();
            o.cuda_products = simt ? hmlstm::CudaProducts::simt : hmlstm::CudaProducts::tensor_cores;
            const double ms = median_ms([&] { check(hmlstm::mlstm_chunkwise_fw(s, p.qkv(), p.gates(), p.h.p, {}, {}, o)); },
                                        3, 200.0);
            flop_row(std::string("chunkwise fw ") + (p.bf16() ? "bf16" : "fp32") + (simt ? " SIMT" : "") + ", chunk " +
                         std::to_string(o.chunk_size),
                     s, ms, flop);
        }
    }
    // Chunkwise forward + backward (training) at the same shape: the forward on tensor cores, the backward's
    // products SIMT; recomputing the chunk states, or saving them in the forward. Backward FLOPs dense-equivalent at
    // L = 64 as bench_cpu counts them.
    for (hmlstm::DType dtype : {hmlstm::DType::bfloat16, hmlstm::DType::float32}) {
        if (!wants("fwbw")) break;
        Problem p({8, 16, 8192, 128, 256}, dtype, rng);
        const hmlstm::Shape &s = p.s;
        const double L = 64, chunks = s.B * s.NH * (s.S / L);
        const double fw = chunks * 2 * (L * L * s.DHQK + L * L * s.DHV + 2 * L * s.DHQK * s.DHV);
        const double bw = chunks * 2 * (L * L * (3.0 * s.DHQK + 2.0 * s.DHV) + 4 * L * s.DHQK * s.DHV);
        DeviceArray dh(p.count(s.DHV), p.bf16(), 0, 1, rng), dq(p.count(s.DHQK), p.bf16(), 0, 1, rng),
            dk(p.count(s.DHQK), p.bf16(), 0, 1, rng), dv(p.count(s.DHV), p.bf16(), 0, 1, rng),
            di(p.count(1), false, 0, 1, rng), df(p.count(1), false, 0, 1, rng);
        const hmlstm::Gradients grads{dq.p, dk.p, dv.p, di.as<float>(), df.as<float>()};
        // Chunk 64 (the seeds' default) and 128 (the forward's best at this shape, and the fwbw's: 256 measured
        // 5% slower, docs/benchmarks-gpu.md): fewer chunks halve the passes over the states, at twice the
        // intra-chunk work.
        // Modes: 0 the backward recomputes the states and the per-token normalizers and stabilizers, 1 the forward
        // saves those per-token values (the states recomputed), 2 it saves the states too.
        for (int64_t chunk : {64, 128})
        for (int saving : {0, 1, 2}) {
            const bool recompute = saving < 2;
            const int64_t states = recompute ? 1 : hmlstm::chunkwise_saved_states(s.S, chunk);
            const int64_t tokens = saving == 0 ? 1 : s.S;
            DeviceArray sc(size_t(s.B * s.NH * states * s.DHQK * s.DHV), false, 0, 1, rng),
                sn(size_t(s.B * s.NH * states * s.DHQK), false, 0, 1, rng),
                sm(size_t(s.B * s.NH * states), false, 0, 1, rng),
                s_den(size_t(s.B * s.NH * tokens), false, 0, 1, rng),
                s_m(size_t(s.B * s.NH * tokens), false, 0, 1, rng);
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = chunk;
            o.device = on_stream();
            o.recompute_states_in_bw = recompute;
            hmlstm::ChunkStates saved{sc.as<float>(), sn.as<float>(), sm.as<float>(), s_den.as<float>(),
                                      s_m.as<float>()};
            if (saving < 2) saved.c = saved.n = saved.m = nullptr;
            if (saving == 0) saved = {};
            const double ms = median_ms([&] {
                check(hmlstm::mlstm_chunkwise_fw(s, p.qkv(), p.gates(), p.h.p, {}, {}, o, saved));
                check(hmlstm::mlstm_chunkwise_bw(s, p.qkv(), p.gates(), dh.p, grads, {}, nullptr, o, saved));
            }, 3, 200.0);
            const char *name = saving == 0 ? "" : saving == 1 ? " token stats" : " saved states";
            flop_row(std::string("chunkwise fwbw ") + (p.bf16() ? "bf16" : "fp32") + name + ", chunk " +
                         std::to_string(chunk),
                     s, ms, fw + bw);
        }
    }
    // Decode step, fp32 state, in place: bytes of the state read and written (C and n), as the peers count.
    for (int64_t batch : {1, 16, 64}) {
        if (!wants("step")) break;
        DecodeStep step(batch, rng);
        const hmlstm::Shape &s = step.s;
        const double ms = median_ms([&] { step.run(); });
        const double bytes = 2.0 * 4 * s.B * s.NH * (s.DHQK * s.DHV + s.DHQK);
        bench::Row r{"recurrent step (in place)", shape_text(s), ms, 0, bytes / ms / 1e9, 0, "device copy"};
        r.fraction = r.byte_rate / ceil.copy_tbytes;
        rows.push_back(r);
        std::printf("%-34s %8.4f ms %8.2f TB/s\n", ("step B=" + std::to_string(batch)).c_str(), ms, r.byte_rate);
    }
    // Parallel and sequence, forward and backward, at the CPU benchmark's shapes.
    if (wants("small")) {
        Problem p({1, 4, 1024, 128, 256}, hmlstm::DType::float32, rng);
        const hmlstm::Shape &s = p.s;
        hmlstm::ParallelOptions po;
        po.device = on_stream();
        double ms = median_ms([&] { check(hmlstm::parallel_stabilized_simple(s, p.qkv(), p.gates(), p.h.p, po)); });
        flop_row("parallel fw", s, ms, s.B * s.NH * 2.0 * s.S * s.S * (s.DHQK + s.DHV));
        hmlstm::AttentionOptions ao;  // softmax, causal, rotary embeddings
        ao.device = on_stream();
        ms = median_ms([&] { check(hmlstm::attention(s, p.qkv(), p.h.p, ao)); });
        flop_row("attention fw (softmax)", s, ms, s.B * s.NH * 2.0 * s.S * s.S * (s.DHQK + s.DHV));
        hmlstm::RecurrentOptions ro;
        ro.device = on_stream();
        ms = median_ms([&] { check(hmlstm::recurrent_sequence_fw(s, p.qkv(), p.gates(), p.h.p, {}, {}, ro)); }, 3, 200.0);
        flop_row("recurrent sequence fw", s, ms, s.B * s.NH * s.S * 4.0 * s.DHQK * s.DHV);

        DeviceArray dh(p.count(s.DHV), false, 0, 1, rng), dq(p.count(s.DHQK), false, 0, 1, rng),
            dk(p.count(s.DHQK), false, 0, 1, rng), dv(p.count(s.DHV), false, 0, 1, rng), di(p.count(1), false, 0, 1, rng),
            df(p.count(1), false, 0, 1, rng);
        const hmlstm::Gradients grads{dq.p, dk.p, dv.p, di.as<float>(), df.as<float>()};
        ms = median_ms([&] { check(hmlstm::parallel_stabilized_simple_bw(s, p.qkv(), p.gates(), dh.p, grads, po)); },
                       3, 200.0);
        // The backward's five S x S x D products, as the forward's two are counted.
        flop_row("parallel bw", s, ms, s.B * s.NH * 2.0 * s.S * s.S * (3.0 * s.DHQK + 2.0 * s.DHV));
        ms = median_ms([&] { check(hmlstm::recurrent_sequence_bw(s, p.qkv(), p.gates(), dh.p, grads, {}, nullptr, ro)); },
                       3, 200.0);
        // Per token and state element: the state recomputed and the reverse scan (4 each), dq, dk, dv and df's inner
        // product (2 each).
        flop_row("recurrent sequence bw", s, ms, s.B * s.NH * s.S * 16.0 * s.DHQK * s.DHV);
    }

    const bench::Units units{"TFLOP/s", "TB/s", "tflops", "tbytes_per_s"};
    bench::print_table(rows, units);
    char header[320];
    std::snprintf(header, sizeof header,
                  "  \"device\": \"%s\",\n  \"ceilings\": {\"copy_tbytes_per_s\": %.3f, \"sgemm_tflops\": %.2f, "
                  "\"tf32_tflops\": %.2f, \"bf16_tflops\": %.2f},\n",
                  prop.name, ceil.copy_tbytes, ceil.sgemm_tflops, ceil.tf32_tflops, ceil.bf16_tflops);
    if (!bench::write_json(json_path, header, rows, units)) return 1;
    return 0;
}
