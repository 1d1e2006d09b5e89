// Glue for the chunkwise form (math: chunkwise.h, schedules: schedules/chunkwise_cpu.cpp and chunkwise_cuda.cpp).
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../schedules/cuda_schedules.h"
#include "token_outputs.h"

namespace hmlstm {
namespace {

class ChunkwiseForward : public Halide::Generator<ChunkwiseForward> {
public:
    GeneratorParam<int> gpu_threads{"gpu_threads", 0};  // CUDA targets only
    GeneratorParam<int> gpu_rows{"gpu_rows", 0};
    GeneratorParam<int> chunk_size{"chunk_size", 64};
    // CUDA targets: the matrix products as cuBLAS extern stages on tensor cores (batched_product.h).
    GeneratorParam<bool> tensor_cores{"tensor_cores", false};
    GeneratorParam<int> vector_blocks{"vector_blocks", 0};
    GeneratorParam<int> row_block{"row_block", 0};
    // The experiment of docs/autotune.md (CPU only): the chunk size as a run-time input `chunk`, the one pipeline
    // specialized for each of these sizes (any other is an error).
    GeneratorParam<std::string> run_time_chunk_sizes{"run_time_chunk_sizes", ""};

    Input<Buffer<void, 3>> q{"q"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> k{"k"};                   // (dqk, t, bh)
    Input<Buffer<void, 3>> v{"v"};                   // (dv, t, bh)
    Input<Buffer<float, 2>> igate{"igate"};          // (t, bh)
    Input<Buffer<float, 2>> fgate{"fgate"};          // (t, bh)
    Input<Buffer<float, 3>> c_initial{"c_initial"};  // (dv, dqk, bh)
    Input<Buffer<float, 2>> n_initial{"n_initial"};  // (dqk, bh)
    Input<Buffer<float, 1>> m_initial{"m_initial"};  // (bh)
    Input<float> eps{"eps"};
    Input<float> norm_val{"norm_val"};
    Input<bool> stabilize_correctly{"stabilize_correctly"};
    // Whether the caller keeps token_den and token_m. Where it does not, the CUDA float32 tensor-core forward writes
    // zeros to token_den instead of computing the normalizer a second time (its h computes den where it divides by
    // it: ChunkwiseInputs::h_from_products); every other variant computes both outputs either way.
    Input<bool> save_token_stats{"save_token_stats"};

    Output<Buffer<void, 3>> h{"h"};                  // (dv, t, bh)
    Output<Buffer<float, 3>> c_last{"c_last"};
    Output<Buffer<float, 2>> n_last{"n_last"};
    Output<Buffer<float, 1>> m_last{"m_last"};
    // The state before every chunk and after the last, kk = 0..K (K chunks): what the backward reads back when
    // it does not recompute them. The scan writes them here directly.
    Output<Buffer<float, 4>> chunk_c{"chunk_c"};     // (dv, dqk, kk, bh)
    Output<Buffer<float, 3>> chunk_n{"chunk_n"};     // (dqk, kk, bh)
    Output<Buffer<float, 2>> chunk_m{"chunk_m"};     // (kk, bh)
    // Every token's normalizer den and stabilizer m (t, bh), which the backward reads back with the saved states.
    Output<Buffer<float, 2>> token_den{"token_den"};
    Output<Buffer<float, 2>> token_m{"token_m"};

    Input<int> *run_time_chunk = nullptr;

    CudaKnobs cuda_knobs() const { return resolve_cuda_knobs({gpu_threads, gpu_rows}); }

    std::vector<int> run_time_sizes() const {
        std::vector<int> sizes;
        std::stringstream text(run_time_chunk_sizes.value());  // "16,32,64"
        for (std::string L; std::getline(text, L, ',');) sizes.push_back(std::stoi(L));
        return sizes;
    }

    void configure() {
        if (!run_time_sizes().empty()) run_time_chunk = add_input<int>("chunk");
    }

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
            in.float32_in_place = in.h_from_products = !q.type().is_bfloat();  // see ChunkwiseInputs
        }
        RunTimeChunk run_time{Expr(), run_time_sizes()};
        if (run_time_chunk) {
            if (get_target().has_gpu_feature()) throw std::invalid_argument("run_time_chunk_sizes is CPU only");
            in.chunk_at_run_time = run_time.value = *run_time_chunk;
        }
        if (tensor_cores && !get_target().has_feature(Halide::Target::CUDA)) {
            throw std::invalid_argument("mlstm_chunkwise_fw: tensor_cores needs a CUDA target");
        }
        ChunkwiseFuncs states;
        states.c_state = chunk_c;
        states.n_state = chunk_n;
        states.m_state = chunk_m;
        ChunkwiseFuncs f = define_chunkwise(in, states);
        if (in.h_from_products) {
            h = f.h;  // the products' extern stage writes h itself
        } else {
            h(f.dv, f.t, f.bh) = narrow(f.h(f.dv, f.t, f.bh), h.type());
        }
        c_last(f.dv, f.dqk, f.bh) = f.c_last(f.dv, f.dqk, f.bh);
        n_last(f.dqk, f.bh) = f.n_last(f.dqk, f.bh);
        m_last(f.bh) = f.m_last(f.bh);
        Expr den = f.token_den(f.t, f.bh);
        token_den(f.t, f.bh) = in.h_from_products ? Halide::select(save_token_stats, den, 0.0f) : den;
        token_m(f.t, f.bh) = f.token_m(f.t, f.bh);

        const Expr S = q.dim(1).extent(), heads = q.dim(2).extent();
        covers_inputs_tokens(h, S, heads, v.dim(0).extent());
        covers_inputs_tokens(token_den, S, heads);
        covers_inputs_tokens(token_m, S, heads);
        ChunkwiseOutputs out{h, c_last, n_last, m_last, token_den, token_m};
        if (in.h_from_products) out.token_den_wanted = save_token_stats;
        if (get_target().has_gpu_feature()) {
            schedule_chunkwise_cuda(f, out, chunk_size, tensor_cores, cuda_knobs());
            return;
        }
        schedule_chunkwise_cpu(f, out, chunk_size, cpu_knobs, get_target(), run_time);
    }
};

}  // namespace
}  // namespace hmlstm

HALIDE_REGISTER_GENERATOR(hmlstm::ChunkwiseForward, mlstm_chunkwise_fw)
