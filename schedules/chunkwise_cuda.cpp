// CUDA schedule of the chunkwise form (math: generators/chunkwise.h). Plain SIMT: one thread per output element of
// each stage, reductions serial inside the thread, the scans over chunks serial inside a thread that owns one state
// entry. Stages that index chunks fuse (chunk, batch-head) into one block dimension.
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_chunkwise_cuda(ChunkwiseFuncs &f, ChunkwiseOutputs &out, int chunk, bool tensor_cores,
                             const CudaKnobs &k) {
    const int tx = k.threads, ty = k.rows;
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var cb("cb"), o("o"), i("i"), x_o("x_o"), y_o("y_o"), x_i("x_i"), y_i("y_i");

    // A stage over (x, y, c, bh): tiles of tx x ty threads, blocks over tiles and (chunk, batch-head).
    auto tiled = [&](Stage s, const Var &x, const Var &y) {
        s.fuse(f.c, f.bh, cb).gpu_tile(x, y, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(cb);
    };
    // An elementwise stage over (x, y, c, bh) with 4 consecutive x per thread, so that loads and stores are vectors.
    Var x_v("x_v");
    auto tiled_vectors = [&](Func fn, const Var &x, const Var &y) {
        fn.compute_root().fuse(f.c, f.bh, cb)
            .split(x, x_o, x_i, 4 * tx, guard).split(x_i, x_i, x_v, 4, guard).split(y, y_o, y_i, ty, guard)
            .reorder(x_v, x_i, y_i, x_o, y_o, cb).vectorize(x_v).gpu_threads(x_i, y_i).gpu_blocks(x_o, y_o, cb);
    };
    // A stage over (x, c, bh): a row of threads per (chunk, batch-head).
    auto rowwise = [&](Stage s, const Var &x, int threads) {
        s.fuse(f.c, f.bh, cb).split(x, o, i, threads, guard).gpu_blocks(o, cb).gpu_threads(i);
    };
    // A stage over (bh) alone, or the pure (x, bh) stages of the scans.
    auto per_head = [&](Stage s, const Var &x) { s.split(x, o, i, tx, guard).gpu_blocks(o).gpu_threads(i); };

    // (1) gates of every chunk
    for (Func fn : {f.log_fgate, f.igate}) {
        fn.compute_root();
        rowwise(fn, f.tau, chunk);
    }
    f.cum_log_fgate.compute_root();
    tiled(f.cum_log_fgate, f.sigma, f.tau);
    rowwise(f.cum_log_fgate.update(), f.sigma, chunk);
    f.a_max.compute_root().gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    f.m_state.compute_root().gpu_tile(f.kk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    per_head(f.m_state.update(), f.bh);

    // (2) each chunk's state contribution, then the scan over chunks. The gate-weighted keys are stored once, so
    // that the product's inner loop does no exponentials.
    if (tensor_cores) {
        // The products' operands are stored (padded past S, narrowed to bfloat16 for 16-bit inputs) for cuBLAS.
        for (Func fn : {f.k_operand, f.v_operand, f.kw_operand}) tiled_vectors(fn, fn.args()[0], fn.args()[1]);
        f.c_delta.compute_root();
    } else {
        f.k_weighted.compute_root();
        tiled(f.k_weighted, f.dqk, f.sigma);
        f.c_delta.compute_root();
        tiled(f.c_delta, f.dv, f.dqk);
        tiled(f.c_delta.update(), f.dv, f.dqk);
    }
    f.n_delta.compute_root();
    rowwise(f.n_delta, f.dqk, tx);
    rowwise(f.n_delta.update(), f.dqk, tx);
    f.c_state.compute_root();
    for (int u : {0, 1}) f.c_state.update(u).gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    f.n_state.compute_root();
    for (int u : {0, 1}) f.n_state.update(u).gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);

    // (3) every chunk's outputs
    f.intra_max.compute_root();
    rowwise(f.intra_max, f.tau, chunk);
    f.m_out.compute_root();
    rowwise(f.m_out, f.tau, chunk);
    tiled_vectors(f.q_inter, f.dqk, f.tau);
    if (tensor_cores) {
        for (Func fn : {f.q_operand, f.w_operand}) tiled_vectors(fn, fn.args()[0], fn.args()[1]);
        for (Func fn : {f.scores, f.h_inter, f.h_intra}) fn.compute_root();
    } else {
        f.intra_weight.compute_root();
        tiled(f.intra_weight, f.sigma, f.tau);
        f.scores.compute_at(f.intra_weight, x_i);
    }
    f.h_den_dot.compute_root();
    rowwise(f.h_den_dot, f.tau, chunk);
    for (int u = 0; u < f.h_den_dot.num_update_definitions(); u++) rowwise(f.h_den_dot.update(u), f.tau, chunk);

    // Outputs per chunk position, then copied (and narrowed) to h(t): computed at h directly, each thread would
    // compute its element's whole chunk, as the bounds of t % L over a tile of t cover all of [0, L).
    // With tensor cores the numerator is a plain sum of the two products, read straight into h.
    if (!tensor_cores) {
        f.h_chunk.compute_root();
        tiled(f.h_chunk, f.dv, f.tau);
        f.h_num.compute_at(f.h_chunk, x_i);
    }
    Var dv_o("dv_o"), dv_i("dv_i"), t_o("t_o"), t_i("t_i");
    out.h.gpu_tile(f.dv, f.t, dv_o, t_o, dv_i, t_i, tx, ty, guard).gpu_blocks(f.bh);

    out.c_last.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    out.n_last.gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    per_head(out.m_last, f.bh);
}

}  // namespace hmlstm
