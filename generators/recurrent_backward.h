// Backward of the recurrent sequence, through time (spec: "Backward"; convention in docs/backward.md: the
// normalizer and the stabilizer are constants). Math only; the CPU schedule is in schedules/recurrent_backward_cpu.cpp.
//
// The simplest form: the forward again, keeping every state C_j (j = 0..S, C_0 the initial one, C_{t+1} after token
// t), then the reverse scan of G_j = dLoss/dC_j:
//   G_S = dC_last + s q_{S-1} dH_{S-1}^T,     G_j = decay_j G_{j+1} + s q_{j-1} dH_{j-1}^T  (the last term for j >= 1)
// with dH_t = dh_t / den_t; then every token's gradients at once, from C_{t+1}, C_t and G_{t+1}:
//   dq_t = s C_{t+1}^T dH_t       dk_t = gain_t G_{t+1} v_t      dv_t = gain_t G_{t+1}^T k_t
//   di_t = k_t . dk_t             df_t = sigmoid(-f_t) decay_t <G_{t+1}, C_t>
// and dC_initial = G_0, dm_initial = <G_0, C_0> (the initial C is stored at the scale exp(-m_initial)).
// It keeps (S + 1) states of DHQK x DHV per (batch, head) twice; the chunkwise backward keeps one per chunk.
#pragma once

#include "recurrent.h"

namespace hmlstm {

struct RecurrentBackwardFuncs {
    Func c_all{"c_all"}, n_all{"n_all"}, den{"den"}, dh_scaled{"dh_scaled"}, g_all{"g_all"};
    Func dq{"dq"}, dk{"dk"}, dv{"dv"}, di{"di"}, df{"df"}, decay_rows{"decay_rows"}, decay_grad{"decay_grad"};
    Func dc_initial{"dc_initial"}, dm_initial{"dm_initial"};
    RDom r_fwd, r_rev, r_dv, r_dqk, r_state;
};

inline RecurrentBackwardFuncs define_recurrent_backward(const SequenceInputs &in, SequenceFuncs &f, Func dh,
                                                        Func dc_last) {
    RecurrentBackwardFuncs b;
    Var t = f.t, bh = f.bh, dv = f.dv, dqk = f.dqk;
    Expr S = in.seq_len;
    Expr dqk_in = feature(dqk, in.dhqk), dv_in = feature(dv, in.dhv);
    auto k = [&](const Expr &d, const Expr &tok) { return widen(in.k(d, tok, bh)); };
    auto v = [&](const Expr &d, const Expr &tok) { return widen(in.v(d, tok, bh)); };

    // Forward: every state.
    b.r_fwd = RDom(0, S, "r_fwd");
    Expr rt = b.r_fwd;
    b.c_all(dv, dqk, t, bh) = Halide::undef<float>();
    b.c_all(dv, dqk, 0, bh) = in.c_initial(dv_in, dqk_in, bh);
    b.c_all(dv, dqk, rt + 1, bh) =
        f.decay(rt, bh) * b.c_all(dv, dqk, rt, bh) + f.gain(rt, bh) * k(dqk_in, rt) * v(dv_in, rt);
    b.n_all(dqk, t, bh) = Halide::undef<float>();
    b.n_all(dqk, 0, bh) = in.n_initial(dqk_in, bh);
    b.n_all(dqk, rt + 1, bh) = f.decay(rt, bh) * b.n_all(dqk, rt, bh) + f.gain(rt, bh) * k(dqk_in, rt);
    b.r_dqk = RDom(0, in.dhqk, "r_dqk");
    b.den(t, bh) = 0.0f;
    b.den(t, bh) += f.q_scaled(b.r_dqk, t, bh) * b.n_all(b.r_dqk, t + 1, bh);
    Expr den = normalizer(b.den(t, bh), Halide::exp(-f.m_seq(t + 1, bh)), in.eps);
    b.dh_scaled(dv, t, bh) = widen(dh(dv_in, t, bh)) / den;

    // Backward through time.
    b.r_rev = RDom(0, S, "r_rev");
    Expr j = S - 1 - b.r_rev;
    auto readout = [&](const Expr &tok) { return f.q_scaled(dqk_in, tok, bh) * b.dh_scaled(dv, tok, bh); };
    b.g_all(dv, dqk, t, bh) = Halide::undef<float>();
    b.g_all(dv, dqk, S, bh) = dc_last(dv_in, dqk_in, bh) + readout(S - 1);
    b.g_all(dv, dqk, j, bh) = f.decay(j, bh) * b.g_all(dv, dqk, j + 1, bh) +
                              Halide::select(j >= 1, readout(Halide::max(j - 1, 0)), 0.0f);

    // Every token's gradients.
    b.r_dv = RDom(0, in.dhv, "r_dv");
    b.dq(dqk, t, bh) = 0.0f;
    b.dq(dqk, t, bh) += b.c_all(b.r_dv, dqk, t + 1, bh) * b.dh_scaled(b.r_dv, t, bh);
    b.dq(dqk, t, bh) = b.dq(dqk, t, bh) * query_scale(in.dhqk);
    b.dk(dqk, t, bh) = 0.0f;
    b.dk(dqk, t, bh) += b.g_all(b.r_dv, dqk, t + 1, bh) * v(b.r_dv, t);
    b.dk(dqk, t, bh) = b.dk(dqk, t, bh) * f.gain(t, bh);
    b.dv(dv, t, bh) = 0.0f;
    b.dv(dv, t, bh) += b.g_all(dv, b.r_dqk, t + 1, bh) * k(b.r_dqk, t);
    b.dv(dv, t, bh) = b.dv(dv, t, bh) * f.gain(t, bh);
    b.di(t, bh) = 0.0f;
    b.di(t, bh) += k(b.r_dqk, t) * b.dk(b.r_dqk, t, bh);
    b.decay_rows(dv, t, bh) = 0.0f;
    b.decay_rows(dv, t, bh) += b.g_all(dv, b.r_dqk, t + 1, bh) * b.c_all(dv, b.r_dqk, t, bh);
    b.decay_grad(t, bh) = 0.0f;
    b.decay_grad(t, bh) += b.decay_rows(b.r_dv, t, bh);
    b.r_state = RDom(0, in.dhv, 0, in.dhqk, "r_state");
    Expr sx = b.r_state.x, sy = b.r_state.y;
    b.df(t, bh) = b.decay_grad(t, bh) * f.decay(t, bh) / (1.0f + Halide::exp(in.fgate(t, bh)));

    b.dc_initial(dv, dqk, bh) = b.g_all(dv, dqk, 0, bh);
    b.dm_initial(bh) = 0.0f;
    b.dm_initial(bh) += b.g_all(sx, sy, 0, bh) * b.c_all(sx, sy, 0, bh);
    return b;
}

}  // namespace hmlstm
