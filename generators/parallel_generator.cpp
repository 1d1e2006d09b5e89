// Glue for the parallel stabilized form (math: parallel.h, CPU schedule: schedules/parallel_cpu.cpp).
#include "../schedules/cpu_schedules.h"

namespace hmlstm {
namespace {

class ParallelForward : public Halide::Generator<ParallelForward> {
public:
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

    void generate() {
        ParallelFuncs f = define_parallel({q, k, v, igate, fgate, mask, use_mask, stabilize_rowwise,
                                           q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(), eps});
        h(f.dv, f.t, f.bh) = Halide::cast(h.type(), f.h(f.dv, f.t, f.bh));

        CpuKnobs knobs;
        knobs.vector_blocks = vector_blocks;
        knobs.row_block = row_block;
        schedule_parallel_cpu(f, h, resolve_knobs(knobs, get_target()), get_target());
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::ParallelForward, mlstm_parallel_fw)
