// CPU schedule of the recurrent sequence backward (math: generators/recurrent_backward.h).
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

// The gate scan and the two state scans (forward, then backward through time) run per (batch, head), vectorized
// along the state's rows; every token's gradients then run in parallel over (token, batch-head).
void schedule_recurrent_backward_cpu(SequenceFuncs &f, RecurrentBackwardFuncs &b, RecurrentBackwardOutputs &out,
                                     const CpuKnobs &k) {
    const int vec = k.vector_width;
    const TailStrategy guard = TailStrategy::GuardWithIf;
    Var tb("tb");
    auto per_head = [&](Func fn) {
        fn.compute_root().parallel(f.bh);
        for (int u = 0; u < fn.num_update_definitions(); u++) fn.update(u).parallel(f.bh);
    };
    auto per_token = [&](Func fn, const Var &x) {
        fn.compute_root().fuse(f.t, f.bh, tb).parallel(tb).vectorize(x, vec, guard);
        for (int u = 0; u < fn.num_update_definitions(); u++) {
            fn.update(u).fuse(f.t, f.bh, tb).parallel(tb).vectorize(x, vec, guard);
        }
    };

    for (Func fn : {f.log_fgate, f.m_seq, f.decay, f.gain}) per_head(fn);
    f.q_scaled.compute_root().parallel(f.bh).vectorize(f.dqk, vec, guard);
    for (Func fn : {b.c_all, b.g_all}) {
        fn.compute_root();
        for (int u : {0, 1}) fn.update(u).parallel(f.bh).vectorize(f.dv, vec, guard);
    }
    b.n_all.compute_root();
    for (int u : {0, 1}) b.n_all.update(u).parallel(f.bh).vectorize(f.dqk, vec, guard);
    per_head(b.den);
    per_token(b.dh_scaled, f.dv);

    per_token(b.dq, f.dqk);
    per_token(b.dk, f.dqk);
    per_token(b.dv, f.dv);
    per_token(b.decay_rows, f.dv);
    for (Func fn : {b.di, b.decay_grad}) {
        fn.compute_root().fuse(f.t, f.bh, tb).parallel(tb);
        fn.update().fuse(f.t, f.bh, tb).parallel(tb);
    }
    for (Func fn : {out.dq, out.dk, out.dv}) fn.parallel(f.bh).vectorize(fn.args()[0], vec, guard);
    for (Func fn : {out.di, out.df}) fn.parallel(f.bh).vectorize(f.t, vec, guard);
    out.dc_initial.parallel(f.bh).vectorize(f.dv, vec, guard);
    out.dm_initial.compute_root();
}

}  // namespace hmlstm
