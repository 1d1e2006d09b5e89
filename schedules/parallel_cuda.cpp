// CUDA schedule of the parallel form (math: generators/parallel.h). Plain SIMT: one thread per output element of
// each stage, reductions serial inside the thread, every S x S intermediate in device memory.
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_parallel_gates_cuda(ParallelFuncs &f, const CudaKnobs &k) {
    const int tx = k.threads, ty = k.rows;
    Var j_o("j_o"), j_i("j_i"), t_o("t_o"), t_i("t_i"), bh_o("bh_o"), bh_i("bh_i");
    const TailStrategy guard = TailStrategy::GuardWithIf;

    // log_fgate stays inline: the cumulative sum reads it only for t >= 1, an empty region when S = 1, and Halide's
    // CUDA runtime refuses (aborts on) an empty device allocation.
    // The triangle cumulative sum walks down each column: one thread per column j.
    f.cum_log_fgate.compute_root().gpu_tile(f.j, f.t, j_o, t_o, j_i, t_i, tx, ty, guard).gpu_blocks(f.bh);
    f.cum_log_fgate.update().split(f.j, j_o, j_i, tx, guard).gpu_blocks(j_o, f.bh).gpu_threads(j_i);
    f.row_max.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, tx, 1, guard);
    f.slice_max.compute_root().split(f.bh, bh_o, bh_i, tx, guard).gpu_blocks(bh_o).gpu_threads(bh_i);

    f.weighted_scores.compute_root().gpu_tile(f.j, f.t, j_o, t_o, j_i, t_i, tx, ty, guard).gpu_blocks(f.bh);
    f.scores.compute_at(f.weighted_scores, j_i);
    f.row_sum.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, tx, 1, guard);
    f.row_sum.update().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, tx, 1, guard);
}

void schedule_parallel_cuda(ParallelFuncs &f, Func h, const CudaKnobs &k) {
    schedule_parallel_gates_cuda(f, k);
    Var dv_o("dv_o"), dv_i("dv_i"), t_o("t_o"), t_i("t_i");
    h.gpu_tile(f.dv, f.t, dv_o, t_o, dv_i, t_i, k.threads, k.rows, TailStrategy::GuardWithIf).gpu_blocks(f.bh);
    f.h_num.compute_at(h, dv_i);
}

}  // namespace hmlstm
