// Glue for the recurrent sequence (math: recurrent.h, schedules: schedules/recurrent_cpu.cpp and recurrent_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class RecurrentSequenceForward : public Halide::Generator<RecurrentSequenceForward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};
    GeneratorParam<int> vector_width{"vector_width", 0};

    Input<Buffer<void, 3>> q{"q"};                  // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                  // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                  // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};         // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};         // (t, bh)
    Input<Buffer<float, 3>> c_initial{"c_initial"};  // (dv, dqk, bh)
    Input<Buffer<float, 2>> n_initial{"n_initial"};  // (dqk, bh)
    Input<Buffer<float, 1>> m_initial{"m_initial"};  // (bh)
    Input<float> eps{"eps"};

    Output<Buffer<void, 3>> h{"h"};                 // (dv, t, bh)
    Output<Buffer<float, 3>> c_last{"c_last"};
    Output<Buffer<float, 2>> n_last{"n_last"};
    Output<Buffer<float, 1>> m_last{"m_last"};

    CudaKnobs cuda_knobs() const { return resolve_cuda_knobs({gpu_threads, gpu_rows}); }

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        SequenceFuncs f = define_recurrent_sequence({q, k, v, igate, fgate, c_initial, n_initial, m_initial,
                                                     q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(), eps});
        h(f.dv, f.t, f.bh) = narrow(f.h(f.dv, f.t, f.bh), h.type());
        c_last(f.dv, f.dqk, f.bh) = f.c_last(f.dv, f.dqk, f.bh);
        n_last(f.dqk, f.bh) = f.n_last(f.dqk, f.bh);
        m_last(f.bh) = f.m_last(f.bh);

        SequenceOutputs out{h, c_last, n_last, m_last};
        if (get_target().has_gpu_feature()) {
            schedule_recurrent_sequence_cuda(f, out, cuda_knobs());
            return;
        }
        CpuKnobs knobs;
        knobs.vector_width = vector_width;
        schedule_recurrent_sequence_cpu(f, out, resolve_knobs(knobs, get_target()), get_target());
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::RecurrentSequenceForward, mlstm_recurrent_sequence_fw)
