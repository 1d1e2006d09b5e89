// Chunkwise form of the mLSTM cell (spec: "Chunkwise form"). Math only; the CPU schedule is in
// schedules/chunkwise_cpu.cpp.
//
// Buffers: q, k (dqk, t, bh), v (dv, t, bh), gates (t, bh), C (dv, dqk, bh), n (dqk, bh), m (bh).
// Positions are (tau, c): token tau of chunk c, t = c * L + tau. A last chunk shorter than L is exact: positions past
// S read input gate log_zero() and log forget gate 0 (a closed input gate, an open forget gate), so they add nothing
// to C or n, leave m unchanged, and their outputs are never stored.
#pragma once

#include <stdexcept>

#include "batched_product.h"
#include "lane_sum.h"

namespace hmlstm {

struct ChunkwiseInputs {
    Func q, k, v, igate, fgate;
    Func c_initial, n_initial, m_initial;
    Expr seq_len, dhqk, dhv, eps, norm_val, stabilize_correctly;
    int chunk = 64;
    // The matrix products as tensor-core extern stages (batched_product.h) rather than RDom reductions; their
    // operands are bfloat16 when q, k, v are (qkv_type), else float32 multiplied in TF32.
    bool tensor_cores = false;
    Halide::Type qkv_type = Halide::Float(32);
    // tensor_cores only (and required there): q, k, v as the generator's inputs, which the products read in place
    // (batched_product.h, in_place).
    Halide::ExternFuncArgument q_input, k_input, v_input;
    // Set: the chunk size is this run-time value instead of `chunk` (the experiment of docs/autotune.md: one
    // pipeline specialized per chunk size).
    Expr chunk_at_run_time;
    // tensor_cores with float32 inputs, set by the forward: no float32 copy where the value itself will do. h's
    // state product reads q in place (inter_factor, a factor per column, scales its result instead of q_inter),
    // and the normalizer sums the stored W of h's intra-chunk product instead of recomputing every weight (no
    // exponential per element). Not for bfloat16 inputs, whose W is rounded: summing it cost h 0.018 relative error
    // on the H200 against the spec's 0.010 (docs/gpu-tests.md, session 19), and the TF32 product cannot read
    // bfloat16 q. The backward, which stores no W and needs q_inter for dc_delta anyway, leaves it unset.
    bool float32_in_place = false;
    // tensor_cores with float32 inputs, set by the forward (with float32_in_place): h is itself the sum of the two
    // products, written by cuBLAS (tensor_core_product_sum), their operands scaled per position first: q times
    // inter_factor / den and W / den, both stored by one stage (product_operands) that computes den per position
    // itself. No pass over h or over the normalizer of its own; h stays float32 throughout, so this is not for
    // bfloat16 outputs (their two products would each be rounded).
    bool h_from_products = false;
    // Where positive, the per-token outputs' sums over a chunk's positions skip the terms past the causal diagonal
    // (their weights are zero) by aligned blocks of this many positions (causal_positions): a schedule that
    // computes such a block of tokens at a time, as the CPU's register blocks do, loops over the same positions for
    // every token of the block. 0: every position, the same values.
    int causal_block = 0;
};

struct ChunkwiseFuncs {
    Var tau{"tau"}, sigma{"sigma"}, c{"c"}, bh{"bh"}, dqk{"dqk"}, dv{"dv"}, t{"t"}, kk{"kk"};
    // gates, per chunk
    Func log_fgate{"log_fgate"}, igate{"igate_chunk"};  // not "igate": that names the input
    Func cum_log_fgate{"cum_log_fgate"};  // (sigma, tau): sum_{l=sigma+1..tau} lf_l within the chunk
    Func log_fgate_prefix{"log_fgate_prefix"};  // (tau): sum_{l=0..tau} lf_l; defined on the tensor-core paths only
    Func b{"b"}, a{"a"}, a_max{"a_max"};
    // inter-chunk state recurrence; index kk is the state before chunk kk (kk = 0 the initial state)
    Func m_state{"m_state"}, state_decay{"state_decay"}, state_weight{"state_weight"};
    Func k_chunk{"k_chunk"}, v_chunk{"v_chunk"}, q_chunk{"q_chunk"}, k_transposed{"k_transposed"};
    Func k_weighted{"k_weighted"}, c_delta{"c_delta"}, n_delta{"n_delta"};
    Func c_state{"c_state"}, n_state{"n_state"};
    // outputs of each chunk
    // intra_max: each position's largest intra-chunk log weight; on the tensor-core paths the running maximum of
    // i(sigma) - F(sigma) instead, a scan over the chunk's positions 1..L-1 (r_position) like log_fgate_prefix's,
    // F(tau) added back in m_out.
    Func intra_log_weight{"intra_log_weight"}, intra_max{"intra_max"}, m_out{"m_out"};
    Func inter_factor{"inter_factor"};  // s exp(b + m_{k-1} - mc): qbar = q * inter_factor
    Func q_inter{"q_inter"};  // qbar of the spec
    Func scores{"scores"}, intra_weight{"intra_weight"};
    // h_num and h are per token (dv, t, bh), position (t % L, t / L): computed in tiles of h itself, they bound every
    // per-chunk stage they read by the chunk, and no per-chunk copy of h is stored first.
    Func h_num{"h_num"}, h_den_dot{"h_den_dot"}, den{"den"}, h{"h"};
    // (t, bh): every token's normalizer and stabilizer, den and m_out, which the forward saves for the backward
    Func token_den{"token_den"}, token_m{"token_m"};
    // Set by define_chunkwise when den and m_out came given (the saved per-token values): intra_max, h_den_dot and
    // den_sum are then not defined.
    bool token_stats_given = false;
    Func den_inverse{"den_inverse"};  // 1 / den per position; tensor_cores only (divided_by_den)
    LaneSum den_sum;  // h_den_dot's two sums in a warp's order (lane_sum.h); tensor_cores only
    // h_from_products only (define_product_operands): (x, which, tau, c, bh) = q_inter / den at feature x
    // (which = 0), W / den at key position x (which = 1), each zero past its extent; the values before the scaling
    // over the first operand_span features (operand_values); and the normalizer they divide by, summed from those
    // values (its own copy of den's sums: den itself then serves only the per-token output).
    Func operand_values{"operand_values"}, product_operands{"product_operands"};
    static constexpr int operand_block = 128;  // features of a warp's pass of 4 per lane
    int operand_span = 0;                      // max(operand_block, the chunk size)
    Expr operands_fit;                         // max(DHQK, L) <= operand_span: every feature is in the span
    Expr operand_extent;                       // product_operands' features: max(DHQK, L) in blocks, >= the span
    Func operand_den_dot{"operand_den_dot"}, operand_den_inverse{"operand_den_inverse"};
    LaneSum operand_den_sum;
    Var x{"x"}, which{"which"};
    // tensor_cores only: the products' stored operands and the two parts of the numerator
    Func kw_operand{"kw_operand"};
    Func w_operand{"w_operand"}, h_inter{"h_inter"}, h_intra{"h_intra"};
    Func c_last{"c_last"}, n_last{"n_last"}, m_last{"m_last"};
    RDom r_tau, r_sigma, r_chunk, r_dqk, r_position;
};

// How a chunk's log forget-gate matrix is built. The SIMT and CPU paths sum each entry of the triangle from its own
// terms (define_triangle_cumsum), L^2 stored values per chunk. The tensor-core paths, held to the 16-bit bound
// anyway, take differences of one prefix sum per position, F(tau) - F(sigma): L values per chunk, which no stage
// stores as a matrix, and intra_max from a scan over L values instead of a pass over the matrix. An entry then
// rounds to |F| 2^-24 (at most 256 * 30 * 2^-24 = 5e-4 in the exponent, for closed forget gates), not to its own
// size; the diagonal F(tau) - F(tau) stays exact.
inline bool uses_gate_prefix_sums(const ChunkwiseInputs &in) { return in.tensor_cores; }

// The exponential of the L x L intra-chunk weights, the one exp per element of the chunk's matrix stages: the GPU's
// approximate one on the tensor-core paths (16-bit bound; their operands round to 2^-8 anyway), else Halide's.
inline Expr weight_exp(const ChunkwiseInputs &in, const Expr &x) {
    return in.tensor_cores ? approximate_exp(x) : Halide::exp(x);
}

// q, k and v as operands of the tensor-core products, read in place.
inline ProductOperand q_operand(const ChunkwiseInputs &in, bool k_inner) {
    return in_place(in.q_input, in.chunk, k_inner);
}
inline ProductOperand k_operand(const ChunkwiseInputs &in, bool k_inner) {
    return in_place(in.k_input, in.chunk, k_inner);
}
inline ProductOperand v_operand(const ChunkwiseInputs &in, bool k_inner) {
    return in_place(in.v_input, in.chunk, k_inner);
}

// x / den(tau, c, bh). The tensor-core paths multiply by the reciprocal, stored once per position: an IEEE float32
// division per element of their L x L and per-token stages cost more than the pass's memory traffic (1 ulp more
// error, under their 16-bit bound); the others divide.
inline Expr divided_by_den(const ChunkwiseFuncs &f, const Expr &x, const Expr &tau, const Expr &c, const Expr &bh) {
    return f.den_inverse.defined() ? x * f.den_inverse(tau, c, bh) : x / f.den(tau, c, bh);
}

// h_from_products: h's two scaled operands, product_operands(x, which, tau, c, bh) = operand_values / den, and the
// normalizer den they divide by, its sums over the operands' values themselves (operand_den_sum, every weight, the
// zeros too). operand_values, q_inter (which = 0) and the intra-chunk weights (which = 1), each zero past its
// extent, is a stage over the first operand_span features only, in the order a warp's lanes hold them (4
// consecutive ones each: the sums' blocked order), so that a schedule may keep a position's values in registers
// for both the sums and the stores; features past the span (a head dim over it) are computed where they are read.
inline void define_product_operands(const ChunkwiseInputs &in, ChunkwiseFuncs &f, const Expr &L, const Expr &floor) {
    Var x = f.x, which = f.which, tau = f.tau, c = f.c, bh = f.bh;
    const int span = std::max(ChunkwiseFuncs::operand_block, in.chunk);
    f.operand_span = span;
    f.operands_fit = Halide::max(in.dhqk, L) <= span;
    auto value = [&](const Expr &x, const Expr &which) {
        return Halide::select(
            which == 0, Halide::select(x < in.dhqk, f.q_chunk(x, tau, c, bh) * f.inter_factor(tau, c, bh), 0.0f),
            Halide::select(x < L, f.intra_weight(Halide::min(x, L - 1), tau, c, bh), 0.0f));
    };
    f.operand_values(x, which, tau, c, bh) = value(x, which);
    auto n_state = [&](const Expr &d) {  // zero past DHQK, where q_inter is zero too
        return Halide::select(d < in.dhqk, f.n_state(Halide::min(d, in.dhqk - 1), c, bh), 0.0f);
    };
    // The weights fit the span (L <= span); q_inter's features past it, if any, come last.
    f.operand_den_sum = define_row_sum(
        f.operand_den_dot, {tau, c, bh},
        {{[&](const Expr &d) { return f.operand_values(d, 0, tau, c, bh) * n_state(d); }, span},
         {[&](const Expr &s) { return f.operand_values(s, 1, tau, c, bh); }, span},
         {[&](const Expr &d) { return value(d + span, 0) * n_state(d + span); }, Halide::max(in.dhqk - span, 0)}},
        true, LaneSum::Order::blocked);
    f.operand_den_inverse(tau, c, bh) = 1.0f / normalizer(f.operand_den_dot(tau, c, bh), floor, in.eps);
    // Stored from operand_values where every feature is in the span, else computed again: a schedule specializes
    // on operands_fit (a read of operand_values past the span, even one a select discards, would be a read of
    // another lane's registers).
    Expr stored = Halide::select(f.operands_fit, f.operand_values(x, which, tau, c, bh), value(x, which));
    f.product_operands(x, which, tau, c, bh) = stored * f.operand_den_inverse(tau, c, bh);
    // Every feature either product reads, in whole blocks, at least the span.
    Expr extent = Halide::max(in.dhqk, L);
    const int block = ChunkwiseFuncs::operand_block;
    f.operand_extent = Halide::max((extent + block - 1) / block * block, span);
}

// `f` may come with c_state, n_state and m_state set: undefined Funcs (a generator's outputs) get the state scan,
// defined ones (states the forward saved, read back by the backward) are used as they are. Likewise den and m_out
// (tau, c, bh), both or neither: the normalizer and stabilizer of every position, as the forward saved them.
inline ChunkwiseFuncs define_chunkwise(const ChunkwiseInputs &in, ChunkwiseFuncs f = {}) {
    const bool states_given = f.c_state.defined();
    f.token_stats_given = f.den.defined();
    if (in.h_from_products && !in.tensor_cores) {
        throw std::invalid_argument("define_chunkwise: h_from_products needs the tensor-core products");
    }
    if (f.token_stats_given != f.m_out.defined()) {
        throw std::invalid_argument("define_chunkwise: den and m_out come given together or not at all");
    }
    Var tau = f.tau, sigma = f.sigma, c = f.c, bh = f.bh, dqk = f.dqk, dv = f.dv, t = f.t, kk = f.kk;
    const Expr L = in.chunk_at_run_time.defined() ? in.chunk_at_run_time : Expr(in.chunk);
    Expr S = in.seq_len;
    Expr num_chunks = (S + L - 1) / L;
    Expr scale = query_scale(in.dhqk);

    auto token = [&](const Expr &pos) { return c * L + pos; };
    auto clamped = [&](const Expr &pos) { return Halide::min(token(pos), S - 1); };

    f.log_fgate(tau, c, bh) = Halide::select(token(tau) < S, log_sigmoid(in.fgate(clamped(tau), bh)), 0.0f);
    f.igate(tau, c, bh) = Halide::select(token(tau) < S, in.igate(clamped(tau), bh), log_zero());
    Expr dqk_in = feature(dqk, in.dhqk), dv_in = feature(dv, in.dhv);
    f.q_chunk(dqk, tau, c, bh) = Halide::select(token(tau) < S, widen(in.q(dqk_in, clamped(tau), bh)), 0.0f);
    f.k_chunk(dqk, tau, c, bh) = Halide::select(token(tau) < S, widen(in.k(dqk_in, clamped(tau), bh)), 0.0f);
    f.k_transposed(sigma, dqk, c, bh) = f.k_chunk(dqk, sigma, c, bh);
    f.v_chunk(dv, tau, c, bh) = Halide::select(token(tau) < S, widen(in.v(dv_in, clamped(tau), bh)), 0.0f);

    // Every b, a and intra-chunk logD comes from the chunk's one log forget-gate matrix.
    f.r_sigma = RDom(0, L, "r_sigma");
    const bool prefix_sums = uses_gate_prefix_sums(in);
    if (prefix_sums) {
        Func F = f.log_fgate_prefix;
        // A closed forget gate (f = -inf) counts as -1e4: F stays finite, so that F - F is never inf - inf, and
        // exp(-1e4) is as much 0 as exp(-inf). Summed in token order, a scan over the chunk's positions.
        F(tau, c, bh) = Halide::max(f.log_fgate(tau, c, bh), -1e4f);
        f.r_position = RDom(1, L - 1, "r_position");
        F(f.r_position, c, bh) = F(f.r_position - 1, c, bh) + F(f.r_position, c, bh);
        f.cum_log_fgate(sigma, tau, c, bh) = F(tau, c, bh) - F(sigma, c, bh);  // read only where sigma <= tau
        f.b(tau, c, bh) = F(tau, c, bh);
    } else {
        f.r_tau = define_triangle_cumsum(f.cum_log_fgate, f.log_fgate, sigma, tau, {c, bh}, L, "r_tau");
        f.b(tau, c, bh) = f.log_fgate(0, c, bh) + f.cum_log_fgate(0, tau, c, bh);
    }
    f.a(sigma, c, bh) = f.cum_log_fgate(sigma, L - 1, c, bh) + f.igate(sigma, c, bh);
    // The maxima as explicit updates (not Halide::maximum) so that schedules can split their loops.
    f.a_max(c, bh) = Halide::Float(32).min();
    f.a_max(c, bh) = Halide::max(f.a_max(c, bh), f.a(f.r_sigma, c, bh));

    // Inter-chunk recurrence of the stabilizer (serial over chunks, gates only).
    f.r_chunk = RDom(0, num_chunks, "r_chunk");
    Expr rc = f.r_chunk;
    if (!states_given) {
        f.m_state(kk, bh) = in.m_initial(bh);
        f.m_state(rc + 1, bh) = gate_step(f.b(L - 1, rc, bh), f.m_state(rc, bh), f.a_max(rc, bh)).m_new;
    }
    f.state_decay(c, bh) = gate_step(f.b(L - 1, c, bh), f.m_state(c, bh), f.a_max(c, bh)).decay;
    f.state_weight(sigma, c, bh) = Halide::exp(f.a(sigma, c, bh) - f.m_state(c + 1, bh));

    // Each chunk's contribution K^T diag(w) V and K^T w, then the serial state scan.
    f.k_weighted(dqk, sigma, c, bh) = f.k_chunk(dqk, sigma, c, bh) * f.state_weight(sigma, c, bh);
    auto operand = [&](const Expr &x) { return product_operand(x, in.qkv_type); };
    if (in.tensor_cores) {
        f.kw_operand(dqk, sigma, c, bh) = operand(f.k_weighted(dqk, sigma, c, bh));
        f.c_delta = tensor_core_product("c_delta", v_operand(in, false), {f.kw_operand, false}, L, S);
    } else {
        f.c_delta(dv, dqk, c, bh) = 0.0f;
        f.c_delta(dv, dqk, c, bh) += f.k_weighted(dqk, f.r_sigma, c, bh) * f.v_chunk(dv, f.r_sigma, c, bh);
    }
    f.n_delta(dqk, c, bh) = 0.0f;
    f.n_delta(dqk, c, bh) += f.k_weighted(dqk, f.r_sigma, c, bh);
    // Undefined until written (a pure definition would write every chunk's state once more): update 0 stores the
    // initial state, update 1 scans.
    if (!states_given) {
        f.c_state(dv, dqk, kk, bh) = Halide::undef<float>();
        f.c_state(dv, dqk, 0, bh) = in.c_initial(dv_in, dqk_in, bh);
        f.c_state(dv, dqk, rc + 1, bh) =
            f.state_decay(rc, bh) * f.c_state(dv, dqk, rc, bh) + f.c_delta(dv, dqk, rc, bh);
        f.n_state(dqk, kk, bh) = Halide::undef<float>();
        f.n_state(dqk, 0, bh) = in.n_initial(dqk_in, bh);
        f.n_state(dqk, rc + 1, bh) = f.state_decay(rc, bh) * f.n_state(dqk, rc, bh) + f.n_delta(dqk, rc, bh);
    }

    // Outputs of chunk c from the state before it and the chunk's own tokens.
    f.intra_log_weight(sigma, tau, c, bh) = Halide::select(
        sigma <= tau, f.cum_log_fgate(sigma, tau, c, bh) + f.igate(sigma, c, bh), log_zero());
    if (!f.token_stats_given) {
        Expr row_max;  // max_{sigma <= tau} of the intra-chunk log weights
        if (prefix_sums) {  // max_{sigma <= tau} F(tau) - F(sigma) + i(sigma), F(tau) taken out of the max
            Func F = f.log_fgate_prefix;
            Expr r = f.r_position;
            f.intra_max(tau, c, bh) = f.igate(tau, c, bh) - F(tau, c, bh);  // then its running maximum, a scan
            f.intra_max(r, c, bh) = Halide::max(f.intra_max(r - 1, c, bh), f.intra_max(r, c, bh));
            // The value the whole row's maximum has (log_zero() past tau, the float minimum as its start), exactly.
            Expr masked = Halide::select(tau < L - 1, log_zero(), Halide::Float(32).min());
            row_max = Halide::max(f.intra_max(tau, c, bh), masked) + F(tau, c, bh);
        } else {
            f.intra_max(tau, c, bh) = Halide::Float(32).min();
            f.intra_max(tau, c, bh) = Halide::max(f.intra_max(tau, c, bh), f.intra_log_weight(f.r_sigma, tau, c, bh));
            row_max = f.intra_max(tau, c, bh);
        }
        f.m_out(tau, c, bh) = Halide::max(f.b(tau, c, bh) + f.m_state(c, bh), row_max);
    }
    f.inter_factor(tau, c, bh) = scale * Halide::exp(f.b(tau, c, bh) + f.m_state(c, bh) - f.m_out(tau, c, bh));
    f.q_inter(dqk, tau, c, bh) = f.q_chunk(dqk, tau, c, bh) * f.inter_factor(tau, c, bh);

    f.r_dqk = RDom(0, in.dhqk, "r_dqk");
    const Expr t_tau = t % L, t_c = t / L;  // token t's position
    if (in.tensor_cores) {
        f.scores = tensor_core_product("scores", k_operand(in, true), q_operand(in, true), in.dhqk, S);
    } else {
        f.scores(sigma, tau, c, bh) = 0.0f;
        f.scores(sigma, tau, c, bh) += f.q_chunk(f.r_dqk, tau, c, bh) * f.k_transposed(sigma, f.r_dqk, c, bh);
    }
    Expr intra_decay = scale * weight_exp(in, f.intra_log_weight(sigma, tau, c, bh) - f.m_out(tau, c, bh));
    f.intra_weight(sigma, tau, c, bh) = f.scores(sigma, tau, c, bh) * intra_decay;

    if (in.tensor_cores && !in.h_from_products) {  // (h_from_products: h is defined after the normalizer)
        // The state product in TF32 (the state stays float32), the intra-chunk one on the operands' type.
        f.w_operand(sigma, tau, c, bh) = operand(f.intra_weight(sigma, tau, c, bh));
        ProductOperand q_part = in.float32_in_place ? q_operand(in, true) : ProductOperand{f.q_inter, true};
        f.h_inter = tensor_core_product("h_inter", {f.c_state, false}, q_part, in.dhqk, S);
        // h_intra in the inputs' type: it only reaches h, stored in that type (bfloat16 or float32) anyway.
        f.h_intra = tensor_core_product("h_intra", v_operand(in, false), {f.w_operand, true}, L, S,
                                        in.qkv_type.is_bfloat());
        Expr h_inter = f.h_inter(dv, t_tau, t_c, bh);
        if (in.float32_in_place) h_inter *= f.inter_factor(t_tau, t_c, bh);
        f.h_num(dv, t, bh) = h_inter + product_entry(f.h_intra(dv, t_tau, t_c, bh));
    } else if (!in.tensor_cores) {
        f.h_num(dv, t, bh) = 0.0f;
        // The states are a generator output, which a register block past DHV must not read out of: clamped, with
        // likely() so that Halide keeps the clamp out of the blocks that lie inside.
        Expr dv_state = Halide::clamp(Halide::likely(dv), 0, in.dhv - 1);
        f.h_num(dv, t, bh) += f.q_inter(f.r_dqk, t_tau, t_c, bh) * f.c_state(dv_state, f.r_dqk, t_c, bh);
        // v read in place: a position past S (a partial last chunk) reads token S - 1, and its weight is exactly 0.
        Expr key = causal_positions(L, t, t / L * L, in.causal_block, true, "r_keys").position;
        Expr v_token = Halide::min(t_c * L + key, S - 1);
        f.h_num(dv, t, bh) += f.intra_weight(key, t_tau, t_c, bh) * widen(in.v(dv_state, v_token, bh));
    }
    // The normalizer of position (tau, c, bh): h_den_dot's sums (q_inter . n and the intra-chunk weights), then den.
    Expr floor = Halide::select(in.stabilize_correctly, in.norm_val * Halide::exp(-f.m_out(tau, c, bh)), in.norm_val);
    // skip_past_tau: the sum of the weights stops at tau (those past it are zero) where a warp can skip them.
    auto define_den = [&](Func den_dot, bool skip_past_tau) {
        return define_row_sum(
            den_dot, {tau, c, bh},
            {{[&](const Expr &d) {  // q_inter . n
                  Expr q = in.float32_in_place ? f.q_chunk(d, tau, c, bh) * f.inter_factor(tau, c, bh)
                                               : Expr(f.q_inter(d, tau, c, bh));
                  return q * f.n_state(d, c, bh);
              },
              in.dhqk},
             {[&](const Expr &s) {
                  return in.float32_in_place && !in.h_from_products ? Expr(f.w_operand(s, tau, c, bh))
                                                                    : Expr(f.intra_weight(s, tau, c, bh));
              },
              L, skip_past_tau ? Expr(tau) : Expr()}},  // causal: the weights past tau are zero
            in.tensor_cores);
    };
    if (!f.token_stats_given) {
        f.den_sum = define_den(f.h_den_dot, true);
        f.den(tau, c, bh) = normalizer(f.h_den_dot(tau, c, bh), floor, in.eps);
    }
    if (in.h_from_products) {
        define_product_operands(in, f, L, floor);
        f.h = tensor_core_product_sum("h", {f.c_state, false}, v_operand(in, false), f.product_operands, in.dhqk, L,
                                      in.chunk, S);
    } else {
        if (in.tensor_cores) f.den_inverse(tau, c, bh) = 1.0f / f.den(tau, c, bh);
        f.h(dv, t, bh) = divided_by_den(f, f.h_num(dv, t, bh), t_tau, t_c, bh);
    }
    f.token_den(t, bh) = f.den(t_tau, t_c, bh);
    f.token_m(t, bh) = f.m_out(t_tau, t_c, bh);

    f.c_last(dv, dqk, bh) = f.c_state(dv, dqk, num_chunks, bh);
    f.n_last(dqk, bh) = f.n_state(dqk, num_chunks, bh);
    f.m_last(bh) = f.m_state(num_chunks, bh);
    return f;
}

}  // namespace hmlstm
