// CPU schedule of the parallel form (math: generators/parallel.h).
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

// Gate matrices first, per (batch, head); then blocks of query rows in parallel over (block, batch-head), each
// block forming its scores against all keys and its output from them in register-blocked products.
void schedule_parallel_cpu(ParallelFuncs &f, Func h, const CpuKnobs &k, const Target &) {
    const int vec = k.vector_width;
    const int cols = vec * k.vector_blocks;
    const int rows = k.row_block;
    const int query_block = 64;

    f.log_fgate.compute_root().parallel(f.bh);
    f.cum_log_fgate.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::GuardWithIf);
    f.cum_log_fgate.update().reorder(f.j, f.r_t).parallel(f.bh).vectorize(f.j, vec, TailStrategy::GuardWithIf);
    f.row_max.compute_root().parallel(f.bh);
    f.slice_max.compute_root();
    f.row_stabilizer.compute_root().parallel(f.bh);
    f.stabilizer.compute_root().parallel(f.bh);
    f.row_scale.compute_root().parallel(f.bh);
    f.k_transposed.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::GuardWithIf);

    Var t_block("t_block"), t_in("t_in"), block("block"), dv_o("dv_o"), dv_i("dv_i"), t_o("t_o"), t_i("t_i");
    h.split(f.t, t_block, f.t, query_block, TailStrategy::GuardWithIf)
        .fuse(t_block, f.bh, block)
        .parallel(block);
    h.tile(f.dv, f.t, dv_o, t_o, dv_i, t_i, cols, rows, TailStrategy::GuardWithIf)
        .vectorize(dv_i, vec).unroll(t_i);

    f.q_scaled.compute_at(h, block).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.weighted_scores.compute_at(h, block);
    Var j_o("j_o"), j_i("j_i"), ts_o("ts_o"), ts_i("ts_i");
    f.weighted_scores.tile(f.j, f.t, j_o, ts_o, j_i, ts_i, cols, rows, TailStrategy::GuardWithIf)
        .vectorize(j_i, vec).unroll(ts_i);
    f.weighted_scores.never_partition_all();  // the causal select would otherwise copy the unrolled block 5 times
    f.scores.compute_at(f.weighted_scores, j_o);
    schedule_register_block(f.scores, f.j, f.t, k);
    f.row_sum.compute_at(h, block);
    f.h_num.compute_at(h, dv_o);
    schedule_register_block(f.h_num, f.dv, f.t, k);
}

}  // namespace hmlstm
