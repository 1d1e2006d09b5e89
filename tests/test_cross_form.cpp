// The forms agree with each other on the same inputs, and states carry a sequence across calls.
#include <catch2/catch.hpp>

#include "test_support.h"

using namespace test;

// Two float32 kernels each within 1e-5 of the reference are within 2e-5 of each other.
static const double kPairBound = 2e-5;

TEST_CASE("chunkwise = recurrent = parallel on the same inputs", "[cross]") {
    std::mt19937_64 rng(test_seed() + 30);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    // With i >= 0 the parallel form's row maximum equals the recurrent max state (the initial m = 0 never wins),
    // so all three forms compute the same normalizer; with other gates only chunkwise and recurrent must agree.
    for (Shape s : {Shape{1, 2, 256, 64, 128}, Shape{2, 3, 100, 48, 96}, Shape{1, 2, 1000, 24, 48}}) {
        Problem p = random_problem(s, DType::float32, Gates::input_open, rng);
        Result seq = run_sequence(p, nullptr, false);
        Result par = run_parallel(p, {});
        REQUIRE(seq.error.ok());
        REQUIRE(par.error.ok());
        Comparison sp = compare(par.h, seq.h, s.S * s.DHV);
        INFO("parallel vs recurrent: " << sp.describe());
        CHECK(sp.worst <= kPairBound);
        for (int64_t chunk : {16, 32, 64, 128, 256}) {
            hmlstm::ChunkwiseOptions o;
            o.chunk_size = chunk;
            Result cw = run_chunkwise(p, nullptr, o);
            REQUIRE(cw.error.ok());
            Comparison cs = compare(cw.h, seq.h, s.S * s.DHV), cp = compare(cw.h, par.h, s.S * s.DHV);
            INFO("chunk " << chunk << " vs recurrent: " << cs.describe() << "; vs parallel: " << cp.describe());
            CHECK(cs.worst <= kPairBound);
            CHECK(cp.worst <= kPairBound);
        }
    }
}

TEST_CASE("a sequence split in two with carried states equals one run", "[cross]") {
    std::mt19937_64 rng(test_seed() + 31);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape whole{2, 2, 300, 32, 48};
    const int64_t split = 137;
    Problem p = random_problem(whole, DType::float32, Gates::extreme, rng);
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
    Problem first = part(0, split), second = part(split, whole.S - split);

    for (int64_t chunk : {16, 64, 256}) {
        hmlstm::ChunkwiseOptions o;
        o.chunk_size = chunk;
        o.return_last_states = true;
        Result one = run_chunkwise(p, nullptr, o);
        Result a = run_chunkwise(first, nullptr, o);
        Result b = run_chunkwise(second, &a.last, o);
        REQUIRE((one.error.ok() && a.error.ok() && b.error.ok()));
        Comparison h1 = compare(a.h, piece(one.h, whole.DHV, 0, split), split * whole.DHV);
        Comparison h2 = compare(b.h, piece(one.h, whole.DHV, split, whole.S - split), (whole.S - split) * whole.DHV);
        Comparison c = compare(b.last.c, one.last.c, whole.DHQK * whole.DHV);
        INFO("chunk " << chunk << ": first " << h1.describe() << "; second " << h2.describe() << "; C " << c.describe());
        CHECK(h1.worst <= kPairBound);
        CHECK(h2.worst <= kPairBound);
        CHECK(c.worst <= kPairBound);
    }
    Result one = run_sequence(p, nullptr, true);
    Result a = run_sequence(first, nullptr, true);
    Result b = run_sequence(second, &a.last, true);
    REQUIRE((one.error.ok() && a.error.ok() && b.error.ok()));
    Comparison h2 = compare(b.h, piece(one.h, whole.DHV, split, whole.S - split), (whole.S - split) * whole.DHV);
    INFO("recurrent second piece: " << h2.describe());
    CHECK(h2.worst <= kPairBound);
}
