// The forms agree with each other on the same inputs, and states carry a sequence across calls.
#include <catch2/catch.hpp>

#include <algorithm>

#include "test_support.h"

using namespace test;

namespace {

// An oracle for form X built on the recurrent reference: the recurrent float64 h, X's own float32-gate deviation
// and the larger of the two forms' conditions at every token.
Oracle across(const Oracle &recurrent, const Oracle &form) {
    Oracle o = form;
    o.h = recurrent.h;
    for (size_t t = 0; t < o.kappa.size(); t++) o.kappa[t] = std::max(recurrent.kappa[t], form.kappa[t]);
    // X's gate deviation measured against its own float64 result, carried over to the recurrent one.
    for (size_t e = 0; e < o.h_gates32.size(); e++) o.h_gates32[e] = recurrent.h[e] + (form.h_gates32[e] - form.h[e]);
    return o;
}

}  // namespace

TEST_CASE("chunkwise = recurrent = parallel on the same inputs", "[cross]") {
    std::mt19937_64 rng(test_seed() + 30);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    // With i >= 0 the parallel form's row maximum equals the recurrent max state (the initial m = 0 never wins),
    // so all three forms compute the same function; every kernel is judged against the recurrent reference.
    for (Shape s : {Shape{1, 2, 256, 64, 128}, Shape{2, 3, 100, 48, 96}, Shape{1, 2, 1000, 24, 48}}) {
        Problem p = random_problem(s, DType::float32, Gates::input_open, rng);
        const Oracle recurrent = sequence_oracle(p, nullptr);
        Result seq = run_sequence(p, nullptr, false), par = run_parallel(p, {});
        REQUIRE((seq.error.ok() && par.error.ok()));
        OutputComparison cs = compare_output(seq.h, recurrent, s, 1e-5);
        OutputComparison cp = compare_output(par.h, across(recurrent, parallel_oracle(p, nullptr, true)), s, 1e-5);
        INFO("recurrent kernel: " << cs.describe() << "; parallel kernel: " << cp.describe());
        CHECK(cs.pass());
        CHECK(cp.pass());
        for (int64_t chunk : {16, 32, 64, 128, 256}) {
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = chunk;
            Result cw = run_chunkwise(p, nullptr, o);
            REQUIRE(cw.error.ok());
            OutputComparison cc = compare_output(cw.h, across(recurrent, chunkwise_oracle(p, nullptr, {chunk})), s,
                                                 chunkwise_bound(DType::float32),
                                                 chunkwise_unit_roundoff(DType::float32));
            INFO("chunkwise kernel, chunk " << chunk << ": " << cc.describe());
            CHECK(cc.pass());
        }
    }
}

TEST_CASE("a sequence split in two with carried states equals one run", "[cross]") {
    std::mt19937_64 rng(test_seed() + 31);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape whole{2, 2, 300, 32, 48};
    const int64_t split = 137;
    Problem p = random_problem(whole, DType::float32, Gates::typical, rng);
    // The two pieces of every tensor, per (batch, head) slice.
    auto piece = [&](const std::vector<double> &x, int64_t width, int64_t from, int64_t len) {
        std::vector<double> out;
        for (int64_t bh = 0; bh < whole.heads(); bh++) {
            auto first = x.begin() + (bh * whole.S + from) * width;
            out.insert(out.end(), first, first + len * width);
        }
        return out;
    };
    auto part = [&](int64_t from, int64_t len) {
        Problem q = p;
        q.shape.S = len;
        q.in = {piece(p.in.q, whole.DHQK, from, len), piece(p.in.k, whole.DHQK, from, len),
                piece(p.in.v, whole.DHV, from, len), piece(p.in.i, 1, from, len), piece(p.in.f, 1, from, len)};
        return q;
    };
    const Problem first = part(0, split), second = part(split, whole.S - split);
    // The two pieces' outputs put back together in the layout of one run.
    auto join = [&](const std::vector<double> &a, const std::vector<double> &b) {
        std::vector<double> out;
        for (int64_t bh = 0; bh < whole.heads(); bh++) {
            out.insert(out.end(), a.begin() + bh * split * whole.DHV, a.begin() + (bh + 1) * split * whole.DHV);
            const int64_t rest = (whole.S - split) * whole.DHV;
            out.insert(out.end(), b.begin() + bh * rest, b.begin() + (bh + 1) * rest);
        }
        return out;
    };
    // The split run is judged against the float64 truth of one run, by the same rule as every output (a direct
    // comparison of two float32 runs fails at tokens whose sums nearly cancel, see docs/precision.md).
    const double bound = forward_bound(DType::float32);

    for (int64_t chunk : {16, 64, 256}) {
        hmlstm::ChunkwiseOptions o;
        o.chunk_size = chunk;
        o.return_last_states = true;
        Result a = run_chunkwise(first, nullptr, o);
        Result b = run_chunkwise(second, &a.last, o);
        REQUIRE((a.error.ok() && b.error.ok()));
        const Oracle truth = chunkwise_oracle(p, nullptr, {chunk});
        OutputComparison h = compare_output(join(a.h, b.h), truth, whole, chunkwise_bound(DType::float32),
                                            chunkwise_unit_roundoff(DType::float32));
        Comparison c = compare(b.last.c, truth.last.c, whole.DHQK * whole.DHV);
        INFO("chunk " << chunk << ": split run " << h.describe() << "; last C " << c.describe());
        CHECK(h.pass());
        CHECK(c.worst <= chunkwise_state_bound());
    }
    Result a = run_sequence(first, nullptr, true);
    Result b = run_sequence(second, &a.last, true);
    REQUIRE((a.error.ok() && b.error.ok()));
    OutputComparison h = compare_output(join(a.h, b.h), sequence_oracle(p, nullptr), whole, bound);
    INFO("recurrent split run: " << h.describe());
    CHECK(h.pass());
}
