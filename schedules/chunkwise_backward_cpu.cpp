// CPU schedule of the chunkwise backward (math: generators/chunkwise_backward.h).
#include "cpu_schedules.h"

#include <algorithm>
#include <utility>

namespace hmlstm {

using namespace Halide;

// Phases, each a loop nest of its own: (1) the gates and (2) the states, as in the forward (or the saved states,
// read in place); (3) per chunk, its stabilizers, intra-chunk weights, normalizers and scaled output gradients;
// (4) the reverse scan of the state gradient, each chunk's qbar^T dH formed right before it is added; (5) and (6),
// one loop over chunks that computes per chunk the gradient of the scores, dq, dk and dv (each product
// register-blocked like the forward's) and the gate gradients, and writes every per-token output. The per-chunk
// stages of (3) run in parallel over fused (chunk, batch-head).
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

    // (1), (2)
    Func k_weighted_dv = f.k_weighted.in(b.dv);  // staged per chunk below
    schedule_chunkwise_gates_cpu(f, k);
    // Recomputed, the states are stored transposed, as the products with C^T (dq's) and the decay gate read them:
    // no per-chunk transposed copy.
    if (recompute_states) schedule_chunkwise_state_scan_cpu(f, k, true);

    // (3)
    if (!f.token_stats_given) {  // else read in place, as the forward saved them
        for (Func fn : {f.intra_max, f.m_out, f.h_den_dot}) per_chunk(fn);
        for (Func fn : {f.intra_max, f.h_den_dot}) vectorize_across_rows(fn, f.tau, vec);
    }
    per_chunk(f.q_inter).vectorize(f.dqk, vec, guard);
    Func weights = per_chunk(f.intra_weight);
    weights.tile(f.sigma, f.tau, x_o, y_o, x_i, y_i, tok_cols, rows).vectorize(x_i, vec).unroll(y_i);
    f.intra_weight.never_partition_all();  // the causal select would otherwise copy the unrolled block
    f.k_transposed.compute_at(weights, block).vectorize(f.sigma, vec);
    f.q_chunk.in(f.scores).compute_at(weights, block).vectorize(f.dqk, vec, guard);
    f.scores.compute_at(weights, x_o);
    schedule_register_block(f.scores, f.sigma, f.tau, k_tok);

    // (4)
    RVar rc(b.r_chunk_rev.x);
    // G_0 = F_0 G_1 + the first chunk's delta: that delta computed once more there, the others inside the scan.
    b.dc_initial.compute_root().parallel(f.bh)
        .tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, cols, rows, TailStrategy::ShiftInwards).vectorize(x_i, vec).unroll(y_i);
    Func dc_delta_first = b.dc_delta.clone_in(b.dc_initial);
    dc_delta_first.compute_at(b.dc_initial, x_o);
    // dH = dh / den is formed per chunk where it is read (here, in the scan and in the per-chunk loop below), not
    // stored for every token at root: a pass of writes and reads over a tensor of dh's size.
    b.dh_scaled.in(dc_delta_first).compute_at(b.dc_initial, f.bh).vectorize(f.dv, vec, guard);
    schedule_register_block(dc_delta_first, f.dv, f.dqk, k);
    b.dc_next.compute_root();
    b.dc_next.update(0).parallel(f.bh).vectorize(f.dv, vec, guard);
    // Each step's G written block by block from the registers of the chunk's delta, as the forward's state scan.
    schedule_scan_in_register_blocks(b.dc_next, 1, b.dc_delta, f.dv, f.dqk, rc, f.bh, k);
    b.dh_scaled.in(b.dc_delta).compute_at(b.dc_next, rc).vectorize(f.dv, vec, guard);

    // (5), (6): one loop over chunks (parallel) inside one over batch-heads (parallel) writes every per-token
    // output of a chunk (dq, dk, dv, di, df, fused with compute_with) and computes right there everything they read
    // per chunk: a chunk's state C and state gradient G come from memory once (dq's and dk's state products and the
    // decay gate read them within the chunk), and no per-chunk product is stored at root. Chunks and heads stay two
    // loops: through one fused loop Halide would bound the fused-in stages by every chunk of the head
    // (docs/design.md).
    // dq, dk and dv stored from register blocks of their sums.
    Var c("c"), tau("tau");
    for (auto [fn, sum] : {std::pair{out.dq, b.dq}, std::pair{out.dk, b.dk}, std::pair{out.dv, b.dv}}) {
        store_in_register_blocks(fn, fn.args()[0], f.t, c, f.bh, chunk, k);
        store_block_sum(fn, sum, fn.args()[0], f.t, k);
    }
    for (Func fn : {out.di, out.df}) fn.split(f.t, c, tau, chunk, guard).parallel(c).parallel(f.bh);
    for (Func fn : {out.dk, out.dv, out.di, out.df}) fn.compute_with(out.dq, c);
    const LoopLevel at_chunk(out.dq, c);
    // With the saved states the decay gate reads both states as stored (see (6)), not their transposed copies:
    // inline clones, made before the copies are scheduled.
    if (!recompute_states) {
        b.c_transposed.clone_in(b.decay_gate_rows);
        b.dc_next_transposed.clone_in(b.decay_gate_rows);
    }
    b.dh_scaled.in({b.d_weight, b.dh_inter, b.dv}).compute_at(at_chunk).vectorize(f.dv, vec, guard);

    tile_from_register_blocks(b.d_intra, b.d_weight, f.sigma, f.tau, at_chunk, k_tok);
    b.d_intra.never_partition_all();
    b.v_transposed.compute_at(at_chunk).vectorize(f.sigma, vec);
    Func dq_inter_tiles = b.dq_inter.in(), dk_state_tiles = b.dk_state.in();
    tile_from_register_blocks(dq_inter_tiles, b.dq_inter, f.dqk, f.tau, at_chunk, k);
    if (!recompute_states) {  // the saved states, as the forward stored them
        b.c_transposed.compute_at(at_chunk)
            .tile(f.dqk, f.dv, x_o, y_o, x_i, y_i, vec, vec, TailStrategy::GuardWithIf).vectorize(x_i).unroll(y_i);
    }
    b.dh_inter.compute_at(at_chunk).vectorize(f.dv, vec, guard);
    f.k_chunk.in(b.dq).compute_at(at_chunk).vectorize(f.dqk, vec, guard);
    tile_from_register_blocks(dk_state_tiles, b.dk_state, f.dqk, f.sigma, at_chunk, k);
    b.dc_next_transposed.compute_at(at_chunk)
        .tile(f.dqk, f.dv, x_o, y_o, x_i, y_i, vec, vec, TailStrategy::GuardWithIf).vectorize(x_i).unroll(y_i);
    b.v_weighted.compute_at(at_chunk).vectorize(f.dv, vec, guard);
    f.q_chunk.in(b.dk).compute_at(at_chunk).vectorize(f.dqk, vec, guard);
    k_weighted_dv.compute_at(at_chunk).vectorize(f.dqk, vec, guard);

    // (6), per chunk in the same loop; the decay gate's sums over dqk outside the loop over dv, so that both states
    // are read row by row, in address order.
    for (Func fn : {b.inter_gate, b.state_gate, b.intra_spanning, b.decay_gate, b.gate_suffix, b.gate_prefix}) {
        fn.compute_at(at_chunk);
    }
    vectorize_across_rows(b.inter_gate, f.tau, vec);
    vectorize_across_rows(b.state_gate, f.sigma, vec);
    b.intra_suffix.compute_at(at_chunk);
    b.intra_suffix.update(0).vectorize(f.sigma, vec, guard);
    b.intra_suffix.update(1).vectorize(f.sigma, vec, guard);
    // <G, C>: with the saved states from the states themselves, vectors along dv, the sums over dqk outside the
    // loop over dv, so that both are read row by row in address order; with the recomputed ones (stored
    // transposed) from G's transposed copy, vector partial sums along dqk (rfactor) added up at the end.
    b.decay_gate_rows.compute_at(at_chunk);
    if (recompute_states) {
        Var lane("lane");
        RVar dqk_o("dqk_o"), dqk_i("dqk_i");
        Func lanes = b.decay_gate_rows.update()
                         .split(RVar(f.r_dqk.x), dqk_o, dqk_i, vec, TailStrategy::GuardWithIf)
                         .rfactor(dqk_i, lane);
        lanes.compute_at(at_chunk).reorder_storage(lane, f.dv, f.c, f.bh).vectorize(lane);
        lanes.update().vectorize(lane);
    } else {
        b.decay_gate_rows.vectorize(f.dv, vec, guard);
        b.decay_gate_rows.update().vectorize(f.dv, vec, guard).reorder(f.dv, RVar(f.r_dqk.x));
    }
    out.dc_initial.parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dm_initial_rows.compute_root().parallel(f.bh).vectorize(f.dv, vec, guard);
    b.dm_initial_rows.update().parallel(f.bh).vectorize(f.dv, vec, guard).reorder(f.dv, RVar(f.r_dqk.x));
    out.dm_initial.compute_root();
}

}  // namespace hmlstm
