// Generated kernels by (form, dtype, chunk size); the same matrix as generators/CMakeLists.txt.
#include "kernels.h"

#include "mlstm_chunkwise_fw_bf16_chunk128.h"
#include "mlstm_chunkwise_fw_bf16_chunk16.h"
#include "mlstm_chunkwise_fw_bf16_chunk256.h"
#include "mlstm_chunkwise_fw_bf16_chunk32.h"
#include "mlstm_chunkwise_fw_bf16_chunk64.h"
#include "mlstm_chunkwise_fw_f32_chunk128.h"
#include "mlstm_chunkwise_fw_f32_chunk16.h"
#include "mlstm_chunkwise_fw_f32_chunk256.h"
#include "mlstm_chunkwise_fw_f32_chunk32.h"
#include "mlstm_chunkwise_fw_f32_chunk64.h"
#include "mlstm_parallel_fw_bf16.h"
#include "mlstm_parallel_fw_f32.h"
#include "mlstm_recurrent_sequence_fw_bf16.h"
#include "mlstm_recurrent_sequence_fw_f32.h"
#include "mlstm_recurrent_step_fw_bf16.h"
#include "mlstm_recurrent_step_fw_f32.h"

namespace hmlstm::detail {

const int64_t kChunkSizes[] = {16, 32, 64, 128, 256};
const int kNumChunkSizes = 5;

namespace {
struct ChunkwiseVariant {
    int64_t chunk_size;
    ChunkwiseKernel f32, bf16;
};
const ChunkwiseVariant kChunkwise[] = {
    {16, mlstm_chunkwise_fw_f32_chunk16, mlstm_chunkwise_fw_bf16_chunk16},
    {32, mlstm_chunkwise_fw_f32_chunk32, mlstm_chunkwise_fw_bf16_chunk32},
    {64, mlstm_chunkwise_fw_f32_chunk64, mlstm_chunkwise_fw_bf16_chunk64},
    {128, mlstm_chunkwise_fw_f32_chunk128, mlstm_chunkwise_fw_bf16_chunk128},
    {256, mlstm_chunkwise_fw_f32_chunk256, mlstm_chunkwise_fw_bf16_chunk256},
};

template <typename Kernel>
Kernel by_dtype(DType dtype, Kernel f32, Kernel bf16) {
    switch (dtype) {
    case DType::float32: return f32;
    case DType::bfloat16: return bf16;
    }
    return nullptr;
}
}  // namespace

ChunkwiseKernel chunkwise_kernel(DType dtype, int64_t chunk_size) {
    for (const ChunkwiseVariant &v : kChunkwise) {
        if (v.chunk_size == chunk_size) return by_dtype(dtype, v.f32, v.bf16);
    }
    return nullptr;
}

SequenceKernel sequence_kernel(DType dtype) {
    return by_dtype<SequenceKernel>(dtype, mlstm_recurrent_sequence_fw_f32, mlstm_recurrent_sequence_fw_bf16);
}

StepKernel step_kernel(DType dtype) {
    return by_dtype<StepKernel>(dtype, mlstm_recurrent_step_fw_f32, mlstm_recurrent_step_fw_bf16);
}

ParallelKernel parallel_kernel(DType dtype) {
    return by_dtype<ParallelKernel>(dtype, mlstm_parallel_fw_f32, mlstm_parallel_fw_bf16);
}

}  // namespace hmlstm::detail
