// CUDA schedule of the chunkwise form (math: generators/chunkwise.h). SIMT stages around the products (on tensor
// cores through cuBLAS, or Halide's own): one thread per output element of most stages, reductions serial inside
// the thread except the normalizer's, which 32 lanes share; the scans over chunks serial inside a thread that owns
// one state entry. Stages that index chunks fuse (chunk, batch-head) into one block dimension.
#include "chunkwise_cuda_stages.h"

namespace hmlstm {

using namespace Halide;

void schedule_chunkwise_cuda(ChunkwiseFuncs &f, ChunkwiseOutputs &out, int chunk, bool tensor_cores,
                             const CudaKnobs &k) {
    ChunkwiseCudaStages st(f, k);
    const int tx = k.threads, ty = k.rows;
    const TailStrategy guard = st.guard;
    Var x_o = st.x_o, y_o = st.y_o, x_i = st.x_i, y_i = st.y_i;
    auto tiled = [&](Stage s, const Var &x, const Var &y) { st.tiled(s, x, y); };
    auto tiled_vectors = [&](Func fn, const Var &x, const Var &y) { st.tiled_vectors(fn, x, y); };
    auto per_head = [&](Stage s, const Var &x) { st.per_head(s, x); };

    st.gates(chunk);
    st.state_scan(tensor_cores);

    // (3) every chunk's outputs
    st.output_factors(chunk);
    tiled_vectors(f.q_inter, f.dqk, f.tau);
    if (tensor_cores) {
        for (Func fn : {f.q_operand, f.w_operand}) tiled_vectors(fn, fn.args()[0], fn.args()[1]);
        for (Func fn : {f.scores, f.h_inter, f.h_intra}) fn.compute_root();
    } else {
        f.intra_weight.compute_root();
        tiled(f.intra_weight, f.sigma, f.tau);
        f.scores.compute_at(f.intra_weight, x_i);
    }
    st.normalizer_dots(chunk);

    // Outputs per chunk position, then copied (and narrowed) to h(t): computed at h directly, each thread would
    // compute its element's whole chunk, as the bounds of t % L over a tile of t cover all of [0, L).
    // With tensor cores the numerator is a plain sum of the two products, read straight into h.
    if (!tensor_cores) {
        f.h_chunk.compute_root();
        tiled(f.h_chunk, f.dv, f.tau);
        f.h_num.compute_at(f.h_chunk, x_i);
    }
    // Four consecutive features per thread, for more loads in flight (h is one pass over the numerator).
    Var dv_o("dv_o"), dv_i("dv_i"), dv_v("dv_v"), t_o("t_o"), t_i("t_i");
    out.h.split(f.dv, dv_o, dv_i, 4 * tx, guard).split(dv_i, dv_i, dv_v, 4, guard).split(f.t, t_o, t_i, ty, guard)
        .reorder(dv_v, dv_i, t_i, dv_o, t_o, f.bh).vectorize(dv_v).gpu_threads(dv_i, t_i).gpu_blocks(dv_o, t_o, f.bh);

    out.c_last.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    out.n_last.gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    per_head(out.m_last, f.bh);
}

}  // namespace hmlstm
