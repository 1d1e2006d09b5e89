// Parallel (stabilized) form of the mLSTM cell (spec: "Parallel form"). Math only; the CPU schedule is in
// schedules/parallel_cpu.cpp. Buffers: q, k (dqk, t, bh), v (dv, t, bh), gates (t, bh), mask (j, t).
#pragma once

#include "mlstm_math.h"

namespace hmlstm {

struct ParallelInputs {
    Func q, k, v, igate, fgate;
    Func mask;              // mask(j, t) != 0 keeps key j for query t; only read when use_mask
    Expr use_mask, stabilize_rowwise;
    Expr seq_len, dhqk, dhv, eps;
    // Where above 1, the sums of h (and of the backward's dq, dk, dv) over keys j <= t (queries t >= j) run by
    // aligned blocks of this many tokens (causal_positions; a CPU register block's rows); 1: exactly to t.
    int causal_block = 1;
};

struct ParallelFuncs {
    Var j{"j"}, t{"t"}, bh{"bh"}, dqk{"dqk"}, dv{"dv"};
    Func log_fgate{"log_fgate"};
    Func cum_log_fgate{"cum_log_fgate"};  // cum_log_fgate(j, t) = sum_{l=j+1..t} lf_l, built per column (j <= t)
    Func log_weight{"log_weight"};        // logD(j, t), log_zero() where masked
    Func row_max{"row_max"}, slice_max{"slice_max"}, row_stabilizer{"row_stabilizer"}, stabilizer{"stabilizer"};
    Func row_scale{"row_scale"};
    Func q_scaled{"q_scaled"}, k_transposed{"k_transposed"}, v_in{"v_in"};
    Func scores{"scores"};                // s q_t . k_j
    Func weighted_scores{"weighted_scores"};  // Ct(j, t) = scores * exp(logD - m)
    Func row_sum{"row_sum"}, h_num{"h_num"}, den{"den"}, h{"h"};
    RDom r_t, r_dqk, r_rows;
    RDom r_key;  // the keys j <= t a query t attends to: the sums skip the zero weights above the diagonal
};

inline ParallelFuncs define_parallel(const ParallelInputs &in) {
    ParallelFuncs f;
    Var j = f.j, t = f.t, bh = f.bh, dqk = f.dqk, dv = f.dv;
    Expr S = in.seq_len;

    f.log_fgate(t, bh) = log_sigmoid(in.fgate(t, bh));
    f.r_t = define_triangle_cumsum(f.cum_log_fgate, f.log_fgate, j, t, {bh}, S, "r_t");

    // Token indices are clamped like feature indices (feature()): schedules may compute whole blocks past S.
    Expr key = feature(j, S), query = feature(t, S);
    Expr allowed = j <= t && (!in.use_mask || in.mask(key, query) != 0);
    f.log_weight(j, t, bh) = Halide::select(allowed, f.cum_log_fgate(j, t, bh) + in.igate(key, bh), log_zero());

    f.r_key = RDom(0, S, "r_key");
    f.r_key.where(f.r_key <= t);
    f.row_max(t, bh) = Halide::maximum(f.log_weight(f.r_key, t, bh));
    f.r_rows = RDom(0, S, "r_rows");
    f.slice_max(bh) = Halide::maximum(f.row_max(f.r_rows, bh));
    // A row with nothing allowed (possible only with a custom mask) gets m = 0: all weights are 0, h is 0.
    auto finite_max = [](const Expr &m) { return Halide::select(m <= 0.5f * log_zero(), 0.0f, m); };
    f.row_stabilizer(t, bh) = finite_max(f.row_max(t, bh));
    f.stabilizer(t, bh) = Halide::select(in.stabilize_rowwise, f.row_stabilizer(t, bh), finite_max(f.slice_max(bh)));
    // exp(logD - m) = exp(logD - row max) * exp(row max - m): the first factor keeps every exponent of a row's
    // largest weights near 0, where float32 rounding of the gate sums costs least; the second, common to the row,
    // scales numerator and normalizer alike. With stabilize_rowwise it is 1.
    f.row_scale(t, bh) = Halide::exp(f.row_stabilizer(t, bh) - f.stabilizer(t, bh));

    f.q_scaled(dqk, t, bh) = widen(in.q(feature(dqk, in.dhqk), query, bh)) * query_scale(in.dhqk);
    f.k_transposed(j, dqk, bh) = widen(in.k(feature(dqk, in.dhqk), key, bh));
    f.v_in(dv, j, bh) = widen(in.v(feature(dv, in.dhv), key, bh));

    f.r_dqk = RDom(0, in.dhqk, "r_dqk");
    f.scores(j, t, bh) = 0.0f;
    f.scores(j, t, bh) += f.q_scaled(f.r_dqk, t, bh) * f.k_transposed(j, f.r_dqk, bh);
    f.weighted_scores(j, t, bh) =
        f.scores(j, t, bh) * Halide::exp(f.log_weight(j, t, bh) - f.row_stabilizer(t, bh));

    f.row_sum(t, bh) = 0.0f;
    f.row_sum(t, bh) += f.weighted_scores(f.r_key, t, bh);
    f.h_num(dv, t, bh) = 0.0f;
    Expr key_h = causal_positions(S, t, 0, in.causal_block, true, "r_key_h").position;
    f.h_num(dv, t, bh) += f.weighted_scores(key_h, t, bh) * f.v_in(dv, key_h, bh);
    Expr scale = f.row_scale(t, bh);
    f.den(t, bh) = normalizer(f.row_sum(t, bh) * scale, Halide::exp(-f.stabilizer(t, bh)), in.eps);
    f.h(dv, t, bh) = f.h_num(dv, t, bh) * scale / f.den(t, bh);
    return f;
}

}  // namespace hmlstm
