// CPU schedule of the chunkwise form (math: generators/chunkwise.h).
#include "cpu_schedules.h"

#include <algorithm>

namespace hmlstm {

using namespace Halide;

// Three phases. (1) Gates of every chunk, in parallel: the cumulative log forget gates, the weights and the
// stabilizer scan. (2) The state scan, parallel over (batch, head) and serial over chunks, each chunk's
// K^T diag(w) V formed right before it is added. (3) Every chunk's outputs in parallel over (chunk, batch-head),
// from the state before the chunk, with the products register-blocked. Register blocks use ShiftInwards tails
// (a last block overlaps the one before it) so that their loops carry no guards; the math clamps every index it
// reads, so blocks computed past an edge are harmless.
void schedule_chunkwise_gates_cpu(ChunkwiseFuncs &f, const CpuKnobs &k) {
    const int vec = k.vector_width;
    Var cb("cb");
    f.log_fgate.compute_root().parallel(f.bh);
    f.cum_log_fgate.compute_root().fuse(f.c, f.bh, cb).parallel(cb).vectorize(f.sigma, vec);
    f.cum_log_fgate.update().reorder(f.sigma, f.r_tau).fuse(f.c, f.bh, cb).parallel(cb).vectorize(f.sigma, vec);
    f.b.compute_root().parallel(f.bh);
    f.a_max.compute_root().parallel(f.bh);
    f.a_max.update().parallel(f.bh);
    f.m_state.compute_root().parallel(f.bh);
    if (f.m_state.num_update_definitions() > 0) f.m_state.update().parallel(f.bh);
    f.state_decay.compute_root().parallel(f.bh);
    f.state_weight.compute_root().parallel(f.bh).vectorize(f.sigma, vec);
}

void schedule_chunkwise_state_scan_cpu(ChunkwiseFuncs &f, const CpuKnobs &k, bool dqk_major) {
    const int vec = k.vector_width;
    RVar rc(f.r_chunk.x);
    // Vectors along the stored layout's inner dimension: K^T diag(w) V reads the keys as vectors and broadcasts
    // the values (dqk_major), or the other way around.
    const Var &inner = dqk_major ? f.dqk : f.dv, &outer = dqk_major ? f.dv : f.dqk;
    f.c_state.compute_root();
    if (dqk_major) {
        f.c_state.reorder_storage(f.dqk, f.dv, f.kk, f.bh);
        f.c_delta.reorder_storage(f.dqk, f.dv, f.c, f.bh);  // its register block's vectors are along dqk too
    }
    f.c_state.update(0).parallel(f.bh).reorder(inner, outer).vectorize(inner, vec, TailStrategy::GuardWithIf);
    // Each step's new state written block by block straight from the registers that accumulate K^T diag(w) V.
    schedule_scan_in_register_blocks(f.c_state, 1, f.c_delta, inner, outer, rc, f.bh, k);
    // n_delta and others inline their own k_weighted. Vectorized: scalar, these two took 8% of the forward.
    f.k_weighted.in(f.c_delta).compute_at(f.c_state, rc).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.v_chunk.in(f.c_delta).compute_at(f.c_state, rc).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    f.n_delta.compute_root().parallel(f.bh).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.n_delta.update().parallel(f.bh).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.n_state.compute_root();
    f.n_state.update(0).parallel(f.bh);
    f.n_state.update(1).parallel(f.bh);
}

// The three phases together. With a run-time chunk size, h is specialized per compiled size; the stages computed
// per chunk inside it share one schedule, with token blocks no wider than the smallest size.
void schedule_chunkwise_cpu(ChunkwiseFuncs &f, ChunkwiseOutputs &out, int chunk, const CpuKnobs &k,
                            const Target &, const RunTimeChunk &run_time) {
    const int vec = k.vector_width;
    const int rows = k.row_block;
    if (!run_time.sizes.empty()) chunk = *std::min_element(run_time.sizes.begin(), run_time.sizes.end());
    // Blocks along a chunk's token dimension cannot be wider than the chunk.
    CpuKnobs k_tok = k;
    k_tok.vector_blocks = std::max(1, std::min(k.vector_blocks, chunk / vec));
    const int tok_cols = vec * k_tok.vector_blocks;

    schedule_chunkwise_gates_cpu(f, k);
    schedule_chunkwise_state_scan_cpu(f, k);

    // (3) outputs, one chunk of one (batch, head) per parallel task: chunks in parallel inside heads in parallel.
    // Not one loop over fused (chunk, head): the per-token outputs below run in h's loop over chunks (compute_with),
    // and through a fused loop Halide bounds them by every chunk of the head, so that each task computed the
    // weights and normalizers of all its head's chunks (docs/benchmarks-cpu.md, session 22: 16x slower).
    // h stored from register blocks of its numerator, divided by den.
    Var c("c"), tau("tau");
    auto per_chunk = [&](Stage h, const Expr &L) { store_in_register_blocks(h, f.dv, f.t, c, f.bh, L, k); };
    if (run_time.sizes.empty()) {
        per_chunk(out.h, chunk);
    } else {
        for (int L : run_time.sizes) per_chunk(out.h.specialize(run_time.value == L), L);
        per_chunk(out.h, run_time.value);
        out.h.specialize_fail("mlstm_chunkwise_fw: the run-time chunk size is not one of the compiled sizes");
    }
    // The per-token normalizers and stabilizers in h's loop over chunks, from the same per-chunk stages.
    for (Func fn : {out.token_den, out.token_m}) {
        fn.split(f.t, c, tau, chunk, TailStrategy::GuardWithIf).parallel(c).parallel(f.bh)
            .compute_with(out.h, c);
    }
    for (Func fn : {f.m_out, f.intra_max}) fn.compute_at(out.h, c);
    for (Func fn : {f.intra_max, f.h_den_dot}) vectorize_across_rows(fn, f.tau, vec);
    f.q_chunk.compute_at(out.h, c).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.k_transposed.compute_at(out.h, c).vectorize(f.sigma, vec);
    f.q_inter.compute_at(out.h, c).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    Var s_o("s_o"), s_i("s_i"), t_o("t_o"), t_i("t_i");
    f.intra_weight.compute_at(out.h, c)
        .tile(f.sigma, f.tau, s_o, t_o, s_i, t_i, tok_cols, rows).vectorize(s_i, vec).unroll(t_i);
    f.intra_weight.never_partition_all();  // the causal select would otherwise copy the unrolled block
    f.scores.compute_at(f.intra_weight, s_o);
    schedule_register_block(f.scores, f.sigma, f.tau, k_tok);
    f.h_den_dot.compute_at(out.h, c);
    store_block_sum(out.h, f.h_num, f.dv, f.t, k);

    out.c_last.parallel(f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    out.n_last.parallel(f.bh);
}

}  // namespace hmlstm
