// CUDA schedule of the attention backend (math: generators/attention.h), as the parallel form's: plain SIMT, one
// thread per output element of each stage, reductions serial inside the thread, the S x S logits and weights in
// device memory.
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_attention_cuda(AttentionFuncs &f, Func h, const CudaKnobs &k) {
    const int tx = k.threads, ty = k.rows;
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var x_o("x_o"), x_i("x_i"), y_o("y_o"), y_i("y_i");
    for (Func fn : {f.rotation_cos, f.rotation_sin}) {
        fn.compute_root().gpu_tile(f.pair, f.t, x_o, y_o, x_i, y_i, tx, ty, guard);
    }
    f.k_transposed.compute_root().gpu_tile(f.j, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    f.q_rotated.compute_root().gpu_tile(f.dqk, f.t, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    f.scores.compute_root().gpu_tile(f.j, f.t, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    f.scores.update().gpu_tile(f.j, f.t, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    // Without a mask the sums over keys end at the query (a loop bound); with one they run over every key.
    for (Func fn : {f.row_max, f.row_sum}) {
        fn.compute_root().gpu_tile(f.t, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        fn.update().gpu_tile(f.t, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard).specialize(!f.use_mask);
    }
    f.weights.compute_root().gpu_tile(f.j, f.t, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    h.gpu_tile(f.dv, f.t, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    f.h_num.compute_at(h, x_i);
    h.specialize(!f.use_mask);
}

}  // namespace hmlstm
