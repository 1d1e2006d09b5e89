// CUDA schedule of the chunkwise form (math: generators/chunkwise.h). SIMT stages around the products (on tensor
// cores through cuBLAS, or Halide's own): one thread per output element of most stages (4 consecutive ones in the
// elementwise stages), reductions serial inside the thread except the tensor-core path's normalizer, a warp per
// position; the scans over chunks serial inside a thread that owns one state entry. Stages that index chunks fuse
// (chunk, batch-head) into one block dimension.
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
    auto per_head = [&](Stage s, const Var &x) { st.per_head(s, x); };

    st.gates(chunk);
    st.state_scan(tensor_cores);

    // (3) every chunk's outputs
    st.output_factors(chunk);
    st.tiled_vectors(f.q_inter, f.dqk, f.tau);
    if (f.product_operands.defined()) {  // h is the products' extern stage; their operands, den in each warp
        st.chunk_product(f.scores, chunk);
        st.scaled_operands();
    } else if (tensor_cores) {
        st.tiled_vectors(f.w_operand, f.sigma, f.tau, chunk);
        st.chunk_product(f.scores, chunk);
        for (Func fn : {f.h_inter, f.h_intra}) fn.compute_root();
    } else {
        f.intra_weight.compute_root();
        tiled(f.intra_weight, f.sigma, f.tau);
        f.scores.compute_at(f.intra_weight, x_i);
    }
    st.normalizer_dots(chunk);

    // h per token, its numerator in the thread that stores it (SIMT: serial sums; tensor cores: a plain sum of the
    // two products, inline).
    if (!f.product_operands.defined()) st.per_token_vectors(out.h, f.dv);
    if (!tensor_cores) f.h_num.compute_at(out.h, x_i);

    out.c_last.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    out.n_last.gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    per_head(out.m_last, f.bh);
    for (Func fn : {out.token_den, out.token_m}) fn.gpu_tile(f.t, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    // Not wanted, token_den is zeros and den (its only reader then) is not computed.
    if (out.token_den_wanted.defined()) out.token_den.specialize(out.token_den_wanted);
}

}  // namespace hmlstm
