// CPU schedules of the recurrent step and sequence (math: generators/recurrent.h).
#include "cpu_schedules.h"

namespace hmlstm {

using namespace Halide;

// The decode step is pure memory traffic over C. Per (batch, head) the gate factors and the new n are computed
// first, then h and the new C each read the old C (the second read hits the cache), so that C crosses memory once
// each way. The new C is not stored between the two: it is recomputed where it is used. The order inside one
// (batch, head) also makes in-place updates safe: everything reads its old state before any output is written.
void schedule_recurrent_step_cpu(StepFuncs &f, StepOutputs &out, const CpuKnobs &k, const Target &) {
    const int vec = k.vector_width;
    out.h.parallel(f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    for (Func fn : {f.m_new, f.decay, f.gain}) fn.compute_at(out.h, f.bh);
    f.n_new.compute_at(out.h, f.bh).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.q_scaled.compute_at(out.h, f.bh).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    f.h_num.compute_at(out.h, f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    f.h_num.update().reorder(f.dv, f.r_dqk).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    f.h_den.compute_at(out.h, f.bh);

    out.c_new.parallel(f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    out.n_new.parallel(f.bh).vectorize(f.dqk, vec, TailStrategy::GuardWithIf);
    out.m_new.parallel(f.bh);
    out.c_new.compute_with(out.h, f.bh);
    out.n_new.compute_with(out.h, f.bh);
    out.m_new.compute_with(out.h, f.bh);
}

// The sequence keeps each (batch, head)'s state in the cache while it walks the tokens; heads run in parallel.
void schedule_recurrent_sequence_cpu(SequenceFuncs &f, SequenceOutputs &out, const CpuKnobs &k, const Target &) {
    const int vec = k.vector_width;
    f.log_fgate.compute_root().parallel(f.bh);
    f.m_seq.compute_root().parallel(f.bh);
    f.m_seq.update().parallel(f.bh);
    f.decay.compute_root().parallel(f.bh);
    f.gain.compute_root().parallel(f.bh);

    RVar r_dqk(f.r_step.x), phase(f.r_step.y), tok(f.r_step.z);
    f.work.compute_root().parallel(f.bh).vectorize(f.x, vec, TailStrategy::GuardWithIf);
    f.work.update()
        .reorder(f.x, r_dqk, phase, tok, f.bh)
        .parallel(f.bh)
        .vectorize(f.x, vec, TailStrategy::GuardWithIf)
        .unroll(phase);
    f.v_aug.compute_at(f.work, tok).vectorize(f.x, vec, TailStrategy::GuardWithIf);

    out.h.parallel(f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    out.c_last.parallel(f.bh).vectorize(f.dv, vec, TailStrategy::GuardWithIf);
    out.n_last.parallel(f.bh);
    out.m_last.parallel(f.bh);
}

}  // namespace hmlstm
