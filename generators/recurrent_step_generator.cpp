// Glue for the recurrent step (math: recurrent.h, schedules: schedules/recurrent_cpu.cpp and recurrent_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class RecurrentStepForward : public Halide::Generator<RecurrentStepForward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};  // row groups per column (threads along dqk)
    GeneratorParam<int> vector_width{"vector_width", 0};
    // CUDA only: the variant for DHQK and DHV multiples of 32 and buffers starting at 0, whose tiles of C stay in
    // registers (schedules/recurrent_cuda.cpp); the runtime picks it where the shape allows.
    GeneratorParam<bool> dense_tiles{"dense_tiles", false};
    // Rows of C per thread in the dense variant; the runtime picks the variant for DHQK a multiple of 32
    // (runtime/src/kernels.cpp). 16 measured slower (docs/benchmarks-gpu.md, session 17).
    GeneratorParam<int> tile_rows{"tile_rows", 32};

    Input<Buffer<float, 3>> c_state{"c_state"};  // (dv, dqk, bh)
    Input<Buffer<float, 2>> n_state{"n_state"};  // (dqk, bh)
    Input<Buffer<float, 1>> m_state{"m_state"};  // (bh)
    Input<Buffer<void, 2>> q{"q"};               // (dqk, bh)
    Input<Buffer<void, 2>> k{"k"};               // (dqk, bh)
    Input<Buffer<void, 2>> v{"v"};               // (dv, bh)
    Input<Buffer<float, 1>> igate{"igate"};      // (bh)
    Input<Buffer<float, 1>> fgate{"fgate"};      // (bh)
    Input<float> eps{"eps"};

    Output<Buffer<void, 2>> h{"h"};              // (dv, bh)
    Output<Buffer<float, 3>> c_new{"c_new"};
    Output<Buffer<float, 2>> n_new{"n_new"};
    Output<Buffer<float, 1>> m_new{"m_new"};

    // CUDA: blocks of 32 columns x 8 row groups (the best of 32x16, 64x8, 32x8, 64x4 on the H100,
    // docs/benchmarks-gpu.md).
    CudaKnobs cuda_knobs() const { return {gpu_threads ? gpu_threads : 32, gpu_rows ? gpu_rows : 8}; }

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        StepFuncs f = define_recurrent_step(
            {c_state, n_state, m_state, q, k, v, igate, fgate, q.dim(0).extent(), v.dim(0).extent(), eps});
        // Outputs restate the math (not alias it) so that the schedule may fuse them with h.
        h(f.dv, f.bh) = narrow(f.h(f.dv, f.bh), h.type());
        c_new(f.dv, f.dqk, f.bh) = f.c_new(f.dv, f.dqk, f.bh);
        n_new(f.dqk, f.bh) = f.n_new(f.dqk, f.bh);
        m_new(f.bh) = f.m_new(f.bh);

        StepOutputs out{h, c_new, n_new, m_new};
        if (get_target().has_gpu_feature()) {
            if (dense_tiles) {
                require_zero_mins();
                schedule_recurrent_step_dense_cuda(f, out, cuda_knobs(), tile_rows);
                return;
            }
            schedule_recurrent_step_cuda(f, out, cuda_knobs());
            return;
        }
        CpuKnobs knobs;
        knobs.vector_width = vector_width;
        schedule_recurrent_step_cpu(f, out, resolve_knobs(knobs, get_target()), get_target());
    }

private:
    // Every buffer starts at 0 (as the runtime passes them): the bounds of the dense tiles then simplify to
    // constant offsets from a thread's first row.
    void require_zero_mins() {
        for (int d = 0; d < 3; d++) {
            c_state.dim(d).set_min(0);
            c_new.dim(d).set_min(0);
        }
        for (int d = 0; d < 2; d++) {
            n_state.dim(d).set_min(0);
            q.dim(d).set_min(0);
            k.dim(d).set_min(0);
            v.dim(d).set_min(0);
            h.dim(d).set_min(0);
            n_new.dim(d).set_min(0);
        }
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::RecurrentStepForward, mlstm_recurrent_step_fw)
