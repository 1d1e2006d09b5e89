// Glue for the attention backend (math: attention.h, schedules: schedules/attention_cpu.cpp and attention_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class AttentionForward : public Halide::Generator<AttentionForward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};
    GeneratorParam<int> vector_blocks{"vector_blocks", 0};
    GeneratorParam<int> row_block{"row_block", 0};

    Input<Buffer<void, 3>> q{"q"};            // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};            // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};            // (dv, t, bh)
    Input<Buffer<uint8_t, 2>> mask{"mask"};   // (j, t), read only when use_mask
    Input<bool> use_mask{"use_mask"};
    Input<int> activation{"activation"};      // AttentionActivationCode
    Input<bool> qk_swish{"qk_swish"};
    Input<float> theta{"theta"};

    Output<Buffer<void, 3>> h{"h"};           // (dv, t, bh)

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        AttentionInputs in{q, k, v, mask, use_mask, activation, qk_swish, theta, q.dim(1).extent(),
                           q.dim(0).extent(), v.dim(0).extent()};
        const CpuKnobs cpu_knobs = resolve_knobs({vector_blocks, row_block}, get_target());
        if (!get_target().has_gpu_feature()) in.causal_block = cpu_knobs.row_block;  // a register block's rows
        AttentionFuncs f = define_attention(in);
        h(f.dv, f.t, f.bh) = narrow(f.h(f.dv, f.t, f.bh), h.type());

        if (get_target().has_gpu_feature()) {
            schedule_attention_cuda(f, h, resolve_cuda_knobs({gpu_threads, gpu_rows}));
            return;
        }
        schedule_attention_cpu(f, h, cpu_knobs);
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::AttentionForward, mlstm_attention_fw)
