// The experiment of docs/autotune.md: the chunkwise forward with its chunk size as a run-time input of one pipeline
// specialized per size (Halide `specialize`), against the separately compiled variant of each size. Both are
// called directly, on the same data, timed interleaved (bench/interleaved.h), medians. float32.
//   bench_run_time_chunk [out.json] [B,NH,S,DHQK,DHV ...]      (default: the chunkwise benchmark shape)
#include <hmlstm/hmlstm.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "HalideBuffer.h"
#include "mlstm_chunkwise_fw_f32_chunk128.h"
#include "mlstm_chunkwise_fw_f32_chunk16.h"
#include "mlstm_chunkwise_fw_f32_chunk256.h"
#include "mlstm_chunkwise_fw_f32_chunk32.h"
#include "mlstm_chunkwise_fw_f32_chunk64.h"
#include "mlstm_chunkwise_fw_f32_run_time_chunk.h"
#include "interleaved.h"
#include "report.h"

namespace {

using Buffer = Halide::Runtime::Buffer<float>;
using Compiled = int (*)(const void *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *,
                         halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, float, float,
                         bool, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *,
                         halide_buffer_t *, halide_buffer_t *, halide_buffer_t *);

struct Problem {
    Buffer q, k, v, i, f, c0, n0, m0, h, c_last, n_last, m_last;
    Problem(int heads, int S, int dqk, int dv)
        : q(dqk, S, heads), k(dqk, S, heads), v(dv, S, heads), i(S, heads), f(S, heads), c0(dv, dqk, heads),
          n0(dqk, heads), m0(heads), h(dv, S, heads), c_last(dv, dqk, heads), n_last(dqk, heads), m_last(heads) {
        std::mt19937 rng(5);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (Buffer *b : {&q, &k, &v}) b->for_each_value([&](float &x) { x = normal(rng); });
        i.for_each_value([&](float &x) { x = normal(rng); });
        f.for_each_value([&](float &x) { x = 3.0f + normal(rng); });
        for (Buffer *b : {&c0, &n0, &m0}) b->fill(0.0f);
    }
};

// The chunk states and per-token normalizers and stabilizers of one call (the API keeps them in scratch the same
// way).
struct ChunkStates {
    Buffer c, n, m, den, m_token;
    ChunkStates(const Problem &p, int L)
        : c(p.c0.dim(0).extent(), p.c0.dim(1).extent(), (p.q.dim(1).extent() + L - 1) / L + 1, p.q.dim(2).extent()),
          n(p.n0.dim(0).extent(), (p.q.dim(1).extent() + L - 1) / L + 1, p.q.dim(2).extent()),
          m((p.q.dim(1).extent() + L - 1) / L + 1, p.q.dim(2).extent()),
          den(p.q.dim(1).extent(), p.q.dim(2).extent()), m_token(p.q.dim(1).extent(), p.q.dim(2).extent()) {}
};

}  // namespace

int main(int argc, char **argv) {
    const char *json = argc > 1 ? argv[1] : "bench_run_time_chunk.json";
    std::vector<hmlstm::Shape> shapes;
    for (int a = 2; a < argc; a++) {
        hmlstm::Shape s;
        char comma;
        std::stringstream(argv[a]) >> s.B >> comma >> s.NH >> comma >> s.S >> comma >> s.DHQK >> comma >> s.DHV;
        shapes.push_back(s);
    }
    if (shapes.empty()) shapes = {{1, 4, 4096, 128, 256}, {1, 8, 1024, 64, 128}};
    // One small call through the API installs the library's Halide hooks (error handler, scratch cache).
    {
        std::vector<float> x(16 * 16, 0.5f), g(16, 0.1f), out(16 * 16);
        hmlstm::mlstm_chunkwise_fw({1, 1, 16, 16, 16}, {x.data(), x.data(), x.data()}, {g.data(), g.data()},
                                   out.data());
    }
    const std::pair<int, Compiled> compiled[] = {
        {16, mlstm_chunkwise_fw_f32_chunk16},   {32, mlstm_chunkwise_fw_f32_chunk32},
        {64, mlstm_chunkwise_fw_f32_chunk64},   {128, mlstm_chunkwise_fw_f32_chunk128},
        {256, mlstm_chunkwise_fw_f32_chunk256}};
    std::vector<bench::Row> rows;
    std::printf("threads %d\n", hmlstm::num_threads());
    for (const hmlstm::Shape &s : shapes) {
        Problem p(int(s.B * s.NH), int(s.S), int(s.DHQK), int(s.DHV));
        std::ostringstream shape;
        shape << "B=" << s.B << " NH=" << s.NH << " S=" << s.S << " DHQK=" << s.DHQK << " DHV=" << s.DHV;
        for (const auto &[L, kernel] : compiled) {
            ChunkStates a(p, L), b(p, L);
            auto call = [&p](Compiled fn, ChunkStates &st) {
                return fn(nullptr, p.q, p.k, p.v, p.i, p.f, p.c0, p.n0, p.m0, 1e-6f, 1.0f, true, true, p.h, p.c_last,
                          p.n_last, p.m_last, st.c, st.n, st.m, st.den, st.m_token);
            };
            const int chunk = L;
            auto run_time = [&] {
                return mlstm_chunkwise_fw_f32_run_time_chunk(nullptr, p.q, p.k, p.v, p.i, p.f, p.c0, p.n0, p.m0,
                                                             1e-6f, 1.0f, true, true, chunk, p.h, p.c_last, p.n_last,
                                                             p.m_last, b.c, b.n, b.m, b.den, b.m_token);
            };
            auto checked = [](int result) {
                if (result != 0) std::fprintf(stderr, "bench_run_time_chunk: a kernel failed\n");
            };
            const std::vector<double> ms = bench::interleaved_medians(
                {[&] { checked(call(kernel, a)); }, [&] { checked(run_time()); }}, 300.0);
            // The same outputs, up to rounding (the specialized pipeline may order sums differently).
            checked(call(kernel, a));
            Buffer h_compiled = p.h.copy();
            checked(run_time());
            double diff = 0, scale = 0;
            p.h.for_each_element([&](const int *x) {
                diff = std::max(diff, double(std::abs(p.h(x) - h_compiled(x))));
                scale = std::max(scale, double(std::abs(h_compiled(x))));
            });
            std::printf("chunk %d: largest |h difference| %.3g (largest |h| %.3g)\n", L, diff, scale);
            const std::string size = std::to_string(L);
            rows.push_back({"chunk " + size + ", compiled variant", shape.str(), ms[0], 0, 0, 0, ""});
            rows.push_back({"chunk " + size + ", run-time chunk (specialize)", shape.str(), ms[1], 0, 0,
                            ms[1] / ms[0], "time of the compiled variant"});
        }
    }
    const bench::Units units{"", "", "none", "none"};
    bench::print_table(rows, units);
    return bench::write_json(json, "\"experiment\": \"run-time chunk size\",", rows, units) ? 0 : 1;
}
