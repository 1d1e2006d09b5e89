// CPU schedule of the chunkwise backward (math: generators/chunkwise_backward.h).
#include "cpu_schedules.h"

#include <algorithm>

namespace hmlstm {

using namespace Halide;

// Phases, each a loop nest of its own: (1) the gates and (2) the states, as in the forward (or the saved states,
// read in place); (3) per chunk, its stabilizers, intra-chunk weights, normalizers and scaled output gradients;
// (4) the reverse scan of the state gradient, each chunk's qbar^T dH formed right before it is added; (5) per
// chunk, the gradient of the scores, then dq, dk and dv, each product register-blocked like the forward's;
// (6) the gate gradients. Every per-chunk stage runs in parallel over (chunk, batch-head).
void schedule_chunkwise_backward_cpu(ChunkwiseFuncs &f, ChunkwiseBackwardFuncs &b, ChunkwiseBackwardOutputs &out,
                                     int chunk, bool recompute_states, const CpuKnobs &k) {
    const int vec = k.vector_width;
    const int cols = vec * k.vector_blocks;
    const int rows = k.row_block;
    CpuKnobs k_tok = k;  // blocks along a chunk's token dimension cannot be wider than the chunk
    k_tok.vector_blocks = std::max(1, std::min(k.vector_blocks, chunk / vec));
    const int tok_cols = vec * k_tok.vector_blocks;
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var block("block"), x_o("x_o"), y_o("y_o"), x_i("x_i"), y_i("y_i");

    // A stage at root, one (chunk, batch-head) per parallel task (its updates too).
    auto per_chunk = [&](Func fn) {
        for (int u = 0; u < fn.num_update_definitions(); u++) fn.update(u).fuse(f.c, f.bh, block).parallel(block);
        return fn.compute_root().fuse(f.c, f.bh, block).parallel(block);
    };
    // A stage at root tiled by (cols x rows) blocks along (x, y), per (chunk, batch-head); `acc`, the product it
    // reads, is computed per block in registers.
    // With `at`, per block of that output instead of at root.
    auto tiled = [&](Func fn, Func acc, const Var &x, const Var &y, const CpuKnobs &knobs, Func at = Func()) {
        if (at.defined()) {
            fn.compute_at(at, block);
        } else {
            per_chunk(fn);
        }
        fn.tile(x, y, x_o, y_o, x_i, y_i, knobs.vector_width * knobs.vector_blocks, knobs.row_block,
                TailStrategy::ShiftInwards)
            .vectorize(x_i, knobs.vector_width).unroll(y_i);
        acc.compute_at(fn, x_o);
        schedule_register_block(acc, x, y, knobs);
    };
    auto staged = [&](Func fn, Func at, const Var &x) { fn.compute_at(at, block).vectorize(x, vec, guard); };
    // A transposed copy of a (DHQK x DHV) state, in square blocks vectorized both ways: Halide turns each block
    // into dense loads and shuffles instead of gathers.
    auto transposed = [&](Func fn, Func at, const Var &x, const Var &y) {
        fn.compute_at(at, block).tile(x, y, x_o, y_o, x_i, y_i, vec, vec, TailStrategy::GuardWithIf)
            .vectorize(x_i).unroll(y_i);
    };

    // (1), (2)
    Func k_weighted_dv = f.k_weighted.in(b.dv_chunk);  // staged per chunk below
    schedule_chunkwise_gates_cpu(f, k);
    if (recompute_states) schedule_chunkwise_state_scan_cpu(f, k);

    // (3)
    if (!f.token_stats_given) {  // else read in place, as the forward saved them
        for (Func fn : {f.intra_max, f.m_out, f.h_den_dot}) per_chunk(fn);
    }
    per_chunk(f.q_inter).vectorize(f.dqk, vec, guard);
    Func weights = per_chunk(f.intra_weight);
    weights.tile(f.sigma, f.tau, x_o, y_o, x_i, y_i, tok_cols, rows).vectorize(x_i, vec).unroll(y_i);
    f.intra_weight.never_partition_all();  // the causal select would otherwise copy the unrolled block
    f.k_transposed.compute_at(weights, block).vectorize(f.sigma, vec);
    f.q_chunk.in(f.scores).compute_at(weights, block).vectorize(f.dqk, vec, guard);
    f.scores.compute_at(weights, x_o);
    schedule_register_block(f.scores, f.sigma, f.tau, k_tok);
    per_chunk(b.dh_scaled).vectorize(f.dv, vec, guard);

    // (4)
    RVar rc(b.r_chunk_rev.x);
    // G_0 = F_0 G_1 + the first chunk's delta: that delta computed once more there, the others inside the scan.
    b.dc_initial.compute_root().parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dc_delta.clone_in(b.dc_initial).compute_at(b.dc_initial, f.bh);
    b.dc_next.compute_root();
    b.dc_next.update(0).parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dc_next.update(1).reorder(f.dv, f.dqk, rc, f.bh).parallel(f.bh).vectorize(f.dv, vec, guard);
    Func dc_delta_tiles = b.dc_delta.in(b.dc_next);
    dc_delta_tiles.compute_at(b.dc_next, rc)
        .tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, cols, rows, TailStrategy::ShiftInwards).vectorize(x_i, vec).unroll(y_i);
    b.dh_scaled.in(b.dc_delta).compute_at(b.dc_next, rc).vectorize(f.dv, vec, guard);
    b.dc_delta.compute_at(dc_delta_tiles, x_o);
    schedule_register_block(b.dc_delta, f.dv, f.dqk, k);

    // (5)
    tiled(b.d_intra, b.d_weight, f.sigma, f.tau, k_tok);
    b.d_intra.never_partition_all();
    b.v_transposed.compute_at(b.d_intra, block).vectorize(f.sigma, vec);
    // The state terms of dq and dk at root (the gate gradients read them too), the rest per block of the outputs.
    Var c("c"), tau("tau");
    for (Func fn : {out.dq, out.dk, out.dv}) {
        fn.split(f.t, c, tau, chunk, guard).fuse(c, f.bh, block).parallel(block)
            .vectorize(fn.args()[0], vec, guard);
    }
    Func dq_tiles = b.dq_chunk.in(), dk_tiles = b.dk_chunk.in(), dv_tiles = b.dv_chunk.in();
    Func dq_inter_tiles = b.dq_inter.in(), dk_state_tiles = b.dk_state.in();
    tiled(dq_inter_tiles, b.dq_inter, f.dqk, f.tau, k);
    transposed(b.c_transposed, dq_inter_tiles, f.dqk, f.dv);
    staged(b.dh_inter, dq_inter_tiles, f.dv);
    tiled(dq_tiles, b.dq_chunk, f.dqk, f.tau, k, out.dq);
    staged(f.k_chunk.in(b.dq_chunk), out.dq, f.dqk);
    tiled(dk_state_tiles, b.dk_state, f.dqk, f.sigma, k);
    transposed(b.dc_next_transposed, dk_state_tiles, f.dqk, f.dv);
    staged(b.v_weighted, dk_state_tiles, f.dv);
    tiled(dk_tiles, b.dk_chunk, f.dqk, f.sigma, k, out.dk);
    staged(f.q_chunk.in(b.dk_chunk), out.dk, f.dqk);
    tiled(dv_tiles, b.dv_chunk, f.dv, f.sigma, k, out.dv);
    staged(k_weighted_dv, out.dv, f.dqk);

    // (6)
    for (Func fn : {b.inter_gate, b.state_gate, b.intra_spanning, b.decay_gate, b.gate_suffix, b.gate_prefix}) {
        per_chunk(fn);
    }
    per_chunk(b.intra_suffix);
    b.intra_suffix.update(0).vectorize(f.sigma, vec, guard);
    b.intra_suffix.update(1).vectorize(f.sigma, vec, guard);
    per_chunk(b.decay_gate_rows).vectorize(f.dv, vec, guard);
    b.decay_gate_rows.update().vectorize(f.dv, vec, guard);
    for (Func fn : {out.di, out.df}) fn.parallel(f.bh).vectorize(f.t, vec, guard);
    out.dc_initial.parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dm_initial_rows.compute_root().parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dm_initial_rows.update().parallel(f.bh).vectorize(f.dv, vec, guard);
    out.dm_initial.compute_root();
}

}  // namespace hmlstm
