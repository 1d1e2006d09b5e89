// The ways a CUDA schedule of the chunkwise form (forward and backward) maps a stage onto threads, and the first
// two phases both share: the gates, and the scan of the states.
#pragma once

#include <algorithm>

#include "cuda_schedules.h"

namespace hmlstm {

struct ChunkwiseCudaStages {
    ChunkwiseFuncs &f;
    int tx, ty;
    Halide::TailStrategy guard = Halide::TailStrategy::GuardWithIf;
    Halide::Var cb{"cb"}, o{"o"}, i{"i"}, x_o{"x_o"}, y_o{"y_o"}, x_i{"x_i"}, y_i{"y_i"}, x_v{"x_v"};

    ChunkwiseCudaStages(ChunkwiseFuncs &funcs, const CudaKnobs &k) : f(funcs), tx(k.threads), ty(k.rows) {}

    // A stage over (x, y, c, bh): tiles of tx x ty threads, blocks over tiles and (chunk, batch-head).
    void tiled(Halide::Stage s, const Halide::Var &x, const Halide::Var &y) {
        s.fuse(f.c, f.bh, cb).gpu_tile(x, y, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(cb);
    }
    // A Func at root over (x, y, c, bh), every stage tiled.
    void tiled_root(Halide::Func fn, const Halide::Var &x, const Halide::Var &y) {
        fn.compute_root();
        tiled(fn, x, y);
        for (int u = 0; u < fn.num_update_definitions(); u++) tiled(fn.update(u), x, y);
    }
    // An elementwise stage over (x, y, c, bh) with 4 consecutive x per thread. A warp spans 128 consecutive x, so
    // that head dimensions and chunk sizes of 128 leave no thread idle (a 64-thread row left half of them idle:
    // measured 2026-12-02); the block's other warps take more rows.
    void tiled_vectors(Halide::Func fn, const Halide::Var &x, const Halide::Var &y) {
        const int lanes = 32, rows = std::max(1, tx * ty / lanes);
        fn.compute_root().fuse(f.c, f.bh, cb)
            .split(x, x_o, x_i, 4 * lanes, guard).split(x_i, x_i, x_v, 4, guard).split(y, y_o, y_i, rows, guard)
            .reorder(x_v, x_i, y_i, x_o, y_o, cb).vectorize(x_v).gpu_threads(x_i, y_i).gpu_blocks(x_o, y_o, cb);
    }
    // A stage over (x, c, bh): a row of threads per (chunk, batch-head).
    void rowwise(Halide::Stage s, const Halide::Var &x, int threads) {
        s.fuse(f.c, f.bh, cb).split(x, o, i, threads, guard).gpu_blocks(o, cb).gpu_threads(i);
    }
    // A Func at root over (x, c, bh), every stage a row of threads.
    void rowwise_root(Halide::Func fn, const Halide::Var &x, int threads) {
        fn.compute_root();
        rowwise(fn, x, threads);
        for (int u = 0; u < fn.num_update_definitions(); u++) rowwise(fn.update(u), x, threads);
    }
    // A stage over (bh) alone, or the pure (x, bh) stages of the scans.
    void per_head(Halide::Stage s, const Halide::Var &x) {
        s.split(x, o, i, tx, guard).gpu_blocks(o).gpu_threads(i);
    }

    // (1) the gates of every chunk
    void gates(int chunk) {
        for (Halide::Func fn : {f.log_fgate, f.igate}) {
            fn.compute_root();
            rowwise(fn, f.tau, chunk);
        }
        if (f.log_fgate_prefix.defined()) {  // the matrix is never stored: its entries are differences of these
            rowwise_root(f.log_fgate_prefix, f.tau, chunk);
        } else {
            f.cum_log_fgate.compute_root();
            tiled(f.cum_log_fgate, f.sigma, f.tau);
            rowwise(f.cum_log_fgate.update(), f.sigma, chunk);
        }
        f.a_max.compute_root().gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        f.m_state.compute_root().gpu_tile(f.kk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        if (f.m_state.num_update_definitions() > 0) per_head(f.m_state.update(), f.bh);
        // Once per position: inline, its exponential would be recomputed for every feature of the weighted keys.
        rowwise_root(f.state_weight, f.sigma, chunk);
    }

    // (3) the per-position factors of the outputs, once per position for the same reason (after m_out).
    void output_factors(int chunk) {
        rowwise_root(f.intra_max, f.tau, chunk);
        rowwise_root(f.m_out, f.tau, chunk);
        rowwise_root(f.inter_factor, f.tau, chunk);
    }

    // h's denominator, q_inter . n plus the sum of the intra-chunk weights, in float32 on both paths: one thread
    // per position walks its rows, which stay in L1. Measured 2026-12-02 on the H200: splitting each sum over 32
    // coalesced lanes (then adding the lanes per position) took twice as long; the sums as products of a row of
    // ones with the bfloat16 weights (and of n with q_inter in TF32) put bfloat16 outputs 1.3-1.5% off, past the
    // 16-bit bound.
    void normalizer_dots(int chunk) { rowwise_root(f.h_den_dot, f.tau, chunk); }

    // (2) each chunk's state contribution, then the scan over chunks. The gate-weighted keys are stored once, so
    // that the product's inner loop does no exponentials.
    void state_scan(bool tensor_cores) {
        if (tensor_cores) {
            // The products' operands are stored (padded past S, narrowed to bfloat16 for 16-bit inputs) for cuBLAS.
            for (Halide::Func fn : {f.k_operand, f.v_operand, f.kw_operand}) {
                tiled_vectors(fn, fn.args()[0], fn.args()[1]);
            }
            f.c_delta.compute_root();
        } else {
            f.k_weighted.compute_root();
            tiled(f.k_weighted, f.dqk, f.sigma);
            tiled_root(f.c_delta, f.dv, f.dqk);
        }
        rowwise_root(f.n_delta, f.dqk, tx);
        // Every stage on the device, the empty pure ones too: a stage left on the host would make Halide require a
        // host buffer for the states, which the forward's outputs are.
        f.c_state.compute_root();
        for (Halide::Stage s : {Halide::Stage(f.c_state), f.c_state.update(0), f.c_state.update(1)}) {
            s.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
        }
        f.n_state.compute_root();
        for (Halide::Stage s : {Halide::Stage(f.n_state), f.n_state.update(0), f.n_state.update(1)}) {
            s.gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        }
    }
};

}  // namespace hmlstm
