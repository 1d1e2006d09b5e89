// Helpers shared by the tests: seeded random problems, dtype conversion, calls of the API from float64 data, and
// the one comparison with the reference (relative error per (batch, head) slice).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "device_memory.h"
#include "hmlstm/hmlstm.h"
#include "reference/mlstm_reference.h"

namespace test {

using hmlstm::DType;
using hmlstm_ref::Shape;

// Seed: HMLSTM_TEST_SEED if set, else fresh; tests print it on failure through Catch's INFO.
uint64_t test_seed();

enum class Gates { typical, extreme, forget_closed, input_open };

struct Problem {
    Shape shape;
    DType dtype = DType::float32;
    hmlstm_ref::Inputs in;  // q, k, v already rounded to dtype, gates to float32: what the kernel sees
};

Problem random_problem(const Shape &shape, DType dtype, Gates gates, std::mt19937_64 &rng);
hmlstm_ref::States random_states(const Shape &shape, std::mt19937_64 &rng);

// Bytes of a tensor in dtype, and back.
std::vector<uint8_t> encode(const std::vector<double> &x, DType dtype);
std::vector<double> decode(const std::vector<uint8_t> &bytes, DType dtype);
std::vector<float> to_float(const std::vector<double> &x);
std::vector<double> to_double(const std::vector<float> &x);

// Worst relative error ||out - ref|| / ||ref|| over slices of `slice` elements (absolute where ||ref|| = 0).
struct Comparison {
    double worst = 0;
    int64_t worst_slice = -1;
    bool finite = true;
    std::string describe() const;
};
Comparison compare(const std::vector<double> &out, const std::vector<double> &ref, int64_t slice);

// The max state m lives in log space: its absolute error is the relative error of the state's scale exp(m).
// Returns max |out - ref| / max(1, |ref|).
Comparison compare_max_state(const std::vector<double> &out, const std::vector<double> &ref);

// What a kernel's output is judged against: the float64 reference `h`, the same reference with its gate arithmetic
// rounded to float32 (`h_gates32`: how far the float32 gate arithmetic that the spec requires moves the answer), the
// condition kappa of each token's sums, and the last states.
struct Oracle {
    std::vector<double> h, h_gates32, kappa;
    hmlstm_ref::States last;
};
Oracle chunkwise_oracle(const Problem &p, const hmlstm_ref::States *initial, const hmlstm_ref::ChunkwiseParams &rp);
Oracle sequence_oracle(const Problem &p, const hmlstm_ref::States *initial);
Oracle step_oracle(const Problem &p, const hmlstm_ref::States &state);  // last = the new state
Oracle parallel_oracle(const Problem &p, const std::vector<uint8_t> *mask, bool stabilize_rowwise);

// A forward output (B, NH, S, DHV) judged against an Oracle (docs/precision.md). A slice passes when its relative
// error is within the spec's bound. A slice that does not is judged by its conditioning instead:
// - its tokens with kappa <= kWellConditioned must stay within bound + 4 * (the relative deviation of h_gates32
//   from h over the same tokens);
// - each other token, where cancellation in its sums amplifies float32 rounding by kappa whatever the kernel does,
//   must stay within max(bound, 4 sqrt(DHQK) kappa 2^-24) + 4 * its own deviation.
constexpr double kWellConditioned = 100.0;
struct OutputComparison {
    Comparison plain;              // per-slice relative error over all tokens
    int64_t slices_by_condition = 0;  // slices above the bound, judged by their conditioning
    Comparison judged;             // among those: per-slice relative error over the well-conditioned tokens
    double judged_allowance = 0;   // the allowance of that worst slice
    int64_t ill_tokens = 0;        // among those: tokens with kappa > kWellConditioned
    double worst_ill_ratio = 0;    // max over them of (token's relative error) / (its allowance); must be <= 1
    bool pass() const {
        return plain.finite && judged.finite && judged.worst <= judged_allowance && worst_ill_ratio <= 1.0;
    }
    std::string describe() const;
};
// unit_roundoff: of the arithmetic of the kernel's products (float32; TF32 or bfloat16 on tensor cores).
OutputComparison compare_output(const std::vector<double> &out, const Oracle &oracle, const Shape &s, double bound,
                                double unit_roundoff = 0x1p-24);

// Bound of the spec for a forward output of this dtype.
double forward_bound(DType dtype);

// The chunkwise kernels under test run their products on tensor cores: on CUDA unless HMLSTM_TEST_CUDA_PRODUCTS=simt.
// Then the spec's 16-bit bound applies to them (outputs and states), and the conditioning rule uses the unit
// roundoff of their operands.
bool chunkwise_on_tensor_cores();
double chunkwise_bound(DType dtype);
double chunkwise_state_bound();
double chunkwise_unit_roundoff(DType dtype);

// The API forms on a Problem; states in float32 as the API takes them.
struct Result {
    hmlstm::Error error;
    std::vector<double> h;
    hmlstm_ref::States last;
};
// They run where the tests run (device_memory.h): options.device is set here.
// With `saved`, the call also saves the states and per-token values for a backward (ChunkStates; o.chunk_size
// explicit), decoded there.
Result run_chunkwise(const Problem &p, const hmlstm_ref::States *initial, hmlstm::ChunkwiseOptions o,
                     hmlstm_ref::ChunkwiseSaved *saved = nullptr);
// The chunkwise backward with gradient dh of h (rounded to the problem's dtype by the call) and optionally that of
// the last C. `saving`: what a forward run first saves for it (ChunkStates); options.recompute_states_in_bw is set
// to whether the chunk states are recomputed (all but Saving::everything).
struct BackwardResult {
    hmlstm::Error error;
    hmlstm_ref::Gradients grads;
    std::vector<double> dc_initial, dn_initial, dm_initial;
};
enum class Saving { nothing, token_stats, everything };  // everything: the chunk states and the per-token values
BackwardResult run_chunkwise_backward(const Problem &p, const hmlstm_ref::States *initial,
                                      const std::vector<double> &dh, const std::vector<double> *dc_last,
                                      hmlstm::ChunkwiseOptions o, Saving saving);
BackwardResult run_parallel_backward(const Problem &p, const std::vector<double> &dh, hmlstm::ParallelOptions o);
BackwardResult run_sequence_backward(const Problem &p, const hmlstm_ref::States *initial,
                                     const std::vector<double> &dh, const std::vector<double> *dc_last);
Result run_sequence(const Problem &p, const hmlstm_ref::States *initial, bool return_last_states);
Result run_parallel(const Problem &p, hmlstm::ParallelOptions o);
Result run_attention(const Problem &p, hmlstm::AttentionOptions o);

hmlstm::Shape api_shape(const Shape &s);

// The shapes every form is tested on (issue: forward CPU, item 6).
std::vector<Shape> standard_shapes();
std::string describe(const Shape &s);  // "shape (B,NH,S,DHQK,DHV)"

}  // namespace test
