// Recurrent forms of the mLSTM cell (spec: "Recurrent step"): the decode step and the sequence form.
// Math only; schedules live in schedules/recurrent_cpu.cpp.
#pragma once

#include "mlstm_math.h"

namespace hmlstm {

// ---- Single step: states (C, n, m) and one token in, h and new states out. Buffers are (dv, dqk, bh) for C,
// (dqk, bh) for n, q, k, (dv, bh) for v and h, (bh) for m and the gates.
struct StepInputs {
    Func c_state, n_state, m_state, q, k, v, igate, fgate;
    Expr dhqk, dhv, eps;
};

struct StepFuncs {
    Var dv{"dv"}, dqk{"dqk"}, bh{"bh"};
    Func m_new{"m_new"}, decay{"decay"}, gain{"gain"};
    Func c_new{"c_new"}, n_new{"n_new"};
    Func q_scaled{"q_scaled"};
    Func h_num{"h_num"}, h_den{"h_den"}, h{"h"};
    RDom r_dqk;
};

inline StepFuncs define_recurrent_step(const StepInputs &in) {
    StepFuncs f;
    Var dv = f.dv, dqk = f.dqk, bh = f.bh;
    GateStep step = gate_step(log_sigmoid(in.fgate(bh)), in.m_state(bh), in.igate(bh));
    f.m_new(bh) = step.m_new;
    f.decay(bh) = step.decay;
    f.gain(bh) = step.gain;
    f.c_new(dv, dqk, bh) = f.decay(bh) * in.c_state(dv, dqk, bh) + f.gain(bh) * widen(in.k(dqk, bh)) * widen(in.v(dv, bh));
    f.n_new(dqk, bh) = f.decay(bh) * in.n_state(dqk, bh) + f.gain(bh) * widen(in.k(dqk, bh));
    f.q_scaled(dqk, bh) = widen(in.q(dqk, bh)) * query_scale(in.dhqk);

    f.r_dqk = RDom(0, in.dhqk, "r_dqk");
    f.h_num(dv, bh) = 0.0f;
    f.h_num(dv, bh) += f.q_scaled(f.r_dqk, bh) * f.c_new(dv, f.r_dqk, bh);
    f.h_den(bh) = 0.0f;
    f.h_den(bh) += f.q_scaled(f.r_dqk, bh) * f.n_new(f.r_dqk, bh);
    f.h(dv, bh) = f.h_num(dv, bh) / normalizer(f.h_den(bh), Halide::exp(-f.m_new(bh)), in.eps);
    return f;
}

// ---- Sequence: the step applied for t = 0..S-1 inside one pipeline.
// Halide cannot hand a state from one token to the next except through the update of a single Func, so that Func,
// `work`, holds both the running state and every token's numerator:
//   rows [0, DHQK)        the state C augmented by one column: work(DHV, row) is the normalizer state n
//                         (n follows the same update as C with v replaced by 1);
//   rows DHQK + t         the numerator (s q_t)^T C_t of token t, and in column DHV the denominator dot (s q_t)^T n_t.
// For each token, phase 0 updates the state rows, phase 1 accumulates the token's numerator row from them.
struct SequenceInputs {
    Func q, k, v, igate, fgate;         // (dqk|dv, t, bh) and (t, bh)
    Func c_initial, n_initial, m_initial;
    Expr seq_len, dhqk, dhv, eps;
};

struct SequenceFuncs {
    Var x{"x"}, row{"row"}, t{"t"}, bh{"bh"}, dv{"dv"}, dqk{"dqk"};
    Func log_fgate{"log_fgate"}, m_seq{"m_seq"}, decay{"decay"}, gain{"gain"};
    Func q_scaled{"q_scaled"}, k_gained{"k_gained"}, v_aug{"v_aug"}, state_init{"state_init"};
    Func work{"work"}, h{"h"}, c_last{"c_last"}, n_last{"n_last"}, m_last{"m_last"};
    RDom r_time, r_step;  // r_step = (dqk, phase, t)
};

inline SequenceFuncs define_recurrent_sequence(const SequenceInputs &in) {
    SequenceFuncs f;
    Var x = f.x, row = f.row, t = f.t, bh = f.bh, dv = f.dv, dqk = f.dqk;
    Expr S = in.seq_len, DHQK = in.dhqk, DHV = in.dhv;

    // m_seq(t) is the max state before token t; m_seq(S) the last one.
    f.log_fgate(t, bh) = log_sigmoid(in.fgate(t, bh));
    f.r_time = RDom(0, S, "r_time");
    f.m_seq(t, bh) = in.m_initial(bh);
    GateStep scan = gate_step(f.log_fgate(f.r_time, bh), f.m_seq(f.r_time, bh), in.igate(f.r_time, bh));
    f.m_seq(f.r_time + 1, bh) = scan.m_new;
    GateStep step = gate_step(f.log_fgate(t, bh), f.m_seq(t, bh), in.igate(t, bh));
    f.decay(t, bh) = step.decay;
    f.gain(t, bh) = step.gain;

    f.q_scaled(dqk, t, bh) = widen(in.q(dqk, t, bh)) * query_scale(DHQK);
    f.k_gained(dqk, t, bh) = widen(in.k(dqk, t, bh)) * f.gain(t, bh);
    Expr xv = Halide::clamp(x, 0, DHV - 1);
    f.v_aug(x, t, bh) = Halide::select(x < DHV, widen(in.v(xv, t, bh)), x == DHV, 1.0f, 0.0f);
    f.state_init(x, dqk, bh) = Halide::select(x < DHV, in.c_initial(xv, dqk, bh), x == DHV,
                                              in.n_initial(dqk, bh), 0.0f);

    Expr state_row = Halide::clamp(row, 0, DHQK - 1);
    f.work(x, row, bh) = Halide::select(row < DHQK, f.state_init(x, state_row, bh), 0.0f);
    f.r_step = RDom(0, DHQK, 0, 2, 0, S, "r_step");
    Expr r_dqk = f.r_step.x, phase = f.r_step.y, tok = f.r_step.z;
    Expr state_update = f.decay(tok, bh) * f.work(x, r_dqk, bh) + f.k_gained(r_dqk, tok, bh) * f.v_aug(x, tok, bh);
    Expr numerator_update = f.work(x, DHQK + tok, bh) + f.q_scaled(r_dqk, tok, bh) * f.work(x, r_dqk, bh);
    f.work(x, Halide::select(phase == 0, r_dqk, DHQK + tok), bh) =
        Halide::select(phase == 0, state_update, numerator_update);

    Expr den = normalizer(f.work(DHV, DHQK + t, bh), Halide::exp(-f.m_seq(t + 1, bh)), in.eps);
    f.h(dv, t, bh) = f.work(dv, DHQK + t, bh) / den;
    f.c_last(dv, dqk, bh) = f.work(dv, dqk, bh);
    f.n_last(dqk, bh) = f.work(DHV, dqk, bh);
    f.m_last(bh) = f.m_seq(S, bh);
    return f;
}

}  // namespace hmlstm
