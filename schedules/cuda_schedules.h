// CUDA (NVIDIA, Halide's SIMT PTX backend) schedules of every form. Each takes the Funcs that generators/ defined
// and the generator's outputs; none changes what is computed. The CPU schedules are in cpu_schedules.h.
#pragma once

#include "../generators/chunkwise.h"
#include "../generators/parallel.h"
#include "../generators/recurrent.h"
#include "cpu_schedules.h"

namespace hmlstm {

// Thread-block knobs. Zero means "the default below".
struct CudaKnobs {
    int threads = 0;  // threads of a block along the contiguous (feature) dimension
    int rows = 0;     // rows (tokens) a block covers in the matrix-product stages
};

inline CudaKnobs resolve_cuda_knobs(CudaKnobs k) {
    if (k.threads == 0) k.threads = 64;
    if (k.rows == 0) k.rows = 8;
    return k;
}

void schedule_recurrent_step_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &knobs);
void schedule_recurrent_step_dense_cuda(StepFuncs &f, StepOutputs &out, const CudaKnobs &knobs, int tile_rows);
void schedule_recurrent_sequence_cuda(SequenceFuncs &f, SequenceOutputs &out, const CudaKnobs &knobs);
void schedule_recurrent_backward_cuda(SequenceFuncs &f, RecurrentBackwardFuncs &b, RecurrentBackwardOutputs &out,
                                      const CudaKnobs &knobs);
// The sequence form's gate scan (stabilizer, decay and gain per token), shared with its backward.
void schedule_sequence_gates_cuda(SequenceFuncs &f, const CudaKnobs &knobs);
void schedule_parallel_cuda(ParallelFuncs &f, Halide::Func h, const CudaKnobs &knobs);
void schedule_attention_cuda(AttentionFuncs &f, Halide::Func h, const CudaKnobs &knobs);
// The parallel form's gate matrices, weights and row sums, shared with its backward.
void schedule_parallel_gates_cuda(ParallelFuncs &f, const CudaKnobs &knobs);
void schedule_parallel_backward_cuda(ParallelFuncs &f, ParallelBackwardFuncs &b, ParallelBackwardOutputs &out,
                                     const CudaKnobs &knobs);
// tensor_cores: the products are cuBLAS extern stages (generators/batched_product.h); their operands are stored.
void schedule_chunkwise_cuda(ChunkwiseFuncs &f, ChunkwiseOutputs &out, int chunk, bool tensor_cores,
                             const CudaKnobs &knobs);
// tensor_cores: the backward's products are cuBLAS extern stages too.
void schedule_chunkwise_backward_cuda(ChunkwiseFuncs &f, ChunkwiseBackwardFuncs &b, ChunkwiseBackwardOutputs &out,
                                      int chunk, bool recompute_states, bool tensor_cores, const CudaKnobs &knobs);

}  // namespace hmlstm
