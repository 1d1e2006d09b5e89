// CPU schedule of the parallel form (math: generators/parallel.h).
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

// Gate matrices and staged (widened, transposed) inputs first, per (batch, head); then blocks of query rows in
// parallel over (block, batch-head), each forming its scores against all keys and its outputs from them in
// register-blocked products. The products read staged buffers only: no clamped (gathered) loads, no guards.
void schedule_parallel_gates_cpu(ParallelFuncs &f, const CpuKnobs &k) {
    const int vec = k.vector_width;
    f.log_fgate.compute_root().parallel(f.bh);
    f.cum_log_fgate.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::RoundUp);
    f.cum_log_fgate.update().reorder(f.j, f.r_t).parallel(f.bh).vectorize(f.j, vec, TailStrategy::GuardWithIf);
    // log_weight stays inline: its consumers read each entry once, and at root the S x S matrix was one more pass
    // over memory (the forward at S=1024: 17.2 -> 15.0 ms without it).
    f.row_max.compute_root().parallel(f.bh);
    f.slice_max.compute_root();
    for (Func fn : {f.row_stabilizer, f.stabilizer, f.row_scale}) fn.compute_root().parallel(f.bh);
    f.k_transposed.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::RoundUp);
    f.v_in.compute_root().parallel(f.bh).vectorize(f.dv, vec, TailStrategy::RoundUp);
}

void schedule_parallel_cpu(ParallelFuncs &f, Func h, const CpuKnobs &k, const Target &) {
    const int vec = k.vector_width;
    const int query_block = 64;

    schedule_parallel_gates_cpu(f, k);
    Var t_block("t_block"), block("block");
    h.split(f.t, t_block, f.t, query_block, TailStrategy::GuardWithIf)
        .fuse(t_block, f.bh, block)
        .parallel(block)
        .vectorize(f.dv, vec, TailStrategy::GuardWithIf);

    f.q_scaled.compute_at(h, block).vectorize(f.dqk, vec, TailStrategy::RoundUp);
    const LoopLevel at_block(h, block);
    tile_from_register_blocks(f.weighted_scores, f.scores, f.j, f.t, at_block, k);
    f.weighted_scores.never_partition_all();  // the causal select would otherwise copy the unrolled block 5 times
    f.row_sum.compute_at(h, block);
    tile_from_register_blocks(f.h, f.h_num, f.dv, f.t, at_block, k);
    f.h.align_bounds(f.t, k.row_block);  // blocks of rows aligned: the causal sums' bound is then one per block
}

}  // namespace hmlstm
