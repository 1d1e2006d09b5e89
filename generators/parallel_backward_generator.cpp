// Glue for the parallel backward (math: parallel_backward.h, schedules: schedules/parallel_backward_cpu.cpp and
// parallel_backward_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class ParallelBackward : public Halide::Generator<ParallelBackward> {
public:
    GeneratorParam<int> vector_blocks{"vector_blocks", 0};
    GeneratorParam<int> row_block{"row_block", 0};
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};

    Input<Buffer<void, 3>> q{"q"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                   // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};          // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};          // (t, bh)
    Input<Buffer<uint8_t, 2>> mask{"mask"};          // (j, t), read only when use_mask
    Input<bool> use_mask{"use_mask"};
    Input<bool> stabilize_rowwise{"stabilize_rowwise"};
    Input<float> eps{"eps"};
    Input<Buffer<void, 3>> dh{"dh"};                 // (dv, t, bh)

    Output<Buffer<void, 3>> dq{"dq"};                // (dqk, t, bh), the inputs' type
    Output<Buffer<void, 3>> dk{"dk"};
    Output<Buffer<void, 3>> dv{"dv"};                // (dv, t, bh)
    Output<Buffer<float, 2>> di{"di"};               // (t, bh)
    Output<Buffer<float, 2>> df{"df"};

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        ParallelInputs in{q, k, v, igate, fgate, mask, use_mask, stabilize_rowwise,
                          q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(), eps};
        const CpuKnobs cpu_knobs = resolve_knobs({vector_blocks, row_block}, get_target());
        if (!get_target().has_gpu_feature()) in.causal_block = cpu_knobs.row_block;  // a register block's rows
        ParallelFuncs f = define_parallel(in);
        ParallelBackwardFuncs b = define_parallel_backward(in, f, dh);
        dq(f.dqk, f.t, f.bh) = narrow(b.dq(f.dqk, f.t, f.bh), dq.type());
        dk(f.dqk, f.j, f.bh) = narrow(b.dk(f.dqk, f.j, f.bh), dk.type());
        dv(f.dv, f.j, f.bh) = narrow(b.dv(f.dv, f.j, f.bh), dv.type());
        di(f.j, f.bh) = b.di(f.j, f.bh);
        df(f.t, f.bh) = b.df(f.t, f.bh);

        ParallelBackwardOutputs out{dq, dk, dv, di, df};
        if (get_target().has_gpu_feature()) {
            schedule_parallel_backward_cuda(f, b, out, resolve_cuda_knobs({gpu_threads, gpu_rows}));
            return;
        }
        schedule_parallel_backward_cpu(f, b, out, cpu_knobs);
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::ParallelBackward, mlstm_parallel_bw)
