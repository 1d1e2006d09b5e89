// Float64 reference of every mLSTM form, written from ../shared/spec/MLSTM.md (not from the Halide code).
// It is the oracle of the tests and the benchmarks. All tensors are row-major as in the public API:
// q, k (B, NH, S, DHQK), v and h (B, NH, S, DHV), gates (B, NH, S), C (B, NH, DHQK, DHV), n (B, NH, DHQK), m (B, NH).
#pragma once

#include <cstdint>
#include <vector>

namespace hmlstm_ref {

struct Shape {
    int64_t B = 1, NH = 1, S = 1, DHQK = 1, DHV = 1;
    int64_t heads() const { return B * NH; }
};

struct States {
    std::vector<double> c, n, m;
    static States zeros(const Shape &s);
};

struct Inputs {
    std::vector<double> q, k, v, i, f;
};

// Every form can report, per token, the condition number kappa_t of the sums that form h_t = num_t / den_t:
//   kappa_t = max( sum |terms of den_t| / den_t,  sum ||terms of num_t|| / ||num_t|| ).
// A float32 evaluation of a sum errs by about 2^-24 * (sum of |terms|) whatever its order, so a float32 kernel's
// relative error at token t can reach a small multiple of kappa_t * 2^-24 (docs/precision.md). Each form reports
// the terms of its own formula, as its kernels sum them.

// Gate arithmetic (log forget gates, their cumulative sums, maxima and exponent arguments) in float64, or rounded
// to float32 after every operation as the spec requires of the kernels. Comparing the two tells how far float32 gate
// arithmetic alone moves the outputs (docs/precision.md); everything else stays float64 either way.
enum class GateArithmetic { float64, float32 };

// Recurrent step on one token: q, k (B, NH, DHQK), v (B, NH, DHV), gates (B, NH). Updates `state`, returns h.
std::vector<double> recurrent_step(const Shape &shape, const Inputs &token, States &state, double eps = 1e-6,
                                   std::vector<double> *condition = nullptr,
                                   GateArithmetic gates = GateArithmetic::float64);

// Recurrent sequence from `initial` (zeros when null); fills `last` when given.
std::vector<double> recurrent_sequence(const Shape &shape, const Inputs &in, const States *initial, States *last,
                                       double eps = 1e-6, std::vector<double> *condition = nullptr,
                                       GateArithmetic gates = GateArithmetic::float64);

// Parallel stabilized form. `mask` (S, S), row t = query, column j = key, nonzero keeps; null = causal only.
std::vector<double> parallel(const Shape &shape, const Inputs &in, const std::vector<uint8_t> *mask,
                             bool stabilize_rowwise = true, double eps = 1e-6,
                             std::vector<double> *condition = nullptr,
                             GateArithmetic gates = GateArithmetic::float64);

// Attention backend (seed 002), no gates (in.i and in.f unused): q and k through swish when `qk_swish`, then rotary
// embeddings (feature pairs (2p, 2p + 1) turned by t theta^(-2p / DHQK) at token t), logits q_t . k_j / sqrt(DHQK)
// over the keys query t sees (`mask` null: j <= t; else mask[t * S + j] != 0, any j), then softmax over them,
// sigmoid(logit - log S), or the logits themselves; a query that sees no key gets h = 0. DHQK must be even.
enum class AttentionActivation { softmax = 0, sigmoid = 1, none = 2 };
std::vector<double> attention(const Shape &shape, const Inputs &in, const std::vector<uint8_t> *mask,
                              AttentionActivation activation, bool qk_swish, double theta = 1e4,
                              std::vector<double> *condition = nullptr);

struct ChunkwiseParams {
    int64_t chunk_size = 64;
    double eps = 1e-6;
    bool stabilize_correctly = true;
    double norm_val = 1.0;
};

// What a chunkwise forward can save for its backward (the API's ChunkStates): the states before every chunk and
// after the last one, K + 1 per slice (c (B, NH, K + 1, DHQK, DHV), n (B, NH, K + 1, DHQK), m (B, NH, K + 1)), and
// per token (B, NH, S) the normalizer h was divided by and the stabilizer of its sums.
struct ChunkwiseSaved {
    std::vector<double> c, n, m, normalizer, stabilizer;
};

// Chunkwise form; the last chunk is shorter when S is not a multiple of the chunk size. Fills `saved` when given.
std::vector<double> chunkwise(const Shape &shape, const Inputs &in, const States *initial, States *last,
                              const ChunkwiseParams &params, std::vector<double> *condition = nullptr,
                              GateArithmetic gates = GateArithmetic::float64, ChunkwiseSaved *saved = nullptr);

double log_sigmoid(double f);

// ---- Backward (spec: "Backward"): gradients of the inputs given dh, with the normalizer and the stabilizer held
// constant as the reference system does (mlstm_reference_backward.cpp).
struct Gradients {
    std::vector<double> dq, dk, dv, di, df;
    // Per token, the sum of |terms| of the inner product df is in the recurrent form (df_t = sigmoid(-f_t) decay_t
    // <G_{t+1}, C_t>): how far float32 rounding of that sum may move df, however it is ordered. Empty elsewhere.
    std::vector<double> df_terms;
};

// The parallel form, with the forward's mask (null: causal only) and stabilizer.
Gradients parallel_backward(const Shape &shape, const Inputs &in, const std::vector<double> &dh, double eps = 1e-6,
                            const std::vector<uint8_t> *mask = nullptr, bool stabilize_rowwise = true);

// The recurrent sequence, through time, from `initial` (zeros when null). `dc_last` (when given) is the gradient of
// the last C (B, NH, DHQK, DHV); `dc_initial` and `dm_initial` (when given) receive the gradients of the initial C
// and m. The initial n only enters the normalizer, so it has none under this convention. The initial C is stored
// at the scale exp(-m_0): the true state is C_0 exp(m_0), so dm_0 = <dC_0, C_0>.
Gradients recurrent_backward(const Shape &shape, const Inputs &in, const States *initial,
                             const std::vector<double> &dh, std::vector<double> *dc_initial = nullptr,
                             double eps = 1e-6, const std::vector<double> *dc_last = nullptr,
                             std::vector<double> *dm_initial = nullptr);

// The chunkwise form, by the spec's recipe: the reverse state recurrence over chunks, the intra-chunk part as in
// the parallel backward, the gate gradients through each chunk's cumulative log forget gates.
Gradients chunkwise_backward(const Shape &shape, const Inputs &in, const States *initial,
                             const std::vector<double> &dh, const ChunkwiseParams &params,
                             std::vector<double> *dc_initial = nullptr, const std::vector<double> *dc_last = nullptr,
                             std::vector<double> *dm_initial = nullptr);

}  // namespace hmlstm_ref
