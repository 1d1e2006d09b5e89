// The table of generated kernels: which compiled variant serves a (form, dtype, chunk size).
#pragma once

#include <string>
#include <vector>

#include "HalideRuntime.h"
#include "hmlstm/hmlstm.h"

namespace hmlstm::detail {

inline const std::string kDefaultSchedule = "default";
// Not a schedule of the API: the tuning tables' name for the CUDA SIMT product path (CudaProducts::simt).
inline const std::string kSimtSchedule = "simt";

using Buf = halide_buffer_t *;

// Argument order is the generators' order: inputs, scalars, outputs.
using ChunkwiseKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf c_initial,
                                Buf n_initial, Buf m_initial, float eps, float norm_val, bool stabilize_correctly,
                                bool save_token_stats, Buf h, Buf c_last, Buf n_last, Buf m_last, Buf chunk_c,
                                Buf chunk_n, Buf chunk_m, Buf token_den, Buf token_m);
using ChunkwiseBackwardKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf c_initial,
                                        Buf n_initial, Buf m_initial, Buf chunk_c, Buf chunk_n, Buf chunk_m,
                                        Buf token_den, Buf token_m, Buf dh, Buf dc_last, float eps, float norm_val,
                                        bool stabilize_correctly, Buf dq, Buf dk, Buf dv, Buf di, Buf df,
                                        Buf dc_initial, Buf dm_initial);
using ParallelBackwardKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf mask,
                                       bool use_mask, bool stabilize_rowwise, float eps, Buf dh, Buf dq, Buf dk,
                                       Buf dv, Buf di, Buf df);
using SequenceBackwardKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf c_initial,
                                       Buf n_initial, Buf m_initial, float eps, Buf dh, Buf dc_last, Buf dq, Buf dk,
                                       Buf dv, Buf di, Buf df, Buf dc_initial, Buf dm_initial);
using SequenceKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf c_initial,
                               Buf n_initial, Buf m_initial, float eps, Buf h, Buf c_last, Buf n_last, Buf m_last);
using StepKernel = int (*)(const void *, Buf c_state, Buf n_state, Buf m_state, Buf q, Buf k, Buf v, Buf igate,
                           Buf fgate, float eps, Buf h, Buf c_new, Buf n_new, Buf m_new);
using ParallelKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf igate, Buf fgate, Buf mask, bool use_mask,
                               bool stabilize_rowwise, float eps, Buf h);
using AttentionKernel = int (*)(const void *, Buf q, Buf k, Buf v, Buf mask, bool use_mask, int activation,
                                bool qk_swish, float theta, Buf h);

// Null when the variant was not compiled (any CUDA kernel in a build without CUDA, a schedule not compiled).
// tensor_cores (CUDA only): the variant whose products run on tensor cores through cuBLAS. schedule: "default",
// or one of the CPU forward's extra schedules (kSchedules).
ChunkwiseKernel chunkwise_kernel(DType dtype, int64_t chunk_size, Device device, bool tensor_cores,
                                 const std::string &schedule = kDefaultSchedule);
// What a chunkwise backward reads of its forward: nothing (it recomputes the chunk states and every token's
// normalizer and stabilizer), the per-token values (it recomputes the states), or both.
enum class BackwardInputs { recompute, token_stats, saved_states };
// Null also for token_stats on the CUDA SIMT path (not compiled: the caller recomputes instead).
ChunkwiseBackwardKernel chunkwise_backward_kernel(DType dtype, int64_t chunk_size, Device device,
                                                  BackwardInputs inputs, bool tensor_cores);
SequenceKernel sequence_kernel(DType dtype, Device device);
SequenceBackwardKernel sequence_backward_kernel(DType dtype, Device device);
// The step on CUDA has a variant for head dimensions that are multiples of 32 (C in register tiles).
StepKernel step_kernel(DType dtype, Device device, int64_t dhqk, int64_t dhv);
ParallelKernel parallel_kernel(DType dtype, Device device);
AttentionKernel attention_kernel(DType dtype, Device device);
ParallelBackwardKernel parallel_backward_kernel(DType dtype, Device device);

extern const int64_t kChunkSizes[];
extern const int kNumChunkSizes;

// The chunkwise forward's schedules on a device: "default" first, then the CPU's extra ones (HMLSTM_CPU_SCHEDULES
// of the build); CUDA has only "default" (its product path is ChunkwiseOptions::cuda_products).
const std::vector<std::string> &chunkwise_schedules(Device device);

}  // namespace hmlstm::detail
