// Math shared by every form of the mLSTM cell (spec: ../shared/spec/MLSTM.md, "Shapes and names").
// Keeping it in one place is what stops the recurrent, parallel and chunkwise forms from drifting apart.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"

namespace hmlstm {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

// logsigmoid(f) = -softplus(-f), written so that no exp() overflows. log(1 + e) for e = exp(-|f|) below 1e-3
// uses its series: float32 log(1 + e) rounds tiny e to 0, a bias that long sequences of open forget gates sum up.
inline Expr log_sigmoid(const Expr &f) {
    Expr e = Halide::exp(-Halide::abs(f));
    Expr log1p_e = Halide::select(e < 1e-3f, e * (1.0f - e * (0.5f - e * (1.0f / 3.0f))), Halide::log(1.0f + e));
    return Halide::min(f, 0.0f) - log1p_e;
}

// The normalizer of every form: max(|q . n|, floor) + eps, where floor is exp(-m) (or norm_val * exp(-m)).
inline Expr normalizer(const Expr &q_dot_n, const Expr &floor, const Expr &eps) {
    return Halide::max(Halide::abs(q_dot_n), floor) + eps;
}

// How bfloat16 data become float32 and back: Halide's own casts, or integer operations on the bits. Halide's PTX
// backend cannot cast bfloat16, so CUDA generators set this (from their target, at the start of generate());
// on x86 the casts are the fast path (the bit version made the bf16 chunkwise kernel 1.5x slower there).
inline bool &bfloat16_on_bits() {
    static bool on_bits = false;
    return on_bits;
}

// Inputs may be float32 or bfloat16; all arithmetic is float32. A bfloat16 is the upper half of a float32, so
// widening is exact.
inline Expr widen(const Expr &x) {
    if (!x.type().is_bfloat() || !bfloat16_on_bits()) return Halide::cast<float>(x);
    return Halide::reinterpret<float>(Halide::cast<uint32_t>(Halide::reinterpret<uint16_t>(x)) << 16);
}

// A float32 result stored as the output type: bfloat16 rounds to nearest, ties to even; NaN stays a (quiet) NaN.
inline Expr narrow(const Expr &x, const Halide::Type &type) {
    if (!type.is_bfloat() || !bfloat16_on_bits()) return Halide::cast(type, x);
    Expr bits = Halide::reinterpret<uint32_t>(x);
    Expr rounded = (bits + (0x7fff + ((bits >> 16) & 1))) >> 16;
    Expr nan = (bits & 0x7fffffff) > 0x7f800000;
    return Halide::reinterpret(type, Halide::cast<uint16_t>(Halide::select(nan, (bits >> 16) | 0x40, rounded)));
}

// A feature index clamped into [0, extent): the identity on every index the math uses. It lets a schedule compute
// whole register blocks past the last column (those values are never stored) without reading past a buffer.
inline Expr feature(const Expr &index, const Expr &extent) {
    return Halide::clamp(index, 0, extent - 1);
}

// 1/sqrt(DHQK), the query scale of the spec.
inline Expr query_scale(const Expr &dhqk) {
    return 1.0f / Halide::sqrt(Halide::cast<float>(dhqk));
}

// exp(x) on an NVIDIA GPU as its ex2.approx instruction: 2^(x log2 e), one special-function op instead of Halide's
// polynomial (about 25 instructions). Relative error about 2^-22 plus |x| 2^-24 from rounding x log2 e; exp(-inf)
// and exp(log_zero()) are 0. Only for CUDA code of the tensor-core paths, which are held to the 16-bit bound (the
// x86 backend has no such instruction).
inline Expr approximate_exp(const Expr &x) {
    return Halide::Internal::Call::make(Halide::Float(32), "llvm.nvvm.ex2.approx.f", {x * 1.44269504088896341f},
                                        Halide::Internal::Call::PureExtern);
}

// log(0) for masked or absent positions. A finite stand-in for -inf: exp(log_zero() - m) is exactly 0 for any m
// a real input can produce, and the simplifier treats it as the plain number it is.
inline Expr log_zero() {
    return Expr(-1e30f);
}

// One step of the stabilized gate recurrence (spec, "Recurrent step"): the new max state and the factors that
// scale the old state (decay = f') and the new contribution (gain = i'). The chunkwise form applies it per chunk
// with the chunk's total log forget gate and its largest input weight.
struct GateStep {
    Expr m_new, decay, gain;
};

inline GateStep gate_step(const Expr &log_f, const Expr &m_prev, const Expr &log_i) {
    Expr m_new = Halide::max(log_f + m_prev, log_i);
    return {m_new, Halide::exp(log_f + m_prev - m_new), Halide::exp(log_i - m_new)};
}

// The log forget-gate matrix of the parallel and chunkwise forms (spec, "Parallel form"):
//   cum(j, t, outer...) = sum_{l=j+1..t} log_fgate(l, outer...)  for j < t, and 0 for j >= t,
// summed down each column of the lower triangle, one row per step of the returned RDom over t in [1, extent). Each
// entry is a sum of only its own terms: a difference of two long prefix sums would lose the small ones.
inline RDom define_triangle_cumsum(Func cum, Func log_fgate, const Var &j, const Var &t,
                                   const std::vector<Var> &outer, const Expr &extent, const std::string &name) {
    RDom r(1, extent - 1, name);
    std::vector<Expr> pure{j, t}, row{j, r.x}, above{j, r.x - 1}, gate{r.x};
    for (const Var &v : outer) {
        pure.push_back(v);
        row.push_back(v);
        above.push_back(v);
        gate.push_back(v);
    }
    cum(pure) = 0.0f;
    cum(row) = Halide::select(j < r.x, cum(above) + log_fgate(gate), 0.0f);
    return r;
}

// The positions r of token t's chunk (L of them, the first at global token index chunk_start) that a causal sum
// over the chunk visits: those at or before t (`up_to`, a sum over keys) or at or after it (over queries). With
// `block` > 1 the range widens to the aligned block of that many tokens holding t, so that every token of a block
// has the same range; 1: exactly t's; 0: all L (the terms past the diagonal are zero either way). `position` is
// the chunk position to read at each step: r, or over queries with blocks L - 1 - r, so that both bounds are upper
// bounds on r, the form Halide 21's simplifier reduces for each token of a block to the block's own (a lower
// bound, or t % L in place of t - chunk_start, keeps a modulo, and so a test per token inside the loop).
struct CausalPositions {
    RDom r;
    Expr position;
};
// Where `all_positions` (optional) holds at run time, the sum visits every position (a custom mask's sums).
inline CausalPositions causal_positions(const Expr &L, const Expr &t, const Expr &chunk_start, int block, bool up_to,
                                        const std::string &name, const Expr &all_positions = Expr()) {
    RDom r(0, L, name);
    auto visit = [&](const Expr &bound) { r.where(all_positions.defined() ? all_positions || bound : bound); };
    if (block == 1) visit(up_to ? chunk_start + r <= t : chunk_start + r >= t);
    if (block <= 1) return {r, r};
    Expr block_start = t / block * block;
    if (up_to) {
        visit(chunk_start + r <= block_start + (block - 1));
        return {r, r};
    }
    // L - 1 - r >= block_start - chunk_start, with chunk_start on both sides: as written here.
    visit(chunk_start + r <= 2 * chunk_start + (L - 1) - block_start);
    return {r, L - 1 - r};
}

}  // namespace hmlstm
