// CUDA schedule of the parallel backward (math: generators/parallel_backward.h). Plain SIMT like the forward's: one
// thread per element of each stage, reductions serial inside the thread, every S x S matrix in device memory.
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_parallel_backward_cuda(ParallelFuncs &f, ParallelBackwardFuncs &b, ParallelBackwardOutputs &out,
                                     const CudaKnobs &k) {
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var x_o("x_o"), x_i("x_i"), y_o("y_o"), y_i("y_i");
    // (x, y, bh) in blocks of threads x rows; `acc`, when given, is the reduction it reads, one per thread.
    auto tiled = [&](Func fn, const Var &x, const Var &y, Func acc) {
        fn.gpu_tile(x, y, x_o, y_o, x_i, y_i, k.threads, k.rows, guard).gpu_blocks(f.bh);
        if (acc.defined()) acc.compute_at(fn, x_i);
    };
    // Columns (or rows) walked serially by one thread each: the scans and sums over one matrix dimension.
    auto per_line = [&](Stage stage, const Var &x) {
        stage.split(x, x_o, x_i, k.threads, guard).gpu_blocks(x_o, f.bh).gpu_threads(x_i);
    };

    schedule_parallel_gates_cuda(f, k);
    b.dh_scaled.compute_root();
    tiled(b.dh_scaled, f.dv, f.t, Func());
    b.d_intra.compute_root();
    tiled(b.d_intra, f.j, f.t, b.d_weight);
    tiled(out.dq, f.dqk, f.t, b.dq);
    tiled(out.dk, f.dqk, f.j, b.dk);
    tiled(out.dv, f.dv, f.j, b.dv);

    b.column_suffix.compute_root();
    per_line(b.column_suffix.update(0), f.j);
    per_line(b.column_suffix.update(1), f.j);
    b.spanning.compute_root();
    per_line(b.spanning, f.t);
    per_line(b.spanning.update(), f.t);
    per_line(out.di, f.j);
    per_line(out.df, f.t);
}

}  // namespace hmlstm
