// Glue for the chunkwise backward (math: chunkwise_backward.h, schedules: schedules/chunkwise_backward_cpu.cpp and
// chunkwise_backward_cuda.cpp).
#include <stdexcept>

#include "../schedules/cuda_schedules.h"
#include "token_outputs.h"

namespace hmlstm {
namespace {

class ChunkwiseBackward : public Halide::Generator<ChunkwiseBackward> {
public:
    GeneratorParam<int> chunk_size{"chunk_size", 64};
    // true: the states before each chunk are recomputed by the forward's scan; false: read from chunk_c/n/m, as
    // the forward saved them.
    GeneratorParam<bool> recompute_states{"recompute_states", true};
    // With recompute_states: read every token's normalizer and stabilizer from token_den / token_m, as the forward
    // saved them, instead of recomputing them (the saved-states variant always reads them).
    GeneratorParam<bool> token_stats{"token_stats", false};
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};
    // CUDA targets: the matrix products as cuBLAS extern stages on tensor cores (batched_product.h).
    GeneratorParam<bool> tensor_cores{"tensor_cores", false};
    GeneratorParam<int> vector_blocks{"vector_blocks", 0};
    GeneratorParam<int> row_block{"row_block", 0};

    Input<Buffer<void, 3>> q{"q"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                   // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};          // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};          // (t, bh)
    Input<Buffer<float, 3>> c_initial{"c_initial"};  // (dv, dqk, bh)
    Input<Buffer<float, 2>> n_initial{"n_initial"};  // (dqk, bh)
    Input<Buffer<float, 1>> m_initial{"m_initial"};  // (bh)
    Input<Buffer<float, 4>> chunk_c{"chunk_c"};      // (dv, dqk, kk, bh), kk = 0..K; read when !recompute_states
    Input<Buffer<float, 3>> chunk_n{"chunk_n"};      // (dqk, kk, bh)
    Input<Buffer<float, 2>> chunk_m{"chunk_m"};      // (kk, bh)
    Input<Buffer<float, 2>> token_den{"token_den"};  // (t, bh), the forward's normalizers; read when token_stats or
                                                     // !recompute_states
    Input<Buffer<float, 2>> token_m{"token_m"};      // (t, bh), its stabilizers
    Input<Buffer<void, 3>> dh{"dh"};                 // (dv, t, bh)
    Input<Buffer<float, 3>> dc_last{"dc_last"};      // (dv, dqk, bh)
    Input<float> eps{"eps"};
    Input<float> norm_val{"norm_val"};
    Input<bool> stabilize_correctly{"stabilize_correctly"};

    Output<Buffer<void, 3>> dq{"dq"};                // (dqk, t, bh), the inputs' type
    Output<Buffer<void, 3>> dk{"dk"};
    Output<Buffer<void, 3>> dv{"dv"};                // (dv, t, bh)
    Output<Buffer<float, 2>> di{"di"};               // (t, bh)
    Output<Buffer<float, 2>> df{"df"};
    Output<Buffer<float, 3>> dc_initial{"dc_initial"};
    Output<Buffer<float, 1>> dm_initial{"dm_initial"};

    void generate() {
        bfloat16_on_bits() = get_target().has_gpu_feature();
        ChunkwiseInputs in{q, k, v, igate, fgate, c_initial, n_initial, m_initial,
                           q.dim(1).extent(), q.dim(0).extent(), v.dim(0).extent(),
                           eps, norm_val, stabilize_correctly, chunk_size, tensor_cores, q.type()};
        // The CPU's register blocks hold row_block tokens: the causal sums skip by blocks of as many.
        const CpuKnobs cpu_knobs = resolve_knobs({vector_blocks, row_block}, get_target());
        if (!get_target().has_gpu_feature()) in.causal_block = cpu_knobs.row_block;
        if (tensor_cores) {  // the products read the inputs in place
            in.q_input = q;
            in.k_input = k;
            in.v_input = v;
        }
        if (tensor_cores && !get_target().has_feature(Halide::Target::CUDA)) {
            throw std::invalid_argument("mlstm_chunkwise_bw: tensor_cores needs a CUDA target");
        }
        ChunkwiseFuncs states;
        if (!recompute_states) {  // feature indices clamped, as wherever the math reads a buffer
            Var dv = states.dv, dqk = states.dqk, kk = states.kk, bh = states.bh;
            Expr dv_in = feature(dv, v.dim(0).extent()), dqk_in = feature(dqk, q.dim(0).extent());
            states.c_state(dv, dqk, kk, bh) = chunk_c(dv_in, dqk_in, kk, bh);
            states.n_state(dqk, kk, bh) = chunk_n(dqk_in, kk, bh);
            states.m_state(kk, bh) = chunk_m(kk, bh);
        }
        if (token_stats || !recompute_states) {
            Var bh = states.bh;
            // Per position of a chunk; the positions past S of a partial last chunk read token S - 1, where m_out is
            // the same (their gates add nothing) and den is any finite value (their dh is 0).
            Var tau = states.tau, c = states.c;
            Expr token = Halide::min(c * int(chunk_size) + tau, q.dim(1).extent() - 1);
            states.den(tau, c, bh) = token_den(token, bh);
            states.m_out(tau, c, bh) = token_m(token, bh);
        }
        ChunkwiseFuncs f = define_chunkwise(in, states);
        ChunkwiseBackwardInputs grad{dh, dc_last};
        if (tensor_cores) grad.dh_input = dh;
        ChunkwiseBackwardFuncs b = define_chunkwise_backward(in, f, grad);

        dq(f.dqk, f.t, f.bh) = narrow(b.dq(f.dqk, f.t, f.bh), dq.type());
        dk(f.dqk, f.t, f.bh) = narrow(b.dk(f.dqk, f.t, f.bh), dk.type());
        dv(f.dv, f.t, f.bh) = narrow(b.dv(f.dv, f.t, f.bh), dv.type());
        di(f.t, f.bh) = b.di(f.t, f.bh);
        df(f.t, f.bh) = b.df(f.t, f.bh);
        dc_initial(f.dv, f.dqk, f.bh) = b.dc_initial(f.dv, f.dqk, f.bh);
        dm_initial(f.bh) = b.dm_initial(f.bh);

        const Expr S = q.dim(1).extent(), heads = q.dim(2).extent();
        covers_inputs_tokens(dq, S, heads, q.dim(0).extent());
        covers_inputs_tokens(dk, S, heads, q.dim(0).extent());
        covers_inputs_tokens(dv, S, heads, v.dim(0).extent());
        covers_inputs_tokens(di, S, heads);
        covers_inputs_tokens(df, S, heads);
        ChunkwiseBackwardOutputs out{dq, dk, dv, di, df, dc_initial, dm_initial};
        if (get_target().has_gpu_feature()) {
            schedule_chunkwise_backward_cuda(f, b, out, chunk_size, recompute_states, tensor_cores,
                                             resolve_cuda_knobs({gpu_threads, gpu_rows}));
            return;
        }
        schedule_chunkwise_backward_cpu(f, b, out, chunk_size, recompute_states, cpu_knobs);
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::ChunkwiseBackward, mlstm_chunkwise_bw)
