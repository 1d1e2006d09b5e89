// Backward of the chunkwise form (spec: "Backward"; the convention is in docs/backward.md: the normalizer den and
// the stabilizers m, mc are constants). Math only; the CPU schedule is in schedules/chunkwise_backward_cpu.cpp.
//
// It reuses the forward's Funcs (chunkwise.h) for what the backward needs again: the gates, the states before each
// chunk (recomputed by the forward's scan, or the ones the forward saved), each token's stabilizer and normalizer,
// and the intra-chunk weights W(sigma, tau) = s (q_tau . k_sigma) exp(logD - mc_tau). With dH = dh / den:
//   dC before chunk c:  G_c = F_c G_{c+1} + qbar_c^T dH_c,   G_K = dC_last        (reverse scan over chunks)
//   dW    = dH V^T                      dS = dW * s exp(logD - mc)   (the gradient of the scores q . k)
//   dq    = inter_factor * (dH C_c^T) + dS K
//   dk    = dS^T Q + w * (V G_{c+1}^T)      (w = the chunk's state weights exp(a - m_c+1))
//   dv    = W^T dH + w * (K G_{c+1})
// The gate gradients sum the gradients of the log weights of the terms that carry each gate: every term of h (and
// of the states) is exp(log weight) times a product, and the gradient of its log weight is the term's share of the
// loss's gradient. Per chunk, with dlogD = dW * W the intra-chunk ones, E_tau = q_tau . dq_inter_tau those of the
// state terms of the outputs, a_sigma = k_sigma . dk_state_sigma those of the tokens' contributions to the next
// state, and dF = F <G_{c+1}, C_c> that of the decayed state:
//   di_sigma = sum_tau dlogD(sigma, tau) + a_sigma
//   df_l     = sigmoid(-f_l) * ( sum_{u >= l} E_u + sum_{sigma < l} sum_{tau >= l} dlogD(sigma, tau)
//                               + sum_{u < l} a_u + dF )
// (the terms that span forget gate l of the chunk), the intra-chunk part from suffix sums down each column of
// dlogD. Every partial sum holds only terms that belong to it: shorter identities (q . dq - k . dk summed over
// u >= l, or row sums minus column sums) cancel large terms that span no gate l, which in float32 costs up to 1e-4
// of df where forget gates are closed.
// The initial state enters scaled by exp(m_initial): dm_initial = <G_0, C_initial>, dC_initial = G_0. dn_initial
// is 0: n only reaches den, a constant.
#pragma once

#include "chunkwise.h"

namespace hmlstm {

struct ChunkwiseBackwardInputs {
    Func dh;       // (dv, t, bh), the output's gradient in the inputs' type
    Func dc_last;  // (dv, dqk, bh), the gradient of the returned last C (zeros when none)
    Halide::ExternFuncArgument dh_input = {};  // tensor_cores only: dh as the generator's input, read in place
};

struct ChunkwiseBackwardFuncs {
    Func dh_scaled{"dh_scaled"};  // dH(dv, tau, c, bh) = dh / den
    Func dh_inter{"dh_inter"};    // dH * inter_factor, the SIMT inter-chunk product's operand
    Func dc_delta{"dc_delta"};    // qbar^T dH of one chunk, (dv, dqk, c, bh)
    Func q_scaled{"q_scaled"};    // qbar / den, dc_delta's stored operand; tensor_cores only
    Func dc_next{"dc_next"};      // G_{c+1}, c = 0..K-1: the gradient of the state after chunk c
    Func dc_next_bits{"dc_next_bits"};  // G as bfloat16 bits (rows hi, then lo), where gradient_bits
    Func v_transposed{"v_transposed"}, c_transposed{"c_transposed"}, dc_next_transposed{"dc_next_transposed"};
    Func v_weighted{"v_weighted"};  // v * w, the operand of the SIMT path's dk_state
    Func d_weight{"d_weight"}, intra_decay{"intra_decay"};
    Func d_intra{"d_intra"};  // (sigma, tau, c, bh): {gradient of the score q . k, gradient of the log weight}
    Func dq_inter{"dq_inter"}, dk_state{"dk_state"};
    // tensor_cores only: the products' stored operands, and the products that sum into dq, dk and dv
    Func ds_operand{"ds_operand"};
    Func dq_inter_unscaled{"dq_inter_unscaled"};  // dH C^T, before inter_factor
    Func w_scaled_operand{"w_scaled_operand"};  // W / den: dv's intra-chunk product with the unscaled dh
    Func dq_intra{"dq_intra"}, dk_intra{"dk_intra"}, dv_intra{"dv_intra"}, dv_state{"dv_state"};
    // G's products with v and k read in place, before the state weights w scale them per column
    Func dk_state_unweighted{"dk_state_unweighted"}, dv_state_unweighted{"dv_state_unweighted"};
    Func inter_gate{"inter_gate"}, state_gate{"state_gate"}, decay_gate{"decay_gate"};  // E, a, dF / F above
    Func decay_gate_rows{"decay_gate_rows"};
    LaneSum inter_gate_sum, state_gate_sum, intra_spanning_sum;  // tensor_cores only: the sums in a warp's order
    Func intra_suffix{"intra_suffix"};  // (sigma, tau, c, bh): sum_{tau' >= tau} dlogD(sigma, tau')
    Func intra_spanning{"intra_spanning"}, gate_suffix{"gate_suffix"}, gate_prefix{"gate_prefix"};
    // Per token (d, t, bh), position (t % L, t / L), like the forward's h: computed in tiles of the outputs
    // themselves, with no per-chunk copy stored first.
    Func dq{"dq"}, dk{"dk"}, dv{"dv"}, di{"di"}, df{"df"}, dc_initial{"dc_initial"}, dm_initial{"dm_initial"};
    Func dm_initial_rows{"dm_initial_rows"};  // per row dv of the state, so that the sum over the state is parallel
    RDom r_tau, r_dv, r_chunk_rev, r_tau_rev, r_tau_fwd;
};

// On the 16-bit tensor-core path the products with v and k (bfloat16, read in place) take the state gradients G as
// bfloat16 bits, dc_next_bits, one copy of G (a third of the bytes of the float32 copies of v * w and k * w they
// would otherwise need for TF32). The scan cannot store them itself: Halide 21 fails on an extern stage that reads
// a Tuple Func on a GPU target (the device-copy pass miscounts the stage's arguments), and compute_with refuses a
// Func fused with the one it reads. Elsewhere the products take G in float32 (TF32).
inline bool gradient_bits(const ChunkwiseInputs &in) { return in.tensor_cores && in.qkv_type.is_bfloat(); }

inline ChunkwiseBackwardFuncs define_chunkwise_backward(const ChunkwiseInputs &in, ChunkwiseFuncs &f,
                                                         const ChunkwiseBackwardInputs &grad) {
    ChunkwiseBackwardFuncs b;
    Var tau = f.tau, sigma = f.sigma, c = f.c, bh = f.bh, dqk = f.dqk, dv = f.dv, t = f.t;
    const int L = in.chunk;
    Expr S = in.seq_len;
    Expr num_chunks = (S + L - 1) / L;
    Expr scale = query_scale(in.dhqk);
    Expr token = c * L + tau;
    Expr dqk_in = feature(dqk, in.dhqk), dv_in = feature(dv, in.dhv);

    Expr dh_value = Halide::select(token < S, widen(grad.dh(dv_in, Halide::min(token, S - 1), bh)), 0.0f);
    b.dh_scaled(dv, tau, c, bh) = divided_by_den(f, dh_value, tau, c, bh);
    auto dh_operand = [&](bool k_inner) { return in_place(grad.dh_input, L, k_inner); };
    b.dh_inter(dv, tau, c, bh) = b.dh_scaled(dv, tau, c, bh) * f.inter_factor(tau, c, bh);

    // The reverse scan of the state gradient, each chunk's qbar^T dH formed right before it is added.
    b.r_tau = RDom(0, L, "r_tau_bw");
    if (in.tensor_cores) {
        // dh itself is one operand (exact in the inputs' type, read in place), qbar / den the other, stored in that
        // type: a bfloat16 product for bfloat16 inputs (TF32 for float32), its result the float32 state gradient.
        b.q_scaled(dqk, tau, c, bh) =
            product_operand(divided_by_den(f, f.q_inter(dqk, tau, c, bh), tau, c, bh), in.qkv_type);
        b.dc_delta = tensor_core_product("dc_delta", dh_operand(false), {b.q_scaled, false}, L, S);
    } else {
        b.dc_delta(dv, dqk, c, bh) = 0.0f;
        b.dc_delta(dv, dqk, c, bh) += b.dh_scaled(dv, b.r_tau, c, bh) * f.q_inter(dqk, b.r_tau, c, bh);
    }
    // Stored as dc_next(c) = G_{c+1}, the gradient of the state after chunk c, which is what chunk c's products read:
    // K states per head, so that every product over (chunk, head) has one stride (a state scan's K + 1 would not),
    // and dc_initial = G_0 one step more.
    b.r_chunk_rev = RDom(0, num_chunks - 1, "r_chunk_rev");
    Expr rev = num_chunks - 2 - b.r_chunk_rev;
    // On tensor cores dc_delta reads dh in place, so its rows stay inside dh: a schedule may compute the scan past
    // DHV (rounded-up vector stages read it), and those entries, never stored, may read any row.
    Expr dv_delta = in.tensor_cores ? dv_in : Expr(dv);
    b.dc_next(dv, dqk, c, bh) = Halide::undef<float>();
    b.dc_next(dv, dqk, num_chunks - 1, bh) = grad.dc_last(dv_in, dqk_in, bh);
    b.dc_next(dv, dqk, rev, bh) =
        f.state_decay(rev + 1, bh) * b.dc_next(dv, dqk, rev + 1, bh) + b.dc_delta(dv_delta, dqk, rev + 1, bh);
    b.dc_initial(dv, dqk, bh) =
        f.state_decay(0, bh) * b.dc_next(dv, dqk, 0, bh) + b.dc_delta(dv_delta, dqk, 0, bh);
    const bool bits = gradient_bits(in);
    if (bits) {
        // Rows [0, DHQK) hold G rounded to bfloat16 (hi), rows [DHQK, 2 DHQK) what that rounding left (lo, G - hi
        // rounded), so that the product with v gives k^T G v, the state gate's terms, to about 2^-17 (hi alone: 2^-9
        // per entry of G, which extreme gates amplify in df past the 16-bit bound). dv's product reads hi only.
        Expr is_hi = dqk < in.dhqk;
        Expr g = b.dc_next(dv, feature(Halide::select(is_hi, dqk, dqk - in.dhqk), in.dhqk), c, bh);
        Expr hi = widen(narrow(g, in.qkv_type));
        Expr lo = Halide::select(Halide::is_finite(hi), g - hi, 0.0f);
        b.dc_next_bits(dv, dqk, c, bh) = product_operand(Halide::select(is_hi, g, lo), in.qkv_type);
    }

    // The intra-chunk part, as in the parallel backward.
    b.v_transposed(sigma, dv, c, bh) = f.v_chunk(dv, sigma, c, bh);
    b.r_dv = RDom(0, in.dhv, "r_dv");
    if (in.tensor_cores) {
        // dh itself is the operand (exact in the inputs' type) and 1/den, a factor per row of the product, scales
        // its result: no rounded intermediate enters the sum over dv, whose cancellation would amplify it.
        b.d_weight = tensor_core_product("d_weight", v_operand(in, true), dh_operand(true), in.dhv, S);
    } else {
        b.d_weight(sigma, tau, c, bh) = 0.0f;
        b.d_weight(sigma, tau, c, bh) += b.dh_scaled(b.r_dv, tau, c, bh) * b.v_transposed(sigma, b.r_dv, c, bh);
    }
    b.intra_decay(sigma, tau, c, bh) =
        scale * weight_exp(in, f.intra_log_weight(sigma, tau, c, bh) - f.m_out(tau, c, bh));
    Expr dw = in.tensor_cores ? divided_by_den(f, b.d_weight(sigma, tau, c, bh), tau, c, bh)
                              : b.d_weight(sigma, tau, c, bh);
    b.d_intra(sigma, tau, c, bh) = {dw * b.intra_decay(sigma, tau, c, bh), dw * f.intra_weight(sigma, tau, c, bh)};
    auto d_scores = [&](const Expr &s_, const Expr &t_, const Expr &c_) { return b.d_intra(s_, t_, c_, bh)[0]; };
    auto d_log_weight = [&](const Expr &s_, const Expr &t_) { return b.d_intra(s_, t_, c, bh)[1]; };

    // The operands of the state products, laid out so that each product reads its vectors contiguously.
    b.c_transposed(dqk, dv, c, bh) = f.c_state(dv, dqk, c, bh);
    b.dc_next_transposed(dqk, dv, c, bh) = b.dc_next(dv, dqk, c, bh);
    b.v_weighted(dv, sigma, c, bh) = f.v_chunk(dv, sigma, c, bh) * f.state_weight(sigma, c, bh);

    Expr r_dv = b.r_dv, r_dqk = f.r_dqk;
    Expr pos = t % L, chunk = t / L;  // token t's position
    if (in.tensor_cores) {
        // The products with the state C in TF32 (float32 operands), the others on the operands' type.
        b.ds_operand(sigma, tau, c, bh) = product_operand(d_scores(sigma, tau, c), in.qkv_type);
        // inter_factor, a factor per row tau of dH C^T, scales the product's result: no operand holds dH * it.
        b.dq_inter_unscaled = tensor_core_product("dq_inter", {f.c_state, true}, {b.dh_scaled, true}, in.dhv, S);
        b.dq_inter(dqk, tau, c, bh) = f.inter_factor(tau, c, bh) * b.dq_inter_unscaled(dqk, tau, c, bh);
        // The products that reach only dq, dk or dv (stored in the inputs' type) store their results in that type;
        // those the gate gradients read stay float32.
        const bool narrow_results = in.qkv_type.is_bfloat();
        b.dq_intra = tensor_core_product("dq_intra", k_operand(in, false), {b.ds_operand, true}, L, S, narrow_results);
        b.dq(dqk, t, bh) = b.dq_inter(dqk, pos, chunk, bh) + product_entry(b.dq_intra(dqk, pos, chunk, bh));
        // G times v and k read in place (G's bits when those are bfloat16); the state weights w(sigma), a factor per
        // column of both products, scale their results, so that no operand holds v * w or k * w.
        Func g = bits ? b.dc_next_bits : b.dc_next;
        ProductOperand g_rows{g, true}, g_columns{g, false};
        b.dk_state_unweighted = tensor_core_product("dk_state", g_rows, v_operand(in, true), in.dhv, S);
        b.dk_state(dqk, sigma, c, bh) = f.state_weight(sigma, c, bh) * b.dk_state_unweighted(dqk, sigma, c, bh);
        b.dk_intra = tensor_core_product("dk_intra", q_operand(in, false), {b.ds_operand, false}, L, S, narrow_results);
        b.dk(dqk, t, bh) = b.dk_state(dqk, pos, chunk, bh) + product_entry(b.dk_intra(dqk, pos, chunk, bh));
        b.w_scaled_operand(sigma, tau, c, bh) =
            product_operand(divided_by_den(f, f.intra_weight(sigma, tau, c, bh), tau, c, bh), in.qkv_type);
        b.dv_intra = tensor_core_product("dv_intra", dh_operand(false), {b.w_scaled_operand, false}, L, S,
                                         narrow_results);
        b.dv_state_unweighted =
            tensor_core_product("dv_state", g_columns, k_operand(in, true), in.dhqk, S, narrow_results);
        b.dv_state(dv, sigma, c, bh) =
            f.state_weight(sigma, c, bh) * product_entry(b.dv_state_unweighted(dv, sigma, c, bh));
        b.dv(dv, t, bh) = product_entry(b.dv_intra(dv, pos, chunk, bh)) + b.dv_state(dv, pos, chunk, bh);
    } else {
        b.dq_inter(dqk, tau, c, bh) = 0.0f;
        b.dq_inter(dqk, tau, c, bh) += b.c_transposed(dqk, r_dv, c, bh) * b.dh_inter(r_dv, tau, c, bh);
        // The intra-chunk sums over keys (dq) and over queries (dk, dv) skip the terms past the diagonal.
        Expr key = causal_positions(L, t, t / L * L, in.causal_block, true, "r_keys").position;
        Expr query_k = causal_positions(L, t, t / L * L, in.causal_block, false, "r_queries_k").position;
        Expr query_v = causal_positions(L, t, t / L * L, in.causal_block, false, "r_queries_v").position;
        b.dq(dqk, t, bh) = b.dq_inter(dqk, pos, chunk, bh);
        b.dq(dqk, t, bh) += f.k_chunk(dqk, key, chunk, bh) * d_scores(key, pos, chunk);
        b.dk_state(dqk, sigma, c, bh) = 0.0f;
        b.dk_state(dqk, sigma, c, bh) += b.dc_next_transposed(dqk, r_dv, c, bh) * b.v_weighted(r_dv, sigma, c, bh);
        b.dk(dqk, t, bh) = b.dk_state(dqk, pos, chunk, bh);
        b.dk(dqk, t, bh) += f.q_chunk(dqk, query_k, chunk, bh) * d_scores(pos, query_k, chunk);
        b.dv(dv, t, bh) = 0.0f;
        b.dv(dv, t, bh) += b.dh_scaled(dv, query_v, chunk, bh) * f.intra_weight(pos, query_v, chunk, bh);
        b.dv(dv, t, bh) += b.dc_next(dv, r_dqk, chunk, bh) * f.k_weighted(r_dqk, pos, chunk, bh);
    }

    // Gate gradients, per chunk (see the top).
    b.inter_gate_sum = define_row_sum(
        b.inter_gate, {tau, c, bh},
        {{[&](const Expr &d) { return f.q_chunk(d, tau, c, bh) * b.dq_inter(d, tau, c, bh); }, in.dhqk}},
        in.tensor_cores);
    auto state_gate_term = [&](const Expr &d) {
        Expr dk_state = b.dk_state(d, sigma, c, bh);
        if (bits) {  // plus the product's rows from G's remainder (dc_next_bits above)
            dk_state += f.state_weight(sigma, c, bh) * b.dk_state_unweighted(d + in.dhqk, sigma, c, bh);
        }
        return f.k_chunk(d, sigma, c, bh) * dk_state;
    };
    b.state_gate_sum = define_row_sum(b.state_gate, {sigma, c, bh}, {{state_gate_term, in.dhqk}}, in.tensor_cores);
    // Through the transposed Funcs (the same values; inline, G(dv, dqk) C(dv, dqk)), so that a schedule holding
    // both transposed reads the two in one layout.
    b.decay_gate_rows(dv, c, bh) = 0.0f;
    b.decay_gate_rows(dv, c, bh) += b.dc_next_transposed(r_dqk, dv, c, bh) * b.c_transposed(r_dqk, dv, c, bh);
    b.decay_gate(c, bh) = 0.0f;
    b.decay_gate(c, bh) += b.decay_gate_rows(r_dv, c, bh);
    b.r_tau_rev = RDom(0, L, "r_tau_rev");
    Expr rt = L - 1 - b.r_tau_rev;
    b.intra_suffix(sigma, tau, c, bh) = Halide::undef<float>();
    b.intra_suffix(sigma, L, c, bh) = 0.0f;
    b.intra_suffix(sigma, rt, c, bh) = b.intra_suffix(sigma, rt + 1, c, bh) + d_log_weight(sigma, rt);
    b.intra_spanning_sum = define_row_sum(
        b.intra_spanning, {tau, c, bh},
        {{[&](const Expr &s) { return Halide::select(s < tau, b.intra_suffix(s, tau, c, bh), 0.0f); }, L, tau - 1}},
        in.tensor_cores);
    b.gate_suffix(tau, c, bh) = Halide::undef<float>();
    b.gate_suffix(L, c, bh) = 0.0f;
    b.gate_suffix(rt, c, bh) = b.gate_suffix(rt + 1, c, bh) + b.inter_gate(rt, c, bh);
    b.r_tau_fwd = RDom(1, L - 1, "r_tau_fwd");
    Expr rp = b.r_tau_fwd;
    b.gate_prefix(tau, c, bh) = Halide::undef<float>();
    b.gate_prefix(0, c, bh) = f.state_decay(c, bh) * b.decay_gate(c, bh);
    b.gate_prefix(rp, c, bh) = b.gate_prefix(rp - 1, c, bh) + b.state_gate(rp - 1, c, bh);

    // The gate gradients per token.
    b.di(t, bh) = b.intra_suffix(pos, 0, chunk, bh) + b.state_gate(pos, chunk, bh);
    Expr fgate = in.fgate(t, bh);
    b.df(t, bh) = (b.gate_suffix(pos, chunk, bh) + b.intra_spanning(pos, chunk, bh) + b.gate_prefix(pos, chunk, bh)) /
                  (1.0f + Halide::exp(fgate));  // d logsigmoid(f) / df = sigmoid(-f)

    b.dm_initial_rows(dv, bh) = 0.0f;
    b.dm_initial_rows(dv, bh) += b.dc_initial(dv, r_dqk, bh) * f.c_state(dv, r_dqk, 0, bh);
    b.dm_initial(bh) = 0.0f;
    b.dm_initial(bh) += b.dm_initial_rows(r_dv, bh);
    return b;
}

}  // namespace hmlstm
