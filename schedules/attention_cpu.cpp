// CPU schedule of the attention backend (math: generators/attention.h), as the parallel form's: the rotation table
// and the rotated, transposed keys and the values first, per (batch, head); then blocks of query rows in parallel
// over (block, batch-head), each forming its logits against the keys in register blocks, their row maxima, the
// weights, and its outputs in register-blocked products.
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_attention_cpu(AttentionFuncs &f, Func h, const CpuKnobs &k) {
    const int vec = k.vector_width;
    const int cols = vec * k.vector_blocks;
    const int rows = k.row_block;
    const int query_block = 64;
    const TailStrategy guard = TailStrategy::GuardWithIf;

    for (Func fn : {f.rotation_cos, f.rotation_sin}) fn.compute_root().parallel(f.t);
    f.k_transposed.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::RoundUp);
    f.v_in.compute_root().parallel(f.bh).vectorize(f.dv, vec, TailStrategy::RoundUp);

    Var t_block("t_block"), block("block");
    h.split(f.t, t_block, f.t, query_block, guard).fuse(t_block, f.bh, block).parallel(block)
        .vectorize(f.dv, vec, guard);
    f.q_rotated.compute_at(h, block).vectorize(f.dqk, vec, TailStrategy::RoundUp);
    Var j_o("j_o"), j_i("j_i"), t_o("t_o"), t_i("t_i"), dv_o("dv_o"), dv_i("dv_i");
    // The logits of the block's queries against every key, in register blocks; the maxima and weights from them.
    Func logits = f.scores.in();
    logits.compute_at(h, block)
        .tile(f.j, f.t, j_o, t_o, j_i, t_i, cols, rows, TailStrategy::ShiftInwards).vectorize(j_i, vec).unroll(t_i);
    f.scores.compute_at(logits, j_o);
    schedule_register_block(f.scores, f.j, f.t, k);
    f.row_max.compute_at(h, block);
    f.weights.compute_at(h, block).vectorize(f.j, vec, guard);
    f.row_sum.compute_at(h, block);
    f.h.compute_at(h, block)
        .tile(f.dv, f.t, dv_o, t_o, dv_i, t_i, cols, rows, TailStrategy::ShiftInwards)
        .vectorize(dv_i, vec).unroll(t_i);
    f.h_num.compute_at(f.h, dv_o);
    schedule_register_block(f.h_num, f.dv, f.t, k);
    // Without a mask the keys' loops end at the query (a loop bound); with one they run over every key.
    h.specialize(!f.use_mask);
}

}  // namespace hmlstm
