// Attention backend (spec: "Attention backend", seed 002): transformer attention over the keys each query may see,
// with rotary embeddings on q and k (optionally swish first); no gates, no states. Math only; schedules:
// schedules/attention_cpu.cpp and attention_cuda.cpp. Buffers: q, k (dqk, t, bh), v (dv, t, bh), mask (j, t).
#pragma once

#include "mlstm_math.h"

namespace hmlstm {

// The activation of the logits; the API's AttentionActivation has the same values.
enum AttentionActivationCode : int { attention_softmax = 0, attention_sigmoid = 1, attention_none = 2 };

struct AttentionInputs {
    Func q, k, v;
    Func mask;        // mask(j, t) != 0: query t sees key j (any j, as the reference system's mask); read when use_mask
    Expr use_mask;    // else causal: j <= t
    Expr activation;  // AttentionActivationCode
    Expr qk_swish;    // swish (silu) on q and k before the rotary embeddings
    Expr theta;       // the rotary embeddings' base
    Expr seq_len, dhqk, dhv;
    // Without a mask, h's sum over keys j <= t runs by aligned blocks of this many queries (causal_positions; a CPU
    // register block's rows); 1: exactly to t.
    int causal_block = 1;
};

struct AttentionFuncs {
    Var j{"j"}, t{"t"}, bh{"bh"}, dqk{"dqk"}, dv{"dv"}, pair{"pair"};
    // cos and sin of token t's angle for the feature pair (2 pair, 2 pair + 1): t theta^(-2 pair / DHQK), formed in
    // float64 (at t = 4096 a float32 angle would be off by 2.4e-4 rad, past the float32 bound), then rounded.
    Func rotation_cos{"rotation_cos"}, rotation_sin{"rotation_sin"};
    Func q_rotated{"q_rotated"};      // (dqk, t, bh), times 1/sqrt(DHQK)
    Func k_transposed{"k_transposed"};  // (j, dqk, bh), rotated
    Func v_in{"v_in"};
    Func scores{"scores"};            // (j, t, bh): the logits q_t . k_j / sqrt(DHQK)
    Func row_max{"row_max"};          // the largest logit a query sees (softmax)
    Func weights{"weights"};          // (j, t, bh): the activation, 0 where masked
    Func row_sum{"row_sum"}, h_num{"h_num"}, h{"h"};
    RDom r_dqk, r_key;
    Expr use_mask;  // the input: schedules specialize the causal case, whose sums can stop at j = t
};

inline AttentionFuncs define_attention(const AttentionInputs &in) {
    AttentionFuncs f;
    f.use_mask = in.use_mask;
    Var j = f.j, t = f.t, bh = f.bh, dqk = f.dqk, dv = f.dv, pair = f.pair;
    Expr S = in.seq_len;
    Expr key = feature(j, S), query = feature(t, S);

    Expr exponent = Halide::cast<double>(-2 * pair) / Halide::cast<double>(in.dhqk);
    Expr angle = Halide::cast<double>(t) * Halide::pow(Halide::cast<double>(in.theta), exponent);
    f.rotation_cos(pair, t) = Halide::cast<float>(Halide::cos(angle));
    f.rotation_sin(pair, t) = Halide::cast<float>(Halide::sin(angle));

    // Feature d of a rotated row: the pair (x_2p, x_2p+1) turned by the token's angle.
    auto rotated = [&](const Func &x, const Expr &d, const Expr &token) {
        auto activated = [&](const Expr &feat) {
            Expr value = widen(x(feature(feat, in.dhqk), token, bh));
            return Halide::select(in.qk_swish, value / (1.0f + Halide::exp(-value)), value);
        };
        Expr p = d / 2, re = activated(2 * p), im = activated(2 * p + 1);
        Expr c = f.rotation_cos(p, token), s = f.rotation_sin(p, token);
        return Halide::select(d % 2 == 0, re * c - im * s, re * s + im * c);
    };
    f.q_rotated(dqk, t, bh) = rotated(in.q, dqk, query) * query_scale(in.dhqk);
    f.k_transposed(j, dqk, bh) = rotated(in.k, dqk, key);
    f.v_in(dv, j, bh) = widen(in.v(feature(dv, in.dhv), key, bh));

    f.r_dqk = RDom(0, in.dhqk, "r_dqk");
    f.scores(j, t, bh) = 0.0f;
    f.scores(j, t, bh) += f.q_rotated(f.r_dqk, t, bh) * f.k_transposed(j, f.r_dqk, bh);

    // The keys a query attends to: j <= t, or every key the mask keeps.
    Expr seen = Halide::select(in.use_mask, in.mask(key, query) != 0, j <= t);
    f.r_key = RDom(0, S, "r_key");
    f.r_key.where(in.use_mask || f.r_key <= t);
    Expr rk = f.r_key;
    f.row_max(t, bh) = Halide::Float(32).min();
    f.row_max(t, bh) = Halide::max(f.row_max(t, bh),
                                   Halide::select(in.use_mask && in.mask(rk, query) == 0, Halide::Float(32).min(),
                                                  f.scores(rk, t, bh)));
    Expr s = f.scores(j, t, bh);
    // softmax's exp(s - max), normalized by its row sum below, or sigmoid(s - log S) = 1 / (1 + exp(log S - s)) (the
    // reference system's bias): one exponential per logit either way.
    Expr softmax = in.activation == attention_softmax;
    Expr e = Halide::exp(Halide::select(softmax, s - f.row_max(t, bh), Halide::log(Halide::cast<float>(S)) - s));
    Expr activated = Halide::select(softmax, e, in.activation == attention_sigmoid, 1.0f / (1.0f + e), s);
    f.weights(j, t, bh) = Halide::select(seen, activated, 0.0f);

    f.row_sum(t, bh) = 0.0f;
    f.row_sum(t, bh) += f.weights(f.r_key, t, bh);
    f.h_num(dv, t, bh) = 0.0f;
    Expr key_h = causal_positions(S, t, 0, in.causal_block, true, "r_key_h", in.use_mask).position;
    f.h_num(dv, t, bh) += f.weights(key_h, t, bh) * f.v_in(dv, key_h, bh);
    // softmax divides by the row sum; a query that sees no key (a custom mask) gets h = 0.
    Expr sum = f.row_sum(t, bh);
    Expr den = Halide::select(in.activation != attention_softmax, 1.0f, sum > 0.0f, sum, 1.0f);
    f.h(dv, t, bh) = f.h_num(dv, t, bh) / den;
    return f;
}

}  // namespace hmlstm
