// CPU benchmarks of every forward form at the shapes, against this machine's measured ceilings.
// Prints a table and writes JSON (argv[1], default bench_cpu.json). Median of repeated runs after warm-up.
#include <hmlstm/hmlstm.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aligned.h"
#include "ceilings.h"
#include "interleaved.h"
#include "report.h"

namespace {

double median_ms(const std::function<void()> &run, int min_reps = 5, double min_seconds = 1.0) {
    run();
    run();  // warm-up: page faults, thread pool start, caches
    std::vector<double> ms;
    auto begin = std::chrono::steady_clock::now();
    while (int(ms.size()) < min_reps ||
           std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() < min_seconds) {
        auto start = std::chrono::steady_clock::now();
        run();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        if (ms.size() >= 200) break;
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

bench::Floats random_vector(size_t n, float mean, float sd, std::mt19937 &rng) {
    std::normal_distribution<float> d(mean, sd);
    bench::Floats x(n);
    for (float &e : x) e = d(rng);
    return x;
}

// bfloat16 bits of x (truncated: benchmark data only).
bench::Halves to_bf16(const bench::Floats &x) {
    bench::Halves out(x.size());
    for (size_t e = 0; e < x.size(); e++) {
        uint32_t bits;
        std::memcpy(&bits, &x[e], 4);
        out[e] = uint16_t(bits >> 16);
    }
    return out;
}

struct Data {
    hmlstm::Shape shape;
    bench::Floats q, k, v, i, f, h, c, n, m;
    bench::Halves q16, k16, v16;
    Data(hmlstm::Shape s, std::mt19937 &rng) : shape(s) {
        const size_t bh = size_t(s.B * s.NH);
        q = random_vector(bh * s.S * s.DHQK, 0, 1, rng);
        k = random_vector(bh * s.S * s.DHQK, 0, 1, rng);
        v = random_vector(bh * s.S * s.DHV, 0, 1, rng);
        i = random_vector(bh * s.S, 0, 1, rng);
        f = random_vector(bh * s.S, 3, 1, rng);
        h.assign(bh * s.S * s.DHV, 0);
        c = random_vector(bh * s.DHQK * s.DHV, 0, 1, rng);
        n = random_vector(bh * s.DHQK, 0, 1, rng);
        m.assign(bh, 0);
        q16 = to_bf16(q);
        k16 = to_bf16(k);
        v16 = to_bf16(v);
    }
    hmlstm::QKV qkv(hmlstm::DType dtype = hmlstm::DType::float32) const {
        if (dtype == hmlstm::DType::bfloat16) return {q16.data(), k16.data(), v16.data(), dtype};
        return {q.data(), k.data(), v.data(), dtype};
    }
    hmlstm::Gates gates() const { return {i.data(), f.data()}; }
};

std::string shape_text(const hmlstm::Shape &s) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "B=%lld NH=%lld S=%lld DHQK=%lld DHV=%lld", (long long)s.B, (long long)s.NH,
                  (long long)s.S, (long long)s.DHQK, (long long)s.DHV);
    return buf;
}

void check(const hmlstm::Error &e) {
    if (!e.ok()) {
        std::fprintf(stderr, "benchmark call failed: %s\n", e.message.c_str());
        std::exit(1);
    }
}

}  // namespace

// The variant a chunkwise call runs at an explicit chunk size: "chunk 64" or "chunk 64/vb4_rb4" (the table's
// schedule for the shape at that size).
std::string variant_name(const hmlstm::Shape &s, hmlstm::DType dtype, const hmlstm::ChunkwiseOptions &o) {
    hmlstm::ChunkwiseVariant v;
    check(hmlstm::chunkwise_variant(s, dtype, o, &v));
    return "chunk " + std::to_string(v.chunk_size) + (v.schedule == "default" ? "" : "/" + v.schedule);
}

int main(int argc, char **argv) {
    const char *json_path = argc > 1 ? argv[1] : "bench_cpu.json";
    // argv[2], optional: the sections to run, comma-separated (chunkwise, fwbw, parallel, step, sequence).
    const std::string sections = argc > 2 ? std::string(",") + argv[2] + "," : "";
    auto want = [&](const char *section) {
        return sections.empty() || sections.find(std::string(",") + section + ",") != std::string::npos;
    };
    const int threads = int(std::thread::hardware_concurrency());
    check(hmlstm::set_num_threads(threads));
    std::printf("measuring ceilings on %d threads...\n", threads);
    const Ceilings ceil = measure_ceilings(threads);
    std::printf("fp32 FMA peak %.1f GFLOP/s (%s), copy bandwidth %.1f GB/s (read + write)\n\n", ceil.fma_gflops,
                ceil.isa, ceil.copy_gbytes);

    std::mt19937 rng(7);
    std::vector<bench::Row> rows;
    auto flop_row = [&](const std::string &name, const hmlstm::Shape &s, double ms, double flop) {
        bench::Row r{name, shape_text(s), ms, flop / ms / 1e6, 0, 0, "fp32 FMA peak"};
        r.fraction = r.flop_rate / ceil.fma_gflops;
        rows.push_back(r);
    };

    // Chunkwise: dense-equivalent FLOPs of L = 64 chunks, 2 (L^2 DHQK + L^2 DHV + 2 L DHQK DHV) each, whatever
    // chunk size runs, so that every row divides the same work by its time.
    if (want("chunkwise")) {
        Data d({1, 4, 4096, 128, 256}, rng);
        const hmlstm::Shape &s = d.shape;
        const double L = 64;
        const double flop = s.B * s.NH * (s.S / L) * 2 * (L * L * s.DHQK + L * L * s.DHV + 2 * L * s.DHQK * s.DHV);
        for (int64_t chunk : {16, 32, 64, 128, 256}) {
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = chunk;
            o.check_finite = false;
            double ms = median_ms([&] { check(hmlstm::mlstm_chunkwise_fw(s, d.qkv(), d.gates(), d.h.data(), {}, {}, o)); });
            flop_row("chunkwise fw, " + variant_name(s, hmlstm::DType::float32, o), s, ms, flop);
        }
        // bfloat16 q, k, v and h (h written as bfloat16 into the float buffer's first half).
        for (int64_t chunk : {64, 128}) {
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = chunk;
            o.check_finite = false;
            double ms = median_ms([&] {
                check(hmlstm::mlstm_chunkwise_fw(s, d.qkv(hmlstm::DType::bfloat16), d.gates(), d.h.data(), {}, {}, o));
            });
            flop_row("chunkwise fw bf16, " + variant_name(s, hmlstm::DType::bfloat16, o), s, ms, flop);
        }
        // Forget gates that close (pre-activations N(-3, 1) instead of N(3, 1)): the states decay through float32's
        // subnormal range, which the kernels flush to zero (runtime/src/subnormals.h). The same work as above.
        Data closing = d;
        for (float &f : closing.f) f -= 6.0f;
        hmlstm::ChunkwiseOptions o;
        o.chunk_size = 64;
        o.check_finite = false;
        double ms = median_ms([&] {
            check(hmlstm::mlstm_chunkwise_fw(s, closing.qkv(), closing.gates(), closing.h.data(), {}, {}, o));
        });
        flop_row("chunkwise fw, forget gates closing, " + variant_name(s, hmlstm::DType::float32, o), s, ms, flop);
        // The default options, which scan q, k and v for NaN and infinity before the kernel (check_finite); the
        // rows above leave that scan out, as the peers have none.
        hmlstm::ChunkwiseOptions defaults;
        defaults.chunk_size = 64;
        ms = median_ms([&] { check(hmlstm::mlstm_chunkwise_fw(s, d.qkv(), d.gates(), d.h.data(), {}, {}, defaults)); });
        flop_row("chunkwise fw, check_finite on, " + variant_name(s, hmlstm::DType::float32, defaults), s, ms, flop);
    }
    // Chunkwise forward + backward (training), same shape. Backward FLOPs, dense-equivalent at L = 64 like the
    // forward's: per chunk the scores again (L^2 DHQK), dW (L^2 DHV), the intra parts of dq, dk (2 L^2 DHQK) and dv
    // (L^2 DHV), and four state products (dq's, dk's, dv's and the state gradient's: 4 L DHQK DHV), times 2; the
    // states' recomputation is not counted. The forward's rows above give the ratio the issue asks about.
    if (want("fwbw")) {
        Data d({1, 4, 4096, 128, 256}, rng);
        const hmlstm::Shape &s = d.shape;
        const double L = 64, chunks = s.B * s.NH * (s.S / L);
        const double fw = chunks * 2 * (L * L * s.DHQK + L * L * s.DHV + 2 * L * s.DHQK * s.DHV);
        const double bw = chunks * 2 * (L * L * (3.0 * s.DHQK + 2.0 * s.DHV) + 4 * L * s.DHQK * s.DHV);
        bench::Floats dh = d.v, dq(d.q.size()), dk(d.k.size()), dv(d.v.size()), di(d.i.size()), df(d.f.size());
        const hmlstm::Gradients grads{dq.data(), dk.data(), dv.data(), di.data(), df.data()};
        // Options of one chunk size and backward mode, and room for what the forward saves for it: nothing (the
        // backward recomputes the states and the per-token normalizers and stabilizers), those per-token values, or
        // both.
        enum class Saving { nothing, token_stats, everything };
        struct Mode {
            hmlstm::ChunkwiseOptions o;
            bench::Floats c, n, m, den, m_token;
            hmlstm::ChunkStates saved;
        };
        auto mode = [&](int64_t chunk, Saving saving) {
            Mode md;
            md.o.chunk_size = chunk;
            md.o.check_finite = false;
            md.o.recompute_states_in_bw = saving != Saving::everything;
            if (saving == Saving::nothing) return md;
            md.den.resize(size_t(s.B * s.NH * s.S));
            md.m_token.resize(size_t(s.B * s.NH * s.S));
            md.saved.normalizer = md.den.data();
            md.saved.stabilizer = md.m_token.data();
            if (saving == Saving::token_stats) return md;
            const int64_t states = hmlstm::chunkwise_saved_states(s.S, chunk);
            md.c.resize(size_t(s.B * s.NH * states * s.DHQK * s.DHV));
            md.n.resize(size_t(s.B * s.NH * states * s.DHQK));
            md.m.resize(size_t(s.B * s.NH * states));
            md.saved.c = md.c.data();
            md.saved.n = md.n.data();
            md.saved.m = md.m.data();
            return md;
        };
        auto forward = [&](const Mode &md) {
            check(hmlstm::mlstm_chunkwise_fw(s, d.qkv(), d.gates(), d.h.data(), {}, {}, md.o, md.saved));
        };
        auto backward = [&](const Mode &md) {
            check(hmlstm::mlstm_chunkwise_bw(s, d.qkv(), d.gates(), dh.data(), grads, {}, nullptr, md.o, md.saved));
        };
        const std::pair<Saving, const char *> savings[] = {
            {Saving::nothing, ""}, {Saving::token_stats, " token stats"}, {Saving::everything, " saved states"}};
        for (int64_t chunk : {32, 64, 128}) {
            for (const auto &[saving, name] : savings) {
                const Mode md = mode(chunk, saving);
                double ms = median_ms([&] {
                    forward(md);
                    backward(md);
                });
                const std::string variant = variant_name(s, hmlstm::DType::float32, md.o);
                flop_row(std::string("chunkwise fwbw") + name + ", " + variant, s, ms, fw + bw);
                if (saving != Saving::nothing) continue;
                ms = median_ms([&] { backward(md); });
                flop_row("chunkwise bw, chunk " + std::to_string(chunk), s, ms, bw);
            }
        }
        // The backward issue's ratios from one interleaved timing (bench/interleaved.h) of the forward and the
        // forward + backward modes at chunk 64: rows timed one after the other can land in different speed phases
        // of a noisy machine (docs/benchmarks-cpu.md, session 12), which interleaving cancels.
        // Each call timed on its own, interleaved with the others: the forward saving nothing, the per-token values,
        // or everything, and the backward of each mode (reading what the forward calls before it saved).
        std::vector<Mode> modes;
        for (const auto &[saving, name] : savings) modes.push_back(mode(64, saving));
        std::vector<std::function<void()>> runs;
        for (const Mode &md : modes) runs.emplace_back([&] { forward(md); });
        for (const Mode &md : modes) runs.emplace_back([&] { backward(md); });
        const std::vector<double> ms = bench::interleaved_medians(runs, 4000.0);
        const std::string variant = variant_name(s, hmlstm::DType::float32, modes[0].o);
        const double fw_ms = ms[0];
        for (size_t i = 0; i < modes.size(); i++) {
            const std::string name = savings[i].second;
            flop_row("chunkwise fw saving" + (name.empty() ? std::string(" nothing") : name) + " interleaved, " +
                         variant, s, ms[i], fw);
            flop_row("chunkwise bw" + name + " interleaved, " + variant, s, ms[modes.size() + i], bw);
        }
        std::printf("chunkwise (fw + bw) / fw, interleaved, chunk 64: everything recomputed %.2fx, states recomputed "
                    "(token stats saved) %.2fx, saved %.2fx\n",
                    (ms[0] + ms[3]) / fw_ms, (ms[1] + ms[4]) / fw_ms, (ms[2] + ms[5]) / fw_ms);
    }
    // Parallel: the dense S x S products, 2 S^2 (DHQK + DHV) FLOPs per (batch, head).
    if (want("parallel")) {
        Data d({1, 4, 1024, 128, 256}, rng);
        const hmlstm::Shape &s = d.shape;
        hmlstm::ParallelOptions o;
        o.check_finite = false;
        double ms = median_ms([&] { check(hmlstm::parallel_stabilized_simple(s, d.qkv(), d.gates(), d.h.data(), o)); });
        const double fw = s.B * s.NH * 2.0 * s.S * s.S * (s.DHQK + s.DHV);
        flop_row("parallel fw", s, ms, fw);
        // Its backward: the scores again, dW, and the products of dq, dk (with DHQK) and dv (with DHV).
        const double bw = s.B * s.NH * 2.0 * s.S * s.S * (3.0 * s.DHQK + 2.0 * s.DHV);
        bench::Floats dq(d.q.size()), dk(d.k.size()), dv(d.v.size()), di(d.i.size()), df(d.f.size());
        const hmlstm::Gradients grads{dq.data(), dk.data(), dv.data(), di.data(), df.data()};
        ms = median_ms([&] {
            check(hmlstm::parallel_stabilized_simple(s, d.qkv(), d.gates(), d.h.data(), o));
            check(hmlstm::parallel_stabilized_simple_bw(s, d.qkv(), d.gates(), d.v.data(), grads, o));
        });
        flop_row("parallel fwbw", s, ms, fw + bw);
        // The attention backend at the same shape (softmax, causal, rotary embeddings), counted as the parallel
        // form's two S x S x D products.
        hmlstm::AttentionOptions ao;
        ao.check_finite = false;
        ms = median_ms([&] { check(hmlstm::attention(s, d.qkv(), d.h.data(), ao)); });
        flop_row("attention fw (softmax)", s, ms, fw);
    }
    // Recurrent step: memory traffic, the state C (and n) read once and written once. Its ceiling is an in-place
    // update of a buffer of the state's size, which on a machine with a large last-level cache can be served from
    // it (both are listed; the fraction uses the larger).
    for (int64_t batch : {1, 16}) {
        if (!want("step")) break;
        Data d({batch, 8, 1, 256, 512}, rng);
        const hmlstm::Shape &s = d.shape;
        hmlstm::StepOptions o;
        o.check_finite = false;
        double ms = median_ms([&] {
            check(hmlstm::recurrent_step_fw(s, d.qkv(), d.gates(), d.h.data(), {d.c.data(), d.n.data(), d.m.data()},
                                            {d.c.data(), d.n.data(), d.m.data()}, o));
        });
        const double bytes = s.B * s.NH * (2.0 * 4 * s.DHQK * s.DHV + 2.0 * 4 * s.DHQK + 4.0 * (s.DHQK * 2 + 2 * s.DHV));
        const double state_bytes = 4.0 * s.B * s.NH * s.DHQK * s.DHV;
        const double at_size = inplace_gbytes(threads, size_t(state_bytes));
        char ceiling[96];
        std::snprintf(ceiling, sizeof ceiling, "max(copy, in-place update of %.0f MiB = %.1f GB/s)",
                      state_bytes / 1048576.0, at_size);
        bench::Row r{"recurrent step (in place)", shape_text(s), ms, 0, bytes / ms / 1e6, 0, ceiling};
        r.fraction = r.byte_rate / std::max(ceil.copy_gbytes, at_size);
        rows.push_back(r);
    }
    // Recurrent sequence: per token the state update and the readout, 4 DHQK DHV FLOPs (two multiply-adds each).
    if (want("sequence")) {
        Data d({1, 4, 1024, 128, 256}, rng);
        const hmlstm::Shape &s = d.shape;
        hmlstm::RecurrentOptions o;
        o.check_finite = false;
        double ms = median_ms([&] { check(hmlstm::recurrent_sequence_fw(s, d.qkv(), d.gates(), d.h.data(), {}, {}, o)); });
        flop_row("recurrent sequence fw", s, ms, s.B * s.NH * s.S * 4.0 * s.DHQK * s.DHV);
    }

    const bench::Units units{"GFLOP/s", "GB/s", "gflops", "gbytes_per_s"};
    bench::print_table(rows, units);
    char header[256];
    std::snprintf(header, sizeof header,
                  "  \"threads\": %d,\n  \"ceilings\": {\"fp32_fma_gflops\": %.2f, \"isa\": \"%s\", "
                  "\"copy_gbytes_per_s\": %.2f},\n",
                  threads, ceil.fma_gflops, ceil.isa, ceil.copy_gbytes);
    if (!bench::write_json(json_path, header, rows, units)) return 1;
    return 0;
}
