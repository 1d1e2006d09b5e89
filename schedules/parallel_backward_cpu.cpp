// CPU schedule of the parallel backward (math: generators/parallel_backward.h).
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

// The forward's gate matrices and staged inputs, then per block of query rows (in parallel over block and
// batch-head) the weights W and the gradients of scores and log weights, each (S x S) matrix stored once; then dq,
// dk and dv per block of their rows, register-blocked like the forward's products; the gate gradients last.
void schedule_parallel_backward_cpu(ParallelFuncs &f, ParallelBackwardFuncs &b, ParallelBackwardOutputs &out,
                                    const CpuKnobs &k) {
    const int vec = k.vector_width;
    const int cols = vec * k.vector_blocks;
    const int rows = k.row_block;
    const int row_block = 64;
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var block("block"), outer("outer"), x_o("x_o"), y_o("y_o"), x_i("x_i"), y_i("y_i");

    schedule_parallel_gates_cpu(f, k);
    f.row_sum.compute_root().parallel(f.bh);
    f.row_sum.update().parallel(f.bh);
    for (Func fn : {f.q_scaled, b.k_scaled}) fn.compute_root().parallel(f.bh).vectorize(f.dqk, vec, guard);
    b.dh_scaled.compute_root().parallel(f.bh).vectorize(f.dv, vec, guard);
    b.v_transposed.compute_root().parallel(f.bh).vectorize(f.j, vec, guard);

    // A (x, y, bh) stage at root in blocks of `row_block` rows y, one (block, batch-head) per parallel task, tiled
    // into (cols x rows) register blocks; `acc`, when given, is the product it reads, computed per tile.
    auto tiled = [&](Func fn, const Var &x, const Var &y, Func acc) {
        fn.compute_root().split(y, outer, y, row_block, guard).fuse(outer, f.bh, block).parallel(block)
            .tile(x, y, x_o, y_o, x_i, y_i, cols, rows, TailStrategy::ShiftInwards)
            .vectorize(x_i, vec).unroll(y_i);
        if (acc.defined()) {
            acc.compute_at(fn, x_o);
            schedule_register_block(acc, x, y, k);
        }
    };
    tiled(f.weighted_scores, f.j, f.t, f.scores);
    f.weighted_scores.never_partition_all();  // the causal select would otherwise copy the unrolled block
    tiled(b.d_intra, f.j, f.t, b.d_weight);
    b.d_intra.never_partition_all();

    // Outputs: (x, row) tiles of the register-blocked accumulators.
    auto tiled_output = [&](Func output, Func acc, const Var &x, const Var &y) {
        output.split(y, outer, y, row_block, guard).fuse(outer, f.bh, block).parallel(block)
            .tile(x, y, x_o, y_o, x_i, y_i, cols, rows, TailStrategy::GuardWithIf)
            .vectorize(x_i, vec).unroll(y_i);
        Func tiles = acc.in(output);
        tiles.compute_at(output, block)
            .tile(x, y, x_o, y_o, x_i, y_i, cols, rows, TailStrategy::ShiftInwards).vectorize(x_i, vec).unroll(y_i);
        tiles.align_bounds(y, rows);  // blocks of rows aligned: the causal sums' bound is then one per block
        acc.compute_at(tiles, x_o);
        schedule_register_block(acc, x, y, k);
    };
    tiled_output(out.dq, b.dq, f.dqk, f.t);
    tiled_output(out.dk, b.dk, f.dqk, f.j);
    tiled_output(out.dv, b.dv, f.dv, f.j);

    b.column_suffix.compute_root();
    for (int u : {0, 1}) b.column_suffix.update(u).parallel(f.bh).vectorize(f.j, vec, guard);
    b.spanning.compute_root().parallel(f.bh);
    b.spanning.update().parallel(f.bh);
    for (Func fn : {out.di, out.df}) fn.parallel(f.bh).vectorize(fn.args()[0], vec, guard);
}

}  // namespace hmlstm
