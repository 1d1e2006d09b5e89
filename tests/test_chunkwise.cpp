// Chunkwise form against the float64 reference (spec: "Chunkwise form").
#include <catch2/catch.hpp>

#include "check_states.h"
#include "test_support.h"

using namespace test;

namespace {

hmlstm::ChunkwiseOptions options(int64_t chunk) {
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = chunk;
    o.return_last_states = true;
    return o;
}

// The call's h and last states against the float64 reference at the spec's bounds.
void check_against_oracle(const Problem &p, const hmlstm_ref::States *init, const hmlstm::ChunkwiseOptions &o) {
    const Shape &s = p.shape;
    Oracle oracle = chunkwise_oracle(p, init, {o.chunk_size});
    Result r = run_chunkwise(p, init, o);
    INFO(r.error.message);
    REQUIRE(r.error.ok());
    OutputComparison c = compare_output(r.h, oracle, s, chunkwise_bound(p.dtype), chunkwise_unit_roundoff(p.dtype));
    INFO("h: " << c.describe());
    CHECK(c.pass());
    check_states(r.last, oracle.last, s, chunkwise_state_bound());
}

}  // namespace

TEST_CASE("chunkwise matches the reference on every shape, chunk size and dtype", "[chunkwise]") {
    std::mt19937_64 rng(test_seed());
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, Gates::typical, rng);
            for (int64_t chunk : {16, 32, 64, 128, 256}) {
                INFO("shape (" << s.B << "," << s.NH << "," << s.S << "," << s.DHQK << "," << s.DHV << ") chunk "
                               << chunk << " dtype " << int(dtype));
                check_against_oracle(p, nullptr, options(chunk));
            }
        }
    }
}

TEST_CASE("chunkwise with extreme gates, initial states and a partial last chunk", "[chunkwise]") {
    std::mt19937_64 rng(test_seed() + 1);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 333, 40, 72};  // 333 = 5 * 64 + 13: a partial chunk for every chunk size
    for (Gates gates : {Gates::extreme, Gates::forget_closed, Gates::typical}) {
        Problem p = random_problem(s, DType::float32, gates, rng);
        hmlstm_ref::States init = random_states(s, rng);
        for (int64_t chunk : {16, 32, 64, 128, 256}) {
            Oracle oracle = chunkwise_oracle(p, &init, {chunk});
            Result r = run_chunkwise(p, &init, options(chunk));
            INFO("gates " << int(gates) << " chunk " << chunk << ": " << r.error.message);
            REQUIRE(r.error.ok());
            OutputComparison c = compare_output(r.h, oracle, s, chunkwise_bound(DType::float32),
                                                chunkwise_unit_roundoff(DType::float32));
            INFO("h: " << c.describe());
            CHECK(c.pass());
            check_states(r.last, oracle.last, s, chunkwise_state_bound());
        }
    }
}

TEST_CASE("the states and per-token values the chunkwise forward saves match the reference", "[chunkwise]") {
    std::mt19937_64 rng(test_seed() + 5);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 333, 40, 72};  // a partial last chunk for every chunk size
    for (DType dtype : {DType::float32, DType::bfloat16}) {
        for (Gates gates : {Gates::extreme, Gates::typical}) {
            Problem p = random_problem(s, dtype, gates, rng);
            hmlstm_ref::States init = random_states(s, rng);
            for (int64_t chunk : {16, 32, 64, 128, 256}) {
                INFO("dtype " << int(dtype) << " gates " << int(gates) << " chunk " << chunk);
                hmlstm_ref::ChunkwiseSaved ref, out;
                hmlstm_ref::chunkwise(s, p.in, &init, nullptr, {chunk}, nullptr, hmlstm_ref::GateArithmetic::float64,
                                      &ref);
                Result r = run_chunkwise(p, &init, options(chunk), &out);
                INFO(r.error.message);
                REQUIRE(r.error.ok());
                const int64_t states = hmlstm::chunkwise_saved_states(s.S, chunk);
                // Every saved state as one more "last state": C and n per state, m in log space.
                const Shape per_state{s.heads() * states, 1, 1, s.DHQK, s.DHV};
                check_states({out.c, out.n, out.m}, {ref.c, ref.n, ref.m}, per_state, chunkwise_state_bound());
                // The normalizer is h's denominator: within the bound of h's dtype, per slice.
                Comparison normalizer = compare(out.normalizer, ref.normalizer, s.S);
                Comparison stabilizer = compare_max_state(out.stabilizer, ref.stabilizer);
                INFO("normalizer: " << normalizer.describe() << "; stabilizer: " << stabilizer.describe());
                CHECK(normalizer.worst <= chunkwise_bound(dtype));
                CHECK(stabilizer.worst <= chunkwise_state_bound());
            }
        }
    }
}

TEST_CASE("chunkwise options: eps, norm_val, stabilize_correctly", "[chunkwise]") {
    std::mt19937_64 rng(test_seed() + 2);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{1, 3, 200, 32, 64};
    Problem p = random_problem(s, DType::float32, Gates::extreme, rng);
    for (bool correctly : {true, false}) {
        for (double norm_val : {1.0, 0.25}) {
            for (double eps : {1e-6, 1e-2}) {
                hmlstm::ChunkwiseOptions o = options(32);
                o.stabilize_correctly = correctly;
                o.norm_val = float(norm_val);
                o.eps = float(eps);
                Oracle oracle = chunkwise_oracle(p, nullptr, {32, double(float(eps)), correctly, double(float(norm_val))});
                Result r = run_chunkwise(p, nullptr, o);
                REQUIRE(r.error.ok());
                OutputComparison c = compare_output(r.h, oracle, s, chunkwise_bound(DType::float32),
                                                    chunkwise_unit_roundoff(DType::float32));
                INFO("stabilize_correctly " << correctly << " norm_val " << norm_val << " eps " << eps << ": "
                                            << c.describe());
                CHECK(c.pass());
            }
        }
    }
}

TEST_CASE("chunkwise leaves last-state buffers alone without return_last_states", "[chunkwise]") {
    std::mt19937_64 rng(test_seed() + 3);
    const Shape s{1, 1, 50, 16, 16};
    Problem p = random_problem(s, DType::float32, Gates::typical, rng);
    std::vector<uint8_t> q = encode(p.in.q, p.dtype), k = encode(p.in.k, p.dtype), v = encode(p.in.v, p.dtype);
    std::vector<float> i = to_float(p.in.i), f = to_float(p.in.f), h(s.S * s.DHV);
    std::vector<float> c(s.DHQK * s.DHV, 7.0f), n(s.DHQK, 7.0f), m(1, 7.0f);
    Mirror dq(q), dk(k), dv(v), di(i), df(f), dh(h), dc(c), dn(n), dm(m);
    hmlstm::ChunkwiseOptions o;
    o.device = device_options();
    hmlstm::Error e = hmlstm::mlstm_chunkwise_fw(api_shape(s), {dq.api(), dk.api(), dv.api()},
                                                 {di.as<float>(), df.as<float>()}, dh.api(), {},
                                                 {dc.as<float>(), dn.as<float>(), dm.as<float>()}, o);
    INFO(e.message);
    REQUIRE(e.ok());
    for (Mirror *x : {&dc, &dn, &dm}) x->back();
    CHECK(c == std::vector<float>(s.DHQK * s.DHV, 7.0f));
    CHECK(m[0] == 7.0f);
}

TEST_CASE("calls after release_cached_memory() allocate again and give the same outputs", "[chunkwise]") {
    std::mt19937_64 rng(test_seed() + 4);
    const Shape s{1, 2, 300, 32, 48};
    Problem p = random_problem(s, DType::float32, Gates::typical, rng);
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = 64;
    const Result first = run_chunkwise(p, nullptr, o);
    REQUIRE(first.error.ok());
    REQUIRE(hmlstm::release_cached_memory().ok());
    const Result second = run_chunkwise(p, nullptr, o);
    REQUIRE(second.error.ok());
    CHECK(second.h == first.h);  // the same kernel on the same inputs: bit for bit
    const OutputComparison c = compare_output(second.h, chunkwise_oracle(p, nullptr, {64}), s,
                                              chunkwise_bound(DType::float32), chunkwise_unit_roundoff(DType::float32));
    INFO(c.describe());
    CHECK(c.pass());
}

TEST_CASE("every compiled CPU schedule of the chunkwise forward matches the reference", "[chunkwise][cpu]") {
    std::mt19937_64 rng(test_seed() + 3);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const std::vector<std::string> &schedules = hmlstm::compiled_chunkwise_schedules(hmlstm::Device::cpu);
    REQUIRE(schedules.front() == "default");
    // Head dims below, at and between the block widths; a partial last chunk; extreme gates and initial states.
    for (const Shape &s : {Shape{1, 1, 1, 16, 32}, Shape{2, 2, 333, 40, 72}, Shape{1, 2, 100, 48, 96}}) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, Gates::extreme, rng);
            hmlstm_ref::States init = random_states(s, rng);
            for (const std::string &schedule : schedules) {
                for (int64_t chunk : {16, 32, 64, 128, 256}) {
                    hmlstm::ChunkwiseOptions o = options(chunk);
                    o.schedule = schedule;
                    INFO("shape (" << s.B << "," << s.NH << "," << s.S << "," << s.DHQK << "," << s.DHV
                                   << ") schedule " << schedule << " chunk " << chunk << " dtype " << int(dtype));
                    check_against_oracle(p, &init, o);
                }
            }
        }
    }
}
