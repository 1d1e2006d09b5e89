// The ways a CUDA schedule of the chunkwise form (forward and backward) maps a stage onto threads, and the first
// two phases both share: the gates, and the scan of the states.
#pragma once

#include <algorithm>
#include <vector>

#include "cuda_schedules.h"

namespace hmlstm {

struct ChunkwiseCudaStages {
    ChunkwiseFuncs &f;
    int tx, ty;
    Halide::TailStrategy guard = Halide::TailStrategy::GuardWithIf;
    Halide::Var cb{"cb"}, o{"o"}, i{"i"}, x_o{"x_o"}, y_o{"y_o"}, x_i{"x_i"}, y_i{"y_i"}, x_v{"x_v"};

    static constexpr int positions_per_block = 8;  // of the lane sums: 8 warps of 32 lanes

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
    // measured 2026-12-02); the block's other warps take more rows. x_extent: x's extent where it is known to be
    // shorter (a chunk's positions), so that a warp covers more rows of x instead of idling past its end. The
    // stored x extent rounds up to the warp's span: rows then start 16-byte aligned, and Halide emits 16-byte loads
    // and stores of the 4 (a guarded x split made every access scalar and predicated); the columns past the end are
    // computed from clamped feature indices and never read.
    void tiled_vectors(Halide::Func fn, const Halide::Var &x, const Halide::Var &y, int x_extent = 128) {
        const int lanes = std::clamp(x_extent / 4, 1, 32), rows = std::max(1, tx * ty / lanes);
        fn.compute_root().align_bounds(x, 4 * lanes).align_storage(x, 4 * lanes).fuse(f.c, f.bh, cb)
            .split(x, x_o, x_i, 4 * lanes, Halide::TailStrategy::RoundUp).split(x_i, x_i, x_v, 4)
            .split(y, y_o, y_i, rows, guard)
            .reorder(x_v, x_i, y_i, x_o, y_o, cb).vectorize(x_v).gpu_threads(x_i, y_i).gpu_blocks(x_o, y_o, cb);
    }
    // A tensor-core product over a chunk's positions, (sigma, tau, c, bh), at root with its region fixed to the
    // chunk: an extern stage's region is otherwise known only at run time (its bounds query), so the stages that
    // read it could not prove a row 16-byte aligned and loaded every entry alone (seen in the PTX; fixed, they
    // load 4 at once).
    void chunk_product(Halide::Func product, int chunk) {
        const std::vector<Halide::Var> args = product.args();
        product.compute_root().bound(args[0], 0, chunk).bound(args[1], 0, chunk);
    }
    // The float32 forward's scaled operands of h's two products, product_operands(x, which, tau, c, bh): a warp per
    // position tau, its lanes over x, 4 consecutive ones each (16-byte stores, as tiled_vectors), both operands'
    // rows in turn; the position's normalizer in the same warp first, its sums on the lanes (as lane_sums), which
    // every lane then reads. The operands' values over the span in the warp's registers, 4 consecutive ones per
    // lane per block of 128, the features the lane sums (blocked order) and stores: each weight's exponential and
    // each load once, where the stores computed them again (H100, fp32 at B=1: 0.142 -> 0.097 ms per call, 64 ->
    // 48 registers, docs/benchmarks-gpu.md session 28). Past the span (a head dim over it) the stores compute theirs.
    void scaled_operands() {
        Halide::Func fn = f.product_operands;
        const int lanes = LaneSum::lanes, rows = std::max(1, tx * ty / lanes);
        fn.compute_root().bound(f.x, 0, f.operand_extent).align_storage(f.x, 4 * lanes).bound(f.which, 0, 2)
            .fuse(f.c, f.bh, cb).split(f.x, x_o, x_i, 4 * lanes, Halide::TailStrategy::RoundUp)
            .split(x_i, x_i, x_v, 4).split(f.tau, y_o, y_i, rows, guard)
            .reorder(x_v, x_i, f.which, x_o, y_i, y_o, cb).vectorize(x_v).unroll(f.which).gpu_lanes(x_i)
            .gpu_threads(y_i).gpu_blocks(y_o, cb);
        // One trip count for every lane: the stores read den from lane 0 (a shuffle), which a loop partitioned per
        // lane (by the causal weights' bounds) would run in divergent code, wrong on the GPU (session 29's run A).
        fn.never_partition(x_o);
        // Every feature in the span: the loop over its blocks has a known length, unrolled, so that the values are
        // read from registers (a loop would index them at run time, from local memory).
        fn.specialize(f.operands_fit).unroll(x_o);
        Halide::Func values = f.operand_values;
        values.compute_at(fn, y_i).bound(f.x, 0, f.operand_span).bound(f.which, 0, 2)
            .bound_extent(f.tau, 1).bound_extent(f.c, 1).bound_extent(f.bh, 1).store_in(Halide::MemoryType::Register)
            .split(f.x, x_o, x_i, 4 * lanes).split(x_i, x_i, x_v, 4).reorder(x_v, x_i, f.which, x_o)
            .vectorize(x_v).unroll(f.which).unroll(x_o).gpu_lanes(x_i);
        on_lanes(f.operand_den_sum, fn, y_i);
    }
    // An output per token, out(x, t, bh), from the chunk layout: 4 consecutive features per thread, for more loads
    // in flight (a pass over float32 products' results; h measured 1.37 -> 0.62 ms with it, 2026-12-02).
    void per_token_vectors(Halide::Func out, const Halide::Var &x) {
        Halide::Var x_outer("x_outer"), t_o("t_o"), t_i("t_i");
        out.split(x, x_outer, x_i, 4 * tx, guard).split(x_i, x_i, x_v, 4, guard).split(f.t, t_o, t_i, ty, guard)
            .reorder(x_v, x_i, t_i, x_outer, t_o, f.bh).vectorize(x_v).gpu_threads(x_i, t_i)
            .gpu_blocks(x_outer, t_o, f.bh);
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
    // A per-position sum defined as a LaneSum (generators/lane_sum.h), fn(x, c, bh) = s.total(): a warp per
    // position, its 32 lanes reading consecutive features (coalesced), the butterfly on register shuffles. A thread
    // per position walking its own row would read 32 rows at once, one word of each.
    void lane_sums(Halide::Func fn, const LaneSum &s, const Halide::Var &x, int positions) {
        fn.compute_root().fuse(f.c, f.bh, cb).split(x, o, i, positions, guard).gpu_blocks(o, cb).gpu_threads(i);
        on_lanes(s, fn, i);
    }
    // A LaneSum's stages inside the warp of `fn`'s thread `at`, u on the lanes, the butterfly on register shuffles.
    // A lane's terms of each range unrolled by their group (LaneSum::pass_group; no guard where the range has no
    // causal skip), so that their loads are in flight together: in a loop, each waited for the one before (seen
    // 2026-12-07 as 12 cycles per issued instruction in the float32 forward's operand stage).
    static void on_lanes(const LaneSum &s, Halide::Func fn, const Halide::Var &at) {
        std::vector<Halide::Func> stages{s.partial};
        stages.insert(stages.end(), s.steps.begin(), s.steps.end());
        for (Halide::Func stage : stages) stage.compute_at(fn, at).bound(s.u, 0, LaneSum::lanes).gpu_lanes(s.u);
        Halide::Func partial = s.partial;
        for (int k = 0; k < partial.num_update_definitions(); k++) {
            Halide::Stage stage = partial.update(k);
            stage.gpu_lanes(s.u);
            // A range of known length unrolled whole (its terms may then be read from registers), else by groups.
            if (s.pass_counts[k] > 0) {
                stage.unroll(partial.rvars(k)[0]);
            } else {
                stage.unroll(partial.rvars(k)[0], LaneSum::pass_group, Halide::TailStrategy::GuardWithIf);
            }
        }
    }
    // A serial scan, update `u` of `fn` over `r` (the thread's own loop), in groups of `scan_group` steps: the
    // group's reads of its inputs first, into registers, then its steps unrolled. In straight-line code LLVM
    // forwards each step's stored value to the next step's read of it, so a thread waits on memory once per group;
    // the plain loop waited for every step's inputs and for reading back the store of the step before (Halide keeps
    // a scan's running value in memory). An input: a Func the scan reads (not a Tuple: its wrapper would load every
    // element), and which of its arguments the step indexes. With no inputs it also serves a reduction's loop (the
    // maxima over a chunk's positions): its loads, 8 at a time, are then in flight together.
    struct ScanInput {
        Halide::Func fn;
        int step_arg;
    };
    static constexpr int scan_group = 8;
    Halide::Stage grouped_scan(Halide::Func fn, int u, const Halide::RVar &r, const std::vector<ScanInput> &inputs) {
        Halide::RVar group("group"), step("step");
        Halide::Stage s = fn.update(u);
        s.split(r, group, step, scan_group, guard).unroll(step);
        for (ScanInput input : inputs) {
            Halide::Func w = input.fn.in(fn);
            Halide::Var v = w.args()[input.step_arg];
            w.compute_at(fn, group).store_in(Halide::MemoryType::Register).bound_storage(v, scan_group)
                .unroll(v, scan_group, guard);
        }
        return s;
    }

    // A scan over a chunk's positions (fn(tau, c, bh): a pure stage, then update 0 over f.r_position): the pure
    // stage a row of threads per chunk, the scan one thread per (chunk, batch-head) in groups of steps, L steps of
    // work where a thread per position walking its row up to itself did L^2. At the benchmark shape (H100, bf16,
    // chunk 128) each scan takes 0.065 ms per call, latency-bound, against 0.076 and 0.114 ms for the kernels of
    // the per-position versions (2026-12-07, docs/benchmarks-gpu.md).
    void position_scan(Halide::Func fn, int chunk) {
        fn.compute_root();
        rowwise(fn, f.tau, chunk);
        grouped_scan(fn, 0, f.r_position.x, {}).fuse(f.c, f.bh, cb).split(cb, o, i, tx, guard).gpu_blocks(o)
            .gpu_threads(i);
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
            position_scan(f.log_fgate_prefix, chunk);
        } else {
            f.cum_log_fgate.compute_root();
            tiled(f.cum_log_fgate, f.sigma, f.tau);
            rowwise(f.cum_log_fgate.update(), f.sigma, chunk);
        }
        f.a_max.compute_root().gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        grouped_scan(f.a_max, 0, f.r_sigma.x, {}).gpu_tile(f.c, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        f.m_state.compute_root().gpu_tile(f.kk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        if (f.m_state.num_update_definitions() > 0) {
            per_head(grouped_scan(f.m_state, 0, f.r_chunk.x, {{f.a_max, 0}, {f.b, 1}}), f.bh);
        }
        // Once per position: inline, its exponential would be recomputed for every feature of the weighted keys.
        rowwise_root(f.state_weight, f.sigma, chunk);
    }

    // (3) the per-position factors of the outputs, once per position for the same reason (after m_out).
    // Given (the saved per-token values), m_out is read in place.
    void output_factors(int chunk) {
        if (!f.token_stats_given) {
            if (f.log_fgate_prefix.defined()) {
                position_scan(f.intra_max, chunk);
            } else {
                grouped_scan(f.intra_max, 0, f.r_sigma.x, {});
                rowwise_root(f.intra_max, f.tau, chunk);
            }
            rowwise_root(f.m_out, f.tau, chunk);
        }
        rowwise_root(f.inter_factor, f.tau, chunk);
    }

    // h's denominator, q_inter . n plus the sum of the intra-chunk weights, in float32 on both paths: one thread
    // per position walks its rows, which stay in L1. Measured 2026-12-02 on the H200: splitting each sum over 32
    // coalesced lanes (then adding the lanes per position) took twice as long; the sums as products of a row of
    // ones with the bfloat16 weights (and of n with q_inter in TF32) put bfloat16 outputs 1.3-1.5% off, past the
    // 16-bit bound.
    // The normalizer itself at root, once per position (inlined, its floor's exp would be computed for every element
    // of the stages that divide by it), its sums inside the position's thread.
    // Given, den is read in place.
    void normalizer_dots(int chunk) {
        if (f.den_inverse.defined()) rowwise_root(f.den_inverse, f.tau, chunk);
        if (f.token_stats_given) return;
        if (f.den_sum.partial.defined()) {  // the tensor-core paths' sums in a warp's order
            lane_sums(f.den, f.den_sum, f.tau, positions_per_block);
            return;
        }
        rowwise_root(f.den, f.tau, chunk);
        f.h_den_dot.compute_at(f.den, i);
    }

    // (2) each chunk's state contribution, then the scan over chunks. The gate-weighted keys are stored once, so
    // that the product's inner loop does no exponentials.
    void state_scan(bool tensor_cores) {
        if (tensor_cores) {
            // The weighted keys stored (padded past S, narrowed to bfloat16 for 16-bit inputs) for cuBLAS, which
            // reads v in place.
            tiled_vectors(f.kw_operand, f.dqk, f.sigma);
            f.c_delta.compute_root();
        } else {
            tiled_vectors(f.k_weighted, f.dqk, f.sigma);
            tiled_root(f.c_delta, f.dv, f.dqk);
        }
        rowwise_root(f.n_delta, f.dqk, tx);
        // Every stage on the device, the empty pure ones too: a stage left on the host would make Halide require a
        // host buffer for the states, which the forward's outputs are.
        f.c_state.compute_root();
        Halide::Stage c_scan = grouped_scan(f.c_state, 1, f.r_chunk.x, {{f.c_delta, 2}, {f.state_decay, 0}});
        for (Halide::Stage s : {Halide::Stage(f.c_state), f.c_state.update(0), c_scan}) {
            s.gpu_tile(f.dv, f.dqk, x_o, y_o, x_i, y_i, tx, ty, guard).gpu_blocks(f.bh);
        }
        f.n_state.compute_root();
        Halide::Stage n_scan = grouped_scan(f.n_state, 1, f.r_chunk.x, {{f.n_delta, 1}, {f.state_decay, 0}});
        for (Halide::Stage s : {Halide::Stage(f.n_state), f.n_state.update(0), n_scan}) {
            s.gpu_tile(f.dqk, f.bh, x_o, y_o, x_i, y_i, tx, 1, guard);
        }
    }
};

}  // namespace hmlstm
