// Recurrent step and sequence against the float64 reference (spec: "Recurrent step").
#include <catch2/catch.hpp>

#include "check_states.h"
#include "test_support.h"

using namespace test;

namespace {

struct StepRun {
    hmlstm::Error error;
    std::vector<double> h;
    hmlstm_ref::States state;
};

// One step through the API from `state`; in place when `in_place`.
StepRun run_step(const Problem &p, const hmlstm_ref::States &state, bool in_place) {
    const Shape &s = p.shape;
    std::vector<uint8_t> q = encode(p.in.q, p.dtype), k = encode(p.in.k, p.dtype), v = encode(p.in.v, p.dtype);
    std::vector<float> i = to_float(p.in.i), f = to_float(p.in.f);
    std::vector<float> c = to_float(state.c), n = to_float(state.n), m = to_float(state.m);
    std::vector<float> c2(c.size()), n2(n.size()), m2(m.size());
    std::vector<uint8_t> h(size_t(s.heads() * s.DHV) * (p.dtype == DType::bfloat16 ? 2 : 4));
    Mirror dq(q), dk(k), dv(v), di(i), df(f), dc(c), dn(n), dm(m), dc2(c2), dn2(n2), dm2(m2), dh(h);
    hmlstm::StatesOut out = in_place ? hmlstm::StatesOut{dc.as<float>(), dn.as<float>(), dm.as<float>()}
                                     : hmlstm::StatesOut{dc2.as<float>(), dn2.as<float>(), dm2.as<float>()};
    hmlstm::StepOptions o;
    o.device = device_options();
    StepRun r;
    r.error = hmlstm::recurrent_step_fw(api_shape(s), {dq.api(), dk.api(), dv.api(), p.dtype},
                                        {di.as<float>(), df.as<float>()}, dh.api(),
                                        {dc.as<float>(), dn.as<float>(), dm.as<float>()}, out, o);
    for (Mirror *x : {&dh, &dc, &dn, &dm, &dc2, &dn2, &dm2}) x->back();
    r.h = decode(h, p.dtype);
    r.state = in_place ? hmlstm_ref::States{to_double(c), to_double(n), to_double(m)}
                       : hmlstm_ref::States{to_double(c2), to_double(n2), to_double(m2)};
    return r;
}

}  // namespace

TEST_CASE("recurrent step matches the reference, in place and not", "[recurrent]") {
    std::mt19937_64 rng(test_seed() + 10);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    // DHV = 30: rows of C that are not whole 16-byte vectors. Head dimensions that are multiples of 32 take the
    // dense CUDA variant (one to eight groups of 32 rows here), the others the general one.
    for (Shape s : {Shape{1, 8, 1, 256, 512}, Shape{16, 8, 1, 256, 512}, Shape{3, 5, 1, 24, 40}, Shape{1, 1, 1, 16, 32},
                    Shape{2, 3, 1, 20, 30}, Shape{2, 3, 1, 32, 64}, Shape{1, 2, 1, 96, 160}}) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            for (Gates gates : {Gates::typical, Gates::extreme}) {
                Problem p = random_problem(s, dtype, gates, rng);
                hmlstm_ref::States state = random_states(s, rng);
                Oracle oracle = step_oracle(p, state);
                const hmlstm_ref::States &ref_state = oracle.last;
                StepRun out = run_step(p, state, false), inplace = run_step(p, state, true);
                INFO("B " << s.B << " DHQK " << s.DHQK << " dtype " << int(dtype) << " gates " << int(gates) << ": "
                          << out.error.message << inplace.error.message);
                REQUIRE(out.error.ok());
                REQUIRE(inplace.error.ok());
                OutputComparison h = compare_output(out.h, oracle, s, forward_bound(dtype));
                INFO("h: " << h.describe());
                CHECK(h.pass());
                check_states(out.state, ref_state, s);
                // In place computes exactly the same numbers.
                CHECK(inplace.h == out.h);
                CHECK(inplace.state.c == out.state.c);
                CHECK(inplace.state.n == out.state.n);
                CHECK(inplace.state.m == out.state.m);
            }
        }
    }
}

TEST_CASE("recurrent sequence matches the reference", "[recurrent]") {
    std::mt19937_64 rng(test_seed() + 11);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            for (bool with_initial : {false, true}) {
                Problem p = random_problem(s, dtype, with_initial ? Gates::extreme : Gates::typical, rng);
                hmlstm_ref::States init = random_states(s, rng);
                Oracle oracle = sequence_oracle(p, with_initial ? &init : nullptr);
                const hmlstm_ref::States &ref_last = oracle.last;
                Result r = run_sequence(p, with_initial ? &init : nullptr, true);
                INFO("S " << s.S << " DHQK " << s.DHQK << " dtype " << int(dtype) << " initial " << with_initial
                          << ": " << r.error.message);
                REQUIRE(r.error.ok());
                OutputComparison h = compare_output(r.h, oracle, s, forward_bound(dtype));
                INFO("h: " << h.describe());
                CHECK(h.pass());
                check_states(r.last, ref_last, s);
            }
        }
    }
}
