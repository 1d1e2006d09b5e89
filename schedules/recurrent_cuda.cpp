// CUDA schedules of the recurrent step and sequence (math: generators/recurrent.h).
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

// The decode step is memory traffic over C. One thread owns one column dv of C in one (batch, head): it reads the
// column once, forms h from it, and writes the new column, so C crosses memory once each way and an in-place
// update is safe (a column is read before its own thread writes it). The small n and m updates run after, in
// their own kernels, since every column's h reads the old n and m.
void schedule_recurrent_step_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &k) {
    Var dv_o("dv_o"), dv_i("dv_i");
    out.h.split(f.dv, dv_o, dv_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(dv_o, f.bh).gpu_threads(dv_i);
    // Unrolled reductions keep several loads of C in flight per thread.
    f.h_num.compute_at(out.h, dv_i).update().unroll(f.r_dqk, 8, TailStrategy::GuardWithIf);
    f.h_den.compute_at(out.h, dv_i).update().unroll(f.r_dqk, 8, TailStrategy::GuardWithIf);
    out.c_new.split(f.dv, dv_o, dv_i, k.threads, TailStrategy::GuardWithIf)
        .reorder(f.dqk, dv_i, dv_o, f.bh)
        .gpu_blocks(dv_o, f.bh)
        .gpu_threads(dv_i)
        .unroll(f.dqk, 8, TailStrategy::GuardWithIf);
    out.c_new.compute_with(out.h, dv_o);
    out.h.never_partition_all();  // fused loops must keep one body: no separate prologue or epilogue blocks
    out.c_new.never_partition_all();

    Var dqk_o("dqk_o"), dqk_i("dqk_i");
    out.n_new.split(f.dqk, dqk_o, dqk_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(dqk_o, f.bh).gpu_threads(dqk_i);
    Var bh_o("bh_o"), bh_i("bh_i");
    out.m_new.split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
}

// The sequence: each thread owns one column x of its (batch, head)'s augmented state and walks every token through
// it serially (the column's update and its numerator read only that column), so threads never wait for each other.
void schedule_recurrent_sequence_cuda(SequenceFuncs &f, SequenceOutputs &out, const CudaKnobs &k) {
    Var bh_o("bh_o"), bh_i("bh_i"), t_o("t_o"), t_i("t_i");
    f.log_fgate.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    // The max-state scan is serial over tokens, one thread per (batch, head).
    f.m_seq.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    f.m_seq.update().split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
    for (Func fn : {f.decay, f.gain}) {
        fn.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    }

    RVar r_dqk(f.r_step.x), phase(f.r_step.y), tok(f.r_step.z);
    Var x_o("x_o"), x_i("x_i");
    f.work.compute_root().split(f.x, x_o, x_i, k.threads, TailStrategy::GuardWithIf)
        .gpu_blocks(x_o, f.row, f.bh).gpu_threads(x_i);
    f.work.update()
        .split(f.x, x_o, x_i, k.threads, TailStrategy::GuardWithIf)
        .reorder(r_dqk, phase, tok, x_i, x_o, f.bh)
        .gpu_blocks(x_o, f.bh)
        .gpu_threads(x_i);

    Var dv_o("dv_o"), dv_i("dv_i"), dqk_o("dqk_o"), dqk_i("dqk_i");
    out.h.split(f.dv, dv_o, dv_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(dv_o, f.t, f.bh).gpu_threads(dv_i);
    out.c_last.split(f.dv, dv_o, dv_i, k.threads, TailStrategy::GuardWithIf)
        .gpu_blocks(dv_o, f.dqk, f.bh).gpu_threads(dv_i);
    out.n_last.split(f.dqk, dqk_o, dqk_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(dqk_o, f.bh).gpu_threads(dqk_i);
    out.m_last.split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
}

}  // namespace hmlstm
