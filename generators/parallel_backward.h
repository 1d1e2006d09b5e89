// Backward of the parallel form (spec: "Backward"; convention in docs/backward.md: the normalizer den and the
// stabilizers are constants). Math only; the CPU schedule is in schedules/parallel_backward_cpu.cpp.
//
// The forward is h_t = row_scale_t / den_t * sum_j W(j, t) v_j with W(j, t) = s (q_t . k_j) exp(logD(j, t) - m_t).
// With dH_t = dh_t row_scale_t / den_t:
//   dW = dH V^T          dS = dW * exp(logD - m)   (the gradient of the scaled scores s q . k)
//   dq = s dS K          dk = dS^T (s Q)           dv = W^T dH
// and the gradients of the log weights dlogD = dW * W give the gates', each term counted once:
//   di_j = sum_t dlogD(j, t)          df_l = sigmoid(-f_l) * sum_{j < l} sum_{t >= l} dlogD(j, t)
// (the pairs j < l <= t, which span forget gate l), from the suffix sums down each column of dlogD: every partial
// sum holds only terms that belong to it. (The shorter sum over u >= l of row sums minus column sums cancels large
// terms of pairs that span no gate l; in float32 that costs up to 1e-4 of df with closed forget gates.) Masked
// pairs have W = 0 and add nothing.
#pragma once

#include "parallel.h"

namespace hmlstm {

struct ParallelBackwardFuncs {
    Func dh_scaled{"dh_scaled"}, v_transposed{"v_transposed"}, k_scaled{"k_scaled"};
    Func d_weight{"d_weight"}, decay{"decay"};
    Func d_intra{"d_intra"};  // (j, t, bh): {gradient of the scaled score, gradient of the log weight}
    Func dq{"dq"}, dk{"dk"}, dv{"dv"};
    Func column_suffix{"column_suffix"};  // (j, t, bh): sum_{t' >= t} dlogD(j, t')
    Func spanning{"spanning"}, di{"di"}, df{"df"};
    RDom r_dv, r_rev;
};

inline ParallelBackwardFuncs define_parallel_backward(const ParallelInputs &in, ParallelFuncs &f, Func dh) {
    ParallelBackwardFuncs b;
    Var j = f.j, t = f.t, bh = f.bh, dqk = f.dqk, dv = f.dv;
    Expr S = in.seq_len;
    Expr key = feature(j, S), query = feature(t, S);

    b.dh_scaled(dv, t, bh) =
        widen(dh(feature(dv, in.dhv), query, bh)) * (f.row_scale(t, bh) / f.den(t, bh));
    b.v_transposed(j, dv, bh) = f.v_in(dv, j, bh);
    b.k_scaled(dqk, j, bh) = widen(in.k(feature(dqk, in.dhqk), key, bh)) * query_scale(in.dhqk);

    b.r_dv = RDom(0, in.dhv, "r_dv");
    b.d_weight(j, t, bh) = 0.0f;
    b.d_weight(j, t, bh) += b.dh_scaled(b.r_dv, t, bh) * b.v_transposed(j, b.r_dv, bh);
    b.decay(j, t, bh) = Halide::exp(f.log_weight(j, t, bh) - f.row_stabilizer(t, bh));
    Expr dw = b.d_weight(j, t, bh);
    b.d_intra(j, t, bh) = {dw * b.decay(j, t, bh), dw * f.weighted_scores(j, t, bh)};
    auto d_scores = [&](const Expr &j_, const Expr &t_) { return b.d_intra(j_, t_, bh)[0]; };
    auto d_log_weight = [&](const Expr &j_, const Expr &t_) { return b.d_intra(j_, t_, bh)[1]; };

    // Causal: the sums run over the keys j <= t of a query, or the queries t >= j of a key (by blocks of
    // in.causal_block tokens), skipping the zero gradients above the diagonal (and spanning's over the keys j < t).
    Expr key_dq = causal_positions(S, t, 0, in.causal_block, true, "r_key_dq").position;
    Expr query_dk = causal_positions(S, j, 0, in.causal_block, false, "r_query_dk").position;
    Expr query_dv = causal_positions(S, j, 0, in.causal_block, false, "r_query_dv").position;
    b.dq(dqk, t, bh) = 0.0f;
    b.dq(dqk, t, bh) += b.k_scaled(dqk, key_dq, bh) * d_scores(key_dq, t);
    b.dk(dqk, j, bh) = 0.0f;
    b.dk(dqk, j, bh) += f.q_scaled(dqk, query_dk, bh) * d_scores(j, query_dk);
    b.dv(dv, j, bh) = 0.0f;
    b.dv(dv, j, bh) += b.dh_scaled(dv, query_dv, bh) * f.weighted_scores(j, query_dv, bh);

    b.r_rev = RDom(0, S, "r_rev");
    Expr u = S - 1 - b.r_rev;
    b.column_suffix(j, t, bh) = Halide::undef<float>();
    b.column_suffix(j, S, bh) = 0.0f;
    b.column_suffix(j, u, bh) = b.column_suffix(j, u + 1, bh) + d_log_weight(j, u);
    b.spanning(t, bh) = 0.0f;
    RDom r_earlier(0, S, "r_earlier");  // the keys j < t
    r_earlier.where(r_earlier < t);
    b.spanning(t, bh) += b.column_suffix(r_earlier, t, bh);
    b.di(j, bh) = b.column_suffix(j, 0, bh);
    b.df(t, bh) = b.spanning(t, bh) / (1.0f + Halide::exp(in.fgate(t, bh)));  // d logsigmoid(f)/df = sigmoid(-f)
    return b;
}

}  // namespace hmlstm
