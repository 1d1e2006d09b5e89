// CUDA schedules of the recurrent step and sequence (math: generators/recurrent.h).
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

namespace {

// h, n and m: small kernels after the one over C, h_columns columns of h per block; with gates_root, the gate
// factors in a small kernel before it.
void schedule_step_small_stages_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &k, int h_columns,
                                     bool gates_root) {
    Var dv_o("dv_o"), dv_i("dv_i"), dqk_o("dqk_o"), dqk_i("dqk_i");
    Var bh_o("bh_o"), bh_i("bh_i");
    if (gates_root) {
        for (Func fn : {f.decay, f.gain}) {
            fn.compute_root().split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
        }
        f.gain.compute_with(f.decay, bh_i);
    }

    // h sums the groups' partials, one thread per column; its denominator q . n_new once per block, the block's
    // threads each summing a strided share of the rows first.
    out.h.split(f.dv, dv_o, dv_i, h_columns, TailStrategy::GuardWithIf).gpu_blocks(dv_o, f.bh).gpu_threads(dv_i);
    f.h_num.compute_at(out.h, dv_i);
    RVar rd_o("rd_o"), rd_i("rd_i");
    Var lane("lane");
    f.h_den.update().split(f.r_dqk.x, rd_o, rd_i, k.threads, TailStrategy::GuardWithIf);
    Func den_lanes = f.h_den.update().rfactor(rd_i, lane);
    f.h_den.compute_at(out.h, dv_o);
    den_lanes.compute_at(out.h, dv_o).gpu_threads(lane);
    den_lanes.update().gpu_threads(lane);
    out.n_new.split(f.dqk, dqk_o, dqk_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(dqk_o, f.bh).gpu_threads(dqk_i);
    out.m_new.split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
}

// The kernel over C: a block covers `threads` columns dv of one (batch, head) and groups of its rows dqk; each thread
// owns `rows` rows of one column: it sums its share of h's numerator in a register (rfactor of the sum over dqk into
// per-group partial sums) and writes the same elements' new values, in the same kernel (compute_with at the
// thread). Reading and writing an element in the same thread keeps an in-place update safe. `tail`: how the column
// and row splits end; `unroll`: the rows unrolled at a time (0: all of them). Returns the thread's loop level.
LoopLevel schedule_state_kernel(StepFuncs &f, StepOutputs &out, int threads, const Expr &rows, TailStrategy tail,
                           int unroll) {
    Var dv_o("dv_o"), dv_i("dv_i"), g("g"), dqk_i("dqk_i");
    RVar r_o("r_o"), r_i("r_i");
    f.h_num.update().split(f.r_dqk.x, r_o, r_i, rows, TailStrategy::GuardWithIf);
    Func partial = f.h_num.update().rfactor(r_o, g);
    Func partial_sums = partial.in(f.h_num);
    partial_sums.compute_root()
        .split(f.dv, dv_o, dv_i, threads, tail)
        .reorder(dv_i, g, dv_o, f.bh)
        .gpu_blocks(dv_o, f.bh)
        .gpu_threads(dv_i, g);
    // One register per thread (bounds inference cannot see that through guarded splits).
    partial.compute_at(partial_sums, dv_i)
        .bound_storage(f.dv, 1).bound_storage(f.bh, 1).bound_storage(g, 1)
        .store_in(MemoryType::Register);
    out.c_new.split(f.dv, dv_o, dv_i, threads, tail)
        .split(f.dqk, g, dqk_i, rows, tail)
        .reorder(dqk_i, dv_i, g, dv_o, f.bh)
        .gpu_blocks(dv_o, f.bh)
        .gpu_threads(dv_i, g);
    if (unroll) {
        partial.update().unroll(r_i, unroll, TailStrategy::GuardWithIf);
        out.c_new.unroll(dqk_i, unroll, TailStrategy::GuardWithIf);
    } else {
        partial.update().unroll(r_i);
        out.c_new.unroll(dqk_i);
    }
    out.c_new.compute_with(partial_sums, dv_i);
    partial_sums.never_partition_all();  // fused loops must keep one body
    out.c_new.never_partition_all();
    return LoopLevel(partial_sums, dv_i);
}

}  // namespace

// The dense variant, for DHQK a multiple of `rows` (32 by default), DHV of 32 and buffers starting at 0 (the runtime
// picks it then): a thread owns `rows` rows of one column (DHQK / rows row groups per block) and holds their new
// values in registers, so each element of C is loaded once, all loads in flight, and h's partial sum and the store
// both read the registers. Its splits round up (the extents are multiples), which keeps every bound a constant
// offset from the thread's first row: with guarded splits Halide can only keep the tile in local memory.
void schedule_recurrent_step_dense_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &k, int rows) {
    LoopLevel thread = schedule_state_kernel(f, out, k.threads, rows, TailStrategy::RoundUp, 0);
    f.c_new.compute_at(thread)
        .bound_extent(f.dv, 1).bound_extent(f.bh, 1).bound_extent(f.dqk, rows)
        .store_in(MemoryType::Register)
        .unroll(f.dqk);
    // h with 128 columns per block, so that a quarter of the blocks recompute its denominator q . n_new. The gate
    // factors stay inline: each thread computes them once for its whole tile (one kernel launch fewer).
    schedule_step_small_stages_cuda(f, out, k, 128, false);
}

// The general variant: `rows` groups of rows per column (DHQK / groups rows each, rounded up), guarded splits; a
// thread reads its rows twice, for h's partial and for the store (the second time from L1).
void schedule_recurrent_step_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &k) {
    const int groups = k.rows;
    Expr rows_per_group = (f.r_dqk.x.extent() + groups - 1) / groups;
    schedule_state_kernel(f, out, k.threads, rows_per_group, TailStrategy::GuardWithIf, 4);
    // The gate factors once per (batch, head), in one small kernel before the others: inline, their exponentials
    // and logarithm would be recomputed for every element of C (these loops become instruction-bound).
    schedule_step_small_stages_cuda(f, out, k, k.threads, true);
}

void schedule_sequence_gates_cuda(SequenceFuncs &f, const CudaKnobs &k) {
    Var bh_o("bh_o"), bh_i("bh_i"), t_o("t_o"), t_i("t_i");
    f.log_fgate.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    // The max-state scan is serial over tokens, one thread per (batch, head).
    f.m_seq.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    f.m_seq.update().split(f.bh, bh_o, bh_i, k.threads, TailStrategy::GuardWithIf).gpu_blocks(bh_o).gpu_threads(bh_i);
    for (Func fn : {f.decay, f.gain}) {
        fn.compute_root().gpu_tile(f.t, f.bh, t_o, bh_o, t_i, bh_i, k.threads, 1, TailStrategy::GuardWithIf);
    }
}

// The sequence: each thread owns one column x of its (batch, head)'s augmented state and walks every token through
// it serially (the column's update and its numerator read only that column), so threads never wait for each other.
void schedule_recurrent_sequence_cuda(SequenceFuncs &f, SequenceOutputs &out, const CudaKnobs &k) {
    schedule_sequence_gates_cuda(f, k);
    Var bh_o("bh_o"), bh_i("bh_i");

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
