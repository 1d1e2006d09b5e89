// CUDA schedule of the recurrent sequence backward (math: generators/recurrent_backward.h). Plain SIMT, the
// simplest form: each state element's scans through time in one thread, every token's gradients one thread per
// element, all (S + 1) states in device memory.
#include "cuda_schedules.h"

namespace hmlstm {

using namespace Halide;

void schedule_recurrent_backward_cuda(SequenceFuncs &f, RecurrentBackwardFuncs &b, RecurrentBackwardOutputs &out,
                                      const CudaKnobs &k) {
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var x_o("x_o"), x_i("x_i"), bh_o("bh_o"), bh_i("bh_i");
    // One thread per feature x of a line (dqk or dv), blocks over the rest; a stage's reduction or scan (its RVars,
    // innermost by default) runs serially inside the thread.
    auto per_feature = [&](Stage stage, const Var &x, std::vector<VarOrRVar> blocks) {
        stage.split(x, x_o, x_i, k.threads, guard);
        blocks.insert(blocks.begin(), x_o);
        std::vector<VarOrRVar> order = blocks;
        order.insert(order.begin(), x_i);
        stage.reorder(order).gpu_threads(x_i);
        if (blocks.size() == 2) stage.gpu_blocks(blocks[0], blocks[1]);
        if (blocks.size() == 3) stage.gpu_blocks(blocks[0], blocks[1], blocks[2]);
    };
    // Every stage of a per-token Func (x, t, bh), one thread per element.
    auto per_token = [&](Func fn, const Var &x) {
        fn.compute_root();
        per_feature(fn, x, {f.t, f.bh});
        for (int u = 0; u < fn.num_update_definitions(); u++) per_feature(fn.update(u), x, {f.t, f.bh});
    };
    // Every stage of a per-token scalar (t, bh).
    auto per_token_scalar = [&](Func fn) {
        fn.compute_root();
        per_feature(fn, f.t, {f.bh});
        for (int u = 0; u < fn.num_update_definitions(); u++) per_feature(fn.update(u), f.t, {f.bh});
    };

    schedule_sequence_gates_cuda(f, k);
    // The state scans: the undefined pure stage has no loop; the first state, then the walk through time.
    for (Func fn : {b.c_all, b.g_all}) {
        fn.compute_root();
        for (int u : {0, 1}) per_feature(fn.update(u), f.dv, {f.dqk, f.bh});
    }
    b.n_all.compute_root();
    for (int u : {0, 1}) per_feature(b.n_all.update(u), f.dqk, {f.bh});
    per_token_scalar(b.den);
    per_token(b.dh_scaled, f.dv);

    per_token(b.dq, f.dqk);
    per_token(b.dk, f.dqk);
    per_token(b.dv, f.dv);
    per_token(b.decay_rows, f.dv);
    per_token_scalar(b.di);
    per_token_scalar(b.decay_grad);
    for (Func fn : {out.dq, out.dk, out.dv}) per_feature(fn, fn.args()[0], {f.t, f.bh});
    for (Func fn : {out.di, out.df}) per_feature(fn, f.t, {f.bh});
    per_feature(out.dc_initial, f.dv, {f.dqk, f.bh});

    // dm_initial sums a whole state per (batch, head): partial sums per state row first, one thread each.
    Var row("row");
    Func rows = b.dm_initial.update().rfactor(b.r_state.y, row);
    rows.compute_root();
    per_feature(rows, row, {f.bh});
    per_feature(rows.update(), row, {f.bh});
    b.dm_initial.compute_root();
    for (Stage stage : {Stage(b.dm_initial), b.dm_initial.update()}) {
        stage.split(f.bh, bh_o, bh_i, k.threads, guard).gpu_blocks(bh_o).gpu_threads(bh_i);
    }
    out.dm_initial.split(f.bh, bh_o, bh_i, k.threads, guard).gpu_blocks(bh_o).gpu_threads(bh_i);
}

}  // namespace hmlstm
