// Glue for the recurrent sequence backward (math: recurrent_backward.h, schedules:
// schedules/recurrent_backward_cpu.cpp and recurrent_backward_cuda.cpp).
#include "../schedules/cuda_schedules.h"

namespace hmlstm {
namespace {

class RecurrentSequenceBackward : public Halide::Generator<RecurrentSequenceBackward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only

    Input<Buffer<void, 3>> q{"q"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                   // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};          // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};          // (t, bh)
    Input<Buffer<float, 3>> c_initial{"c_initial"};  // (dv, dqk, bh)
    Input<Buffer<float, 2>> n_initial{"n_initial"};  // (dqk, bh)
    Input<Buffer<float, 1>> m_initial{"m_initial"};  // (bh)
    Input<float> eps{"eps"};
    Input<Buffer<void, 3>> dh{"dh"};                 // (dv, t, bh)
    Input<Buffer<float, 3>> dc_last{"dc_last"};      // (dv, dqk, bh)

    Output<Buffer<void, 3>> dq{"dq"};                // (dqk, t, bh), the inputs' type
    Output<Buffer<void, 3>> dk{"dk"};
    Output<Buffer<void, 3>> dv{"dv"};                // (dv, t, bh)
    Output<Buffer<float, 2>> di{"di"};               // (t, bh)
    Output<Buffer<float, 2>> df{"df"};
    Output<Buffer<float, 3>> dc_initial{"dc_initial"};
    Output<Buffer<float, 1>> dm_initial{"dm_initial"};

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        SequenceInputs in{q, k, v, igate, fgate, c_initial, n_initial, m_initial,
                          q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(), eps};
        SequenceFuncs f = define_recurrent_sequence(in);
        RecurrentBackwardFuncs b = define_recurrent_backward(in, f, dh, dc_last);
        dq(f.dqk, f.t, f.bh) = narrow(b.dq(f.dqk, f.t, f.bh), dq.type());
        dk(f.dqk, f.t, f.bh) = narrow(b.dk(f.dqk, f.t, f.bh), dk.type());
        dv(f.dv, f.t, f.bh) = narrow(b.dv(f.dv, f.t, f.bh), dv.type());
        di(f.t, f.bh) = b.di(f.t, f.bh);
        df(f.t, f.bh) = b.df(f.t, f.bh);
        dc_initial(f.dv, f.dqk, f.bh) = b.dc_initial(f.dv, f.dqk, f.bh);
        dm_initial(f.bh) = b.dm_initial(f.bh);

        RecurrentBackwardOutputs out{dq, dk, dv, di, df, dc_initial, dm_initial};
        if (get_target().has_gpu_feature()) {
            schedule_recurrent_backward_cuda(f, b, out, resolve_cuda_knobs({gpu_threads, 0}));
            return;
        }
        schedule_recurrent_backward_cpu(f, b, out, resolve_knobs(CpuKnobs{}, get_target()));
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::RecurrentSequenceBackward, mlstm_recurrent_sequence_bw)
