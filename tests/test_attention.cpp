// Attention backend against the float64 reference (spec: "Attention backend", seed 002).
#include <catch2/catch.hpp>

#include <cmath>

#include "test_support.h"

using namespace test;

namespace {

using Activation = hmlstm::AttentionActivation;

Oracle attention_oracle(const Problem &p, const std::vector<uint8_t> *mask, Activation activation, bool swish,
                        double theta) {
    Oracle o;
    o.h = hmlstm_ref::attention(p.shape, p.in, mask, static_cast<hmlstm_ref::AttentionActivation>(activation), swish,
                                theta, &o.kappa);
    o.h_gates32 = o.h;  // no gates: nothing of it is float32 by the spec's rule
    return o;
}

hmlstm::AttentionOptions options(Activation activation, bool swish, double theta = 1e4) {
    hmlstm::AttentionOptions o;
    o.activation_function = activation;
    o.qk_pre_activation_function = swish ? hmlstm::QKPreActivation::swish : hmlstm::QKPreActivation::none;
    o.theta = float(theta);
    return o;
}

}  // namespace

TEST_CASE("attention matches the reference for every activation, with and without swish", "[attention]") {
    std::mt19937_64 rng(test_seed() + 90);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, Gates::typical, rng);
            for (Activation activation : {Activation::softmax, Activation::sigmoid, Activation::none}) {
                for (bool swish : {false, true}) {
                    // The S^2 DHQK float64 reference is the slow part at S = 4096: one case there.
                    if (s.S > 1000 && (dtype != DType::float32 || activation != Activation::softmax || swish)) continue;
                    const Oracle oracle = attention_oracle(p, nullptr, activation, swish, 1e4);
                    Result r = run_attention(p, options(activation, swish));
                    INFO(describe(s) << " dtype " << int(dtype) << " activation " << int(activation) << " swish "
                                     << swish << ": " << r.error.message);
                    REQUIRE(r.error.ok());
                    OutputComparison c = compare_output(r.h, oracle, s, forward_bound(dtype));
                    INFO("h: " << c.describe());
                    CHECK(c.pass());
                }
            }
        }
    }
}

TEST_CASE("attention with a mask of any pattern, another theta, and a query that sees no key", "[attention]") {
    std::mt19937_64 rng(test_seed() + 91);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 77, 32, 40};
    Problem p = random_problem(s, DType::float32, Gates::typical, rng);
    std::vector<uint8_t> mask(s.S * s.S);
    std::bernoulli_distribution keep(0.5);
    for (uint8_t &m : mask) m = keep(rng) ? 1 : 0;  // above the diagonal too: the mask is not only causal
    for (int64_t j = 0; j < s.S; j++) mask[5 * s.S + j] = 0;  // query 5 sees nothing: h = 0
    for (Activation activation : {Activation::softmax, Activation::sigmoid, Activation::none}) {
        for (double theta : {1e4, 500.0}) {
            const Oracle oracle = attention_oracle(p, &mask, activation, true, theta);
            hmlstm::AttentionOptions o = options(activation, true, theta);
            o.attention_mask = mask.data();
            Result r = run_attention(p, o);
            INFO("activation " << int(activation) << " theta " << theta << ": " << r.error.message);
            REQUIRE(r.error.ok());
            OutputComparison c = compare_output(r.h, oracle, s, 1e-5);
            INFO("h: " << c.describe());
            CHECK(c.pass());
            for (int64_t b = 0; b < s.DHV; b++) CHECK(r.h[5 * s.DHV + b] == 0.0);
        }
    }
    // theta moves the answer far past the bound, so the cases above tell a kernel that ignores it.
    const Oracle a = attention_oracle(p, nullptr, Activation::softmax, false, 1e4);
    const Oracle b = attention_oracle(p, nullptr, Activation::softmax, false, 500.0);
    CHECK(compare(a.h, b.h, s.S * s.DHV).worst > 1e-3);
}

TEST_CASE("attention rejects bad arguments and writes nothing", "[attention][cpu]") {
    const hmlstm::Shape shape{1, 2, 20, 16, 24};
    std::vector<float> q(size_t(2 * 20 * 16), 0.5f), k = q, v(size_t(2 * 20 * 24), 0.25f), h(v.size(), 7.0f);
    const hmlstm::QKV qkv{q.data(), k.data(), v.data(), hmlstm::DType::float32};
    auto expect = [&](const hmlstm::Error &e, hmlstm::Status status, const char *names) {
        INFO(e.message);
        CHECK(e.status == status);
        CHECK(e.message.find(names) != std::string::npos);
        for (float x : h) REQUIRE(x == 7.0f);
    };
    hmlstm::AttentionOptions o;
    expect(hmlstm::attention(shape, qkv, nullptr, o), hmlstm::Status::null_pointer, "h");
    expect(hmlstm::attention(shape, {nullptr, k.data(), v.data()}, h.data(), o), hmlstm::Status::null_pointer, "q");
    expect(hmlstm::attention({1, 2, 20, 15, 24}, qkv, h.data(), o), hmlstm::Status::invalid_shape, "must be even");
    o.activation_function = static_cast<hmlstm::AttentionActivation>(3);
    expect(hmlstm::attention(shape, qkv, h.data(), o), hmlstm::Status::invalid_argument, "activation_function 3");
    o = {};
    o.qk_pre_activation_function = static_cast<hmlstm::QKPreActivation>(2);
    expect(hmlstm::attention(shape, qkv, h.data(), o), hmlstm::Status::invalid_argument,
           "qk_pre_activation_function 2");
    o = {};
    for (float theta : {0.0f, -1.0f, std::nanf("")}) {
        o.theta = theta;
        expect(hmlstm::attention(shape, qkv, h.data(), o), hmlstm::Status::invalid_argument, "theta");
    }
    o = {};
    q[3] = std::nanf("");
    expect(hmlstm::attention(shape, qkv, h.data(), o), hmlstm::Status::non_finite_input, "q");
    // Gates are not part of the form: none are needed.
    q[3] = 0.5f;
    REQUIRE(hmlstm::attention(shape, qkv, h.data(), o).ok());
}
