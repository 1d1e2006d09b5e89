// CUDA schedule of the chunkwise backward (math: generators/chunkwise_backward.h). SIMT around the products, as the
// forward's schedule: one thread per element (or 4 consecutive ones) of each stage at root, reductions serial
// inside the thread except the tensor-core path's per-position sums (a warp per position, lane_sums), the scans
// over chunks (and over a chunk's positions) serial inside the thread that owns one entry.
#include "chunkwise_cuda_stages.h"

#include <utility>

namespace hmlstm {

using namespace Halide;

void schedule_chunkwise_backward_cuda(ChunkwiseFuncs &f, ChunkwiseBackwardFuncs &b, ChunkwiseBackwardOutputs &out,
                                      int chunk, bool recompute_states, bool tensor_cores, const CudaKnobs &k) {
    ChunkwiseCudaStages st(f, k);
    const int tx = k.threads, ty = k.rows;
    const TailStrategy guard = st.guard;
    Var x_o = st.x_o, y_o = st.y_o, x_i = st.x_i, y_i = st.y_i;

    // (1), (2) as the forward's
    st.gates(chunk);
    if (recompute_states) st.state_scan(tensor_cores);
    if (!recompute_states && tensor_cores) {  // the products read the saved states as stored buffers
        Var kb("kb");
        f.c_state.compute_root().fuse(f.kk, f.bh, kb)
            .gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(kb);
    }
    if (!recompute_states && !tensor_cores) {  // dv's SIMT product reads it (the scan stores its own)
        st.tiled_vectors(f.k_weighted, f.dqk, f.sigma);
    }

    // (3) stabilizers, weights, normalizers and the scaled output gradients of every chunk
    st.output_factors(chunk);
    // On tensor cores q_inter is inlined into dc_delta's operand (and the recomputed normalizer's sum)
    st.tiled_vectors(tensor_cores ? b.q_scaled : f.q_inter, f.dqk, f.tau);
    if (tensor_cores) {
        st.tiled_vectors(f.w_operand, f.sigma, f.tau, chunk);
        st.chunk_product(f.scores, chunk);
    } else {
        st.tiled_root(f.intra_weight, f.sigma, f.tau);
        f.scores.compute_at(f.intra_weight, x_i);
    }
    st.normalizer_dots(chunk);
    st.tiled_vectors(b.dh_scaled, f.dv, f.tau);

    // (4) the reverse scan of the state gradient: one thread per state entry walks every chunk
    if (tensor_cores) {
        b.dc_delta.compute_root();
    } else {
        st.tiled_root(b.dc_delta, f.dv, f.dqk);
    }
    b.dc_next.compute_root();
    // Not a grouped scan: Halide's simplifier splits this reverse scan's indices into loop-invariant parts that
    // LLVM cannot match, so the stores would not be forwarded (seen in the PTX), and its inputs' registers would
    // spill to local memory (their first index is symbolic at a partial group).
    for (int u : {0, 1}) b.dc_next.update(u).gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    if (b.dc_next_bits.defined()) st.tiled_vectors(b.dc_next_bits, f.dv, f.dqk);

    // (5) the gradients' products: on tensor cores, from stored operands, summed where the outputs read them; or
    // each output element's reduction in its thread
    st.tiled_vectors(b.d_intra, f.sigma, f.tau, chunk);
    if (tensor_cores) {
        for (Func fn : {b.w_scaled_operand, b.ds_operand}) st.tiled_vectors(fn, f.sigma, f.tau, chunk);
        st.chunk_product(b.d_weight, chunk);
        for (Func fn : {b.dq_inter_unscaled, b.dq_intra, b.dk_state_unweighted, b.dk_intra, b.dv_intra,
                        b.dv_state_unweighted}) {
            fn.compute_root();
        }
    } else {
        b.d_weight.compute_at(b.d_intra, x_i);
        st.tiled_root(b.dq_inter, f.dqk, f.tau);
        st.tiled_root(b.dk_state, f.dqk, f.sigma);
    }

    // (6) gate gradients
    if (tensor_cores) {
        st.lane_sums(b.inter_gate, b.inter_gate_sum, f.tau, st.positions_per_block);
        st.lane_sums(b.state_gate, b.state_gate_sum, f.sigma, st.positions_per_block);
        st.lane_sums(b.intra_spanning, b.intra_spanning_sum, f.tau, st.positions_per_block);
    } else {
        for (Func fn : {b.inter_gate, b.intra_spanning}) st.rowwise_root(fn, f.tau, chunk);
        st.rowwise_root(b.state_gate, f.sigma, chunk);
    }
    st.rowwise_root(b.decay_gate_rows, f.dv, tx);
    b.decay_gate.compute_root().gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    b.decay_gate.update().gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    b.intra_suffix.compute_root();
    st.rowwise(b.intra_suffix.update(0), f.sigma, chunk);
    st.rowwise(st.grouped_scan(b.intra_suffix, 1, b.r_tau_rev.x, {}), f.sigma, chunk);  // d_intra is a Tuple
    // one thread per chunk walks its positions
    b.gate_suffix.compute_root();
    b.gate_prefix.compute_root();
    Stage suffix_scan = st.grouped_scan(b.gate_suffix, 1, b.r_tau_rev.x, {{b.inter_gate, 0}});
    Stage prefix_scan = st.grouped_scan(b.gate_prefix, 1, b.r_tau_fwd.x, {{b.state_gate, 0}});
    for (Stage s : {b.gate_suffix.update(0), suffix_scan, b.gate_prefix.update(0), prefix_scan}) {
        s.gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    }

    // Each output's sums in the thread that stores it (SIMT; on tensor cores they are plain sums, inline).
    for (auto [fn, sum] : {std::pair{out.dq, b.dq}, std::pair{out.dk, b.dk}, std::pair{out.dv, b.dv}}) {
        st.per_token_vectors(fn, fn.args()[0]);
        if (!tensor_cores) sum.compute_at(fn, x_i);
    }
    for (Func fn : {out.di, out.df}) fn.gpu_tile(f.t, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    out.dc_initial.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    b.dc_initial.compute_root().gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
    b.dm_initial_rows.compute_root();
    for (Stage s : {Stage(b.dm_initial_rows), b.dm_initial_rows.update()}) {
        s.gpu_tile(f.dv, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
    }
    b.dm_initial.compute_root();
    for (Stage s : {Stage(b.dm_initial), b.dm_initial.update()}) st.per_head(s, f.bh);
    st.per_head(out.dm_initial, f.bh);
}

}  // namespace hmlstm
