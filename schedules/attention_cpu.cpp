// CPU schedule of the attention backend (math: generators/attention.h), as the parallel form's: the rotation table
// and the rotated, transposed keys and the values first, per (batch, head); then blocks of query rows in parallel
// over (block, batch-head), each forming its logits against the keys in register blocks, their row maxima, the
// weights, and its outputs in register-blocked products.
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_attention_cpu(AttentionFuncs &f, Func h, const CpuKnobs &k) {
    const int vec = k.vector_width;
    const int query_block = 64;
    const TailStrategy guard = TailStrategy::GuardWithIf;

    for (Func fn : {f.rotation_cos, f.rotation_sin}) fn.compute_root().parallel(f.t);
    f.k_transposed.compute_root().parallel(f.bh).vectorize(f.j, vec, TailStrategy::RoundUp);
    f.v_in.compute_root().parallel(f.bh).vectorize(f.dv, vec, TailStrategy::RoundUp);

    Var t_block("t_block"), block("block");
    h.split(f.t, t_block, f.t, query_block, guard).fuse(t_block, f.bh, block).parallel(block)
        .vectorize(f.dv, vec, guard);
    f.q_rotated.compute_at(h, block).vectorize(f.dqk, vec, TailStrategy::RoundUp);
    // The logits of the block's queries against every key, in register blocks; the maxima and weights from them.
    const LoopLevel at_block(h, block);
    tile_from_register_blocks(f.scores.in(), f.scores, f.j, f.t, at_block, k);
    f.row_max.compute_at(h, block);
    f.weights.compute_at(h, block).vectorize(f.j, vec, guard);
    f.row_sum.compute_at(h, block);
    tile_from_register_blocks(f.h, f.h_num, f.dv, f.t, at_block, k);
    f.h.align_bounds(f.t, k.row_block);  // blocks of rows aligned: the causal sum's bound is then one per block
    // Without a mask the keys' loops end at the query (a loop bound); with one they run over every key.
    h.specialize(!f.use_mask);
}

}  // namespace hmlstm
