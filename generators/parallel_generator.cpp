// Glue for the parallel stabilized form (math: parallel.h, schedules: schedules/parallel_cpu.cpp and parallel_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class ParallelForward : public Halide::Generator<ParallelForward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};
    GeneratorParam<int> vector_blocks{"vector_blocks", 0};
    GeneratorParam<int> row_block{"row_block", 0};

    Input<Buffer<void, 3>> q{"q"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                   // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};          // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};          // (t, bh)
    Input<Buffer<uint8_t, 2>> mask{"mask"};          // (j, t), read only when use_mask
    Input<bool> use_mask{"use_mask"};
    Input<bool> stabilize_rowwise{"stabilize_rowwise"};
    Input<float> eps{"eps"};

    Output<Buffer<void, 3>> h{"h"};                  // (dv, t, bh)

    CudaKnobs cuda_knobs() const { return resolve_cuda_knobs({gpu_threads, gpu_rows}); }

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        ParallelInputs in{q, k, v, igate, fgate, mask, use_mask, stabilize_rowwise,
                          q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(), eps};
        const CpuKnobs cpu_knobs = resolve_knobs({vector_blocks, row_block}, get_target());
        if (!get_target().has_gpu_feature()) in.causal_block = cpu_knobs.row_block;  // a register block's rows
        ParallelFuncs f = define_parallel(in);
        h(f.dv, f.t, f.bh) = narrow(f.h(f.dv, f.t, f.bh), h.type());

        if (get_target().has_gpu_feature()) {
            schedule_parallel_cuda(f, h, cuda_knobs());
            return;
        }
        schedule_parallel_cpu(f, h, cpu_knobs, get_target());
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::ParallelForward, mlstm_parallel_fw)
