// Generated kernels by (form, dtype, chunk size, device); the same matrix as generators/CMakeLists.txt.
#include "kernels.h"

#include <algorithm>

#include "mlstm_chunkwise_bw_bf16_chunk128.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_saved.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_stats.h"
#include "mlstm_chunkwise_bw_bf16_chunk16.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_saved.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_stats.h"
#include "mlstm_chunkwise_bw_bf16_chunk256.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_saved.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_stats.h"
#include "mlstm_chunkwise_bw_bf16_chunk32.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_saved.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_stats.h"
#include "mlstm_chunkwise_bw_bf16_chunk64.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_saved.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_stats.h"
#include "mlstm_chunkwise_bw_f32_chunk128.h"
#include "mlstm_chunkwise_bw_f32_chunk128_saved.h"
#include "mlstm_chunkwise_bw_f32_chunk128_stats.h"
#include "mlstm_chunkwise_bw_f32_chunk16.h"
#include "mlstm_chunkwise_bw_f32_chunk16_saved.h"
#include "mlstm_chunkwise_bw_f32_chunk16_stats.h"
#include "mlstm_chunkwise_bw_f32_chunk256.h"
#include "mlstm_chunkwise_bw_f32_chunk256_saved.h"
#include "mlstm_chunkwise_bw_f32_chunk256_stats.h"
#include "mlstm_chunkwise_bw_f32_chunk32.h"
#include "mlstm_chunkwise_bw_f32_chunk32_saved.h"
#include "mlstm_chunkwise_bw_f32_chunk32_stats.h"
#include "mlstm_chunkwise_bw_f32_chunk64.h"
#include "mlstm_chunkwise_bw_f32_chunk64_saved.h"
#include "mlstm_chunkwise_bw_f32_chunk64_stats.h"
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
#include "mlstm_attention_fw_bf16.h"
#include "mlstm_attention_fw_f32.h"
#include "mlstm_parallel_bw_bf16.h"
#include "mlstm_parallel_bw_f32.h"
#include "mlstm_parallel_fw_bf16.h"
#include "mlstm_parallel_fw_f32.h"
#include "mlstm_recurrent_sequence_bw_bf16.h"
#include "mlstm_recurrent_sequence_bw_f32.h"
#include "mlstm_recurrent_sequence_fw_bf16.h"
#include "mlstm_recurrent_sequence_fw_f32.h"
#include "mlstm_recurrent_step_fw_bf16.h"
#include "mlstm_recurrent_step_fw_f32.h"
#include "hmlstm_schedules.inc"
#ifdef HMLSTM_WITH_CUDA
#include "mlstm_chunkwise_bw_bf16_chunk128_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_saved_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_saved_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_saved_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_saved_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_saved_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk128_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk128_saved_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk16_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk16_saved_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk256_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk256_saved_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk32_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk32_saved_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk64_cuda.h"
#include "mlstm_chunkwise_bw_f32_chunk64_saved_cuda.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk128_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk16_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk256_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk32_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_bf16_chunk64_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk128_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk128_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk128_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk16_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk16_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk16_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk256_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk256_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk256_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk32_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk32_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk32_stats_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk64_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk64_saved_cuda_tc.h"
#include "mlstm_chunkwise_bw_f32_chunk64_stats_cuda_tc.h"
#include "mlstm_chunkwise_fw_bf16_chunk128_cuda.h"
#include "mlstm_chunkwise_fw_bf16_chunk16_cuda.h"
#include "mlstm_chunkwise_fw_bf16_chunk256_cuda.h"
#include "mlstm_chunkwise_fw_bf16_chunk32_cuda.h"
#include "mlstm_chunkwise_fw_bf16_chunk64_cuda.h"
#include "mlstm_chunkwise_fw_f32_chunk128_cuda.h"
#include "mlstm_chunkwise_fw_f32_chunk16_cuda.h"
#include "mlstm_chunkwise_fw_f32_chunk256_cuda.h"
#include "mlstm_chunkwise_fw_f32_chunk32_cuda.h"
#include "mlstm_chunkwise_fw_f32_chunk64_cuda.h"
#include "mlstm_parallel_bw_bf16_cuda.h"
#include "mlstm_parallel_bw_f32_cuda.h"
#include "mlstm_attention_fw_bf16_cuda.h"
#include "mlstm_attention_fw_f32_cuda.h"
#include "mlstm_parallel_fw_bf16_cuda.h"
#include "mlstm_parallel_fw_f32_cuda.h"
#include "mlstm_recurrent_sequence_bw_bf16_cuda.h"
#include "mlstm_recurrent_sequence_bw_f32_cuda.h"
#include "mlstm_recurrent_sequence_fw_bf16_cuda.h"
#include "mlstm_recurrent_sequence_fw_f32_cuda.h"
#include "mlstm_recurrent_step_fw_bf16_cuda.h"
#include "mlstm_recurrent_step_fw_f32_cuda.h"
#include "mlstm_recurrent_step_fw_bf16_cuda_dense.h"
#include "mlstm_recurrent_step_fw_f32_cuda_dense.h"
#include "mlstm_chunkwise_fw_bf16_chunk128_cuda_tc.h"
#include "mlstm_chunkwise_fw_bf16_chunk16_cuda_tc.h"
#include "mlstm_chunkwise_fw_bf16_chunk256_cuda_tc.h"
#include "mlstm_chunkwise_fw_bf16_chunk32_cuda_tc.h"
#include "mlstm_chunkwise_fw_bf16_chunk64_cuda_tc.h"
#include "mlstm_chunkwise_fw_f32_chunk128_cuda_tc.h"
#include "mlstm_chunkwise_fw_f32_chunk16_cuda_tc.h"
#include "mlstm_chunkwise_fw_f32_chunk256_cuda_tc.h"
#include "mlstm_chunkwise_fw_f32_chunk32_cuda_tc.h"
#include "mlstm_chunkwise_fw_f32_chunk64_cuda_tc.h"
#define HMLSTM_CUDA_KERNEL(name) name##_cuda
#define HMLSTM_CUDA_TC_KERNEL(name) name##_cuda_tc
#define HMLSTM_CUDA_DENSE_KERNEL(name) name##_cuda_dense
#else
#define HMLSTM_CUDA_KERNEL(name) nullptr
#define HMLSTM_CUDA_TC_KERNEL(name) nullptr
#define HMLSTM_CUDA_DENSE_KERNEL(name) nullptr
#endif

namespace hmlstm::detail {

const int64_t kChunkSizes[] = {16, 32, 64, 128, 256};
const int kNumChunkSizes = 5;

namespace {

// One kernel in its four variants.
template <typename Kernel>
struct Variants {
    Kernel f32, bf16, f32_cuda, bf16_cuda;
    Kernel pick(DType dtype, Device device) const {
        const bool cuda = device == Device::cuda;
        switch (dtype) {
        case DType::float32: return cuda ? f32_cuda : f32;
        case DType::bfloat16: return cuda ? bf16_cuda : bf16;
        }
        return nullptr;
    }
};

#define HMLSTM_VARIANTS(f32, bf16) {f32, bf16, HMLSTM_CUDA_KERNEL(f32), HMLSTM_CUDA_KERNEL(bf16)}

// The chunkwise kernels also come with tensor-core products on CUDA (tensor_cores).
struct ChunkwiseVariants {
    int64_t chunk_size;
    Variants<ChunkwiseKernel> kernels;
    ChunkwiseKernel f32_cuda_tc, bf16_cuda_tc;
};
#define HMLSTM_CHUNKWISE(L)                                                                             \
    {L, HMLSTM_VARIANTS(mlstm_chunkwise_fw_f32_chunk##L, mlstm_chunkwise_fw_bf16_chunk##L),             \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_fw_f32_chunk##L), HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_fw_bf16_chunk##L)}
const ChunkwiseVariants kChunkwise[] = {HMLSTM_CHUNKWISE(16), HMLSTM_CHUNKWISE(32), HMLSTM_CHUNKWISE(64),
                                        HMLSTM_CHUNKWISE(128), HMLSTM_CHUNKWISE(256)};
// The CPU forward's extra schedules (generated list), by chunk size and name.
struct ScheduleVariant {
    int64_t chunk_size;
    const char *name;
    ChunkwiseKernel f32, bf16;
};
#define HMLSTM_SCHEDULE_ENTRY(L, name, f32, bf16) {L, name, f32, bf16},
const ScheduleVariant kScheduleVariants[] = {HMLSTM_CPU_SCHEDULES(HMLSTM_SCHEDULE_ENTRY){0, nullptr, nullptr, nullptr}};
// The chunkwise backward, recomputing the chunk states and per-token values, recomputing the states only
// (_stats), or reading both (_saved); on CUDA also with tensor cores. _stats has no CUDA SIMT variant.
struct ChunkwiseBackwardVariants {
    int64_t chunk_size;
    Variants<ChunkwiseBackwardKernel> recompute, saved;
    ChunkwiseBackwardKernel f32_stats, bf16_stats;
    ChunkwiseBackwardKernel f32_cuda_tc, bf16_cuda_tc, f32_saved_cuda_tc, bf16_saved_cuda_tc, f32_stats_cuda_tc,
        bf16_stats_cuda_tc;
};
#define HMLSTM_CHUNKWISE_BW(L)                                                                                       \
    {L, HMLSTM_VARIANTS(mlstm_chunkwise_bw_f32_chunk##L, mlstm_chunkwise_bw_bf16_chunk##L),                          \
     HMLSTM_VARIANTS(mlstm_chunkwise_bw_f32_chunk##L##_saved, mlstm_chunkwise_bw_bf16_chunk##L##_saved),             \
     mlstm_chunkwise_bw_f32_chunk##L##_stats, mlstm_chunkwise_bw_bf16_chunk##L##_stats,                              \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_f32_chunk##L), HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_bf16_chunk##L), \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_f32_chunk##L##_saved),                                                 \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_bf16_chunk##L##_saved),                                                \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_f32_chunk##L##_stats),                                                 \
     HMLSTM_CUDA_TC_KERNEL(mlstm_chunkwise_bw_bf16_chunk##L##_stats)}
const ChunkwiseBackwardVariants kChunkwiseBackward[] = {HMLSTM_CHUNKWISE_BW(16), HMLSTM_CHUNKWISE_BW(32),
                                                        HMLSTM_CHUNKWISE_BW(64), HMLSTM_CHUNKWISE_BW(128),
                                                        HMLSTM_CHUNKWISE_BW(256)};
const Variants<SequenceKernel> kSequence = HMLSTM_VARIANTS(mlstm_recurrent_sequence_fw_f32,
                                                           mlstm_recurrent_sequence_fw_bf16);
const Variants<StepKernel> kStep = HMLSTM_VARIANTS(mlstm_recurrent_step_fw_f32, mlstm_recurrent_step_fw_bf16);
const StepKernel kStepDenseF32Cuda = HMLSTM_CUDA_DENSE_KERNEL(mlstm_recurrent_step_fw_f32);
const StepKernel kStepDenseBf16Cuda = HMLSTM_CUDA_DENSE_KERNEL(mlstm_recurrent_step_fw_bf16);
const Variants<ParallelKernel> kParallel = HMLSTM_VARIANTS(mlstm_parallel_fw_f32, mlstm_parallel_fw_bf16);
const Variants<AttentionKernel> kAttention = HMLSTM_VARIANTS(mlstm_attention_fw_f32, mlstm_attention_fw_bf16);
const Variants<ParallelBackwardKernel> kParallelBackward = HMLSTM_VARIANTS(mlstm_parallel_bw_f32,
                                                                           mlstm_parallel_bw_bf16);
const Variants<SequenceBackwardKernel> kSequenceBackward = HMLSTM_VARIANTS(mlstm_recurrent_sequence_bw_f32,
                                                                           mlstm_recurrent_sequence_bw_bf16);

}  // namespace

ChunkwiseKernel chunkwise_kernel(DType dtype, int64_t chunk_size, Device device, bool tensor_cores,
                                 const std::string &schedule) {
    if (schedule != kDefaultSchedule) {
        if (device != Device::cpu) return nullptr;
        for (const ScheduleVariant &v : kScheduleVariants) {
            if (v.name && v.chunk_size == chunk_size && schedule == v.name) {
                return dtype == DType::bfloat16 ? v.bf16 : v.f32;
            }
        }
        return nullptr;
    }
    for (const ChunkwiseVariants &v : kChunkwise) {
        if (v.chunk_size != chunk_size) continue;
        if (device == Device::cuda && tensor_cores) return dtype == DType::bfloat16 ? v.bf16_cuda_tc : v.f32_cuda_tc;
        return v.kernels.pick(dtype, device);
    }
    return nullptr;
}

ChunkwiseBackwardKernel chunkwise_backward_kernel(DType dtype, int64_t chunk_size, Device device,
                                                  BackwardInputs inputs, bool tensor_cores) {
    const bool bf16 = dtype == DType::bfloat16;
    for (const ChunkwiseBackwardVariants &v : kChunkwiseBackward) {
        if (v.chunk_size != chunk_size) continue;
        if (device == Device::cuda && tensor_cores) {
            switch (inputs) {
            case BackwardInputs::recompute: return bf16 ? v.bf16_cuda_tc : v.f32_cuda_tc;
            case BackwardInputs::token_stats: return bf16 ? v.bf16_stats_cuda_tc : v.f32_stats_cuda_tc;
            case BackwardInputs::saved_states: return bf16 ? v.bf16_saved_cuda_tc : v.f32_saved_cuda_tc;
            }
            return nullptr;
        }
        switch (inputs) {
        case BackwardInputs::recompute: return v.recompute.pick(dtype, device);
        case BackwardInputs::token_stats:
            return device == Device::cpu ? (bf16 ? v.bf16_stats : v.f32_stats) : nullptr;
        case BackwardInputs::saved_states: return v.saved.pick(dtype, device);
        }
    }
    return nullptr;
}

const std::vector<std::string> &chunkwise_schedules(Device device) {
    static const std::vector<std::string> cpu = [] {
        std::vector<std::string> names{kDefaultSchedule};
        for (const ScheduleVariant &v : kScheduleVariants) {
            if (v.name && std::find(names.begin(), names.end(), v.name) == names.end()) names.emplace_back(v.name);
        }
        return names;
    }();
    static const std::vector<std::string> cuda{kDefaultSchedule};
    return device == Device::cuda ? cuda : cpu;
}

SequenceBackwardKernel sequence_backward_kernel(DType dtype, Device device) {
    return kSequenceBackward.pick(dtype, device);
}

SequenceKernel sequence_kernel(DType dtype, Device device) { return kSequence.pick(dtype, device); }
StepKernel step_kernel(DType dtype, Device device, int64_t dhqk, int64_t dhv) {
    // The dense CUDA variant: one thread per 32 rows of a column, DHQK threads per block. Capped at 512: at 1024
    // threads its 64 registers per thread would be exactly the block's limit, and the GPU tests cover DHQK <= 256.
    const bool dense = dhqk % 32 == 0 && dhv % 32 == 0 && dhqk <= 512;
    if (device == Device::cuda && dense) return dtype == DType::bfloat16 ? kStepDenseBf16Cuda : kStepDenseF32Cuda;
    return kStep.pick(dtype, device);
}
ParallelKernel parallel_kernel(DType dtype, Device device) { return kParallel.pick(dtype, device); }
AttentionKernel attention_kernel(DType dtype, Device device) { return kAttention.pick(dtype, device); }
ParallelBackwardKernel parallel_backward_kernel(DType dtype, Device device) {
    return kParallelBackward.pick(dtype, device);
}

}  // namespace hmlstm::detail
