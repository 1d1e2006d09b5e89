// CPU (x86-64: AVX-512, AVX2, baseline) schedules of every form. Each takes the Funcs that generators/ defined and
// the generator's outputs; none changes what is computed.
#pragma once

#include "../generators/attention.h"
#include "../generators/chunkwise.h"
#include "../generators/chunkwise_backward.h"
#include "../generators/parallel.h"
#include "../generators/parallel_backward.h"
#include "../generators/recurrent.h"
#include "../generators/recurrent_backward.h"
#include "cpu_common.h"

namespace hmlstm {

struct StepOutputs {
    Halide::Func h, c_new, n_new, m_new;
};
void schedule_recurrent_step_cpu(StepFuncs &f, StepOutputs &out, const CpuKnobs &knobs, const Halide::Target &target);

struct SequenceOutputs {
    Halide::Func h, c_last, n_last, m_last;
};
void schedule_recurrent_sequence_cpu(SequenceFuncs &f, SequenceOutputs &out, const CpuKnobs &knobs,
                                     const Halide::Target &target);

struct RecurrentBackwardOutputs {
    Halide::Func dq, dk, dv, di, df, dc_initial, dm_initial;
};
void schedule_recurrent_backward_cpu(SequenceFuncs &f, RecurrentBackwardFuncs &b, RecurrentBackwardOutputs &out,
                                     const CpuKnobs &knobs);

void schedule_parallel_cpu(ParallelFuncs &f, Halide::Func h, const CpuKnobs &knobs, const Halide::Target &target);
void schedule_attention_cpu(AttentionFuncs &f, Halide::Func h, const CpuKnobs &knobs);
// The parallel form's gate matrices, stabilizers and staged keys and values, shared with its backward.
void schedule_parallel_gates_cpu(ParallelFuncs &f, const CpuKnobs &knobs);

struct ParallelBackwardOutputs {
    Halide::Func dq, dk, dv, di, df;
};
void schedule_parallel_backward_cpu(ParallelFuncs &f, ParallelBackwardFuncs &b, ParallelBackwardOutputs &out,
                                    const CpuKnobs &knobs);

struct ChunkwiseOutputs {
    Halide::Func h, c_last, n_last, m_last, token_den, token_m;
    // Set where token_den is zeros unless this holds: the schedule then specializes token_den on it.
    Halide::Expr token_den_wanted = Halide::Expr();
};
// A chunk size given at run time (`value`), for which the pipeline is specialized at each of `sizes`.
struct RunTimeChunk {
    Halide::Expr value;
    std::vector<int> sizes;
};
void schedule_chunkwise_cpu(ChunkwiseFuncs &f, ChunkwiseOutputs &out, int chunk, const CpuKnobs &knobs,
                            const Halide::Target &target, const RunTimeChunk &run_time = {});
// The chunkwise form's first two phases, shared with its backward: gates, and the scan of the states. With
// `dqk_major` the states are stored transposed (dqk innermost), the layout of the backward's products with C^T.
void schedule_chunkwise_gates_cpu(ChunkwiseFuncs &f, const CpuKnobs &knobs);
void schedule_chunkwise_state_scan_cpu(ChunkwiseFuncs &f, const CpuKnobs &knobs, bool dqk_major = false);

struct ChunkwiseBackwardOutputs {
    Halide::Func dq, dk, dv, di, df, dc_initial, dm_initial;
};
void schedule_chunkwise_backward_cpu(ChunkwiseFuncs &f, ChunkwiseBackwardFuncs &b, ChunkwiseBackwardOutputs &out,
                                     int chunk, bool recompute_states, const CpuKnobs &knobs);

}  // namespace hmlstm
