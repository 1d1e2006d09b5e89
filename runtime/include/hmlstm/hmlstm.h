// hmlstm: mLSTM kernels generated ahead of time with Halide. The one public header.
//
// Every entry point takes plain pointers, a shape and an options struct, checks all of them before touching any
// output, and returns an Error (never aborts, never throws). The pointers are the caller's host memory, or with
// `options.device.kind = Device::cuda` the caller's CUDA device memory (see DeviceOptions). Tensors are contiguous
// and row-major, as in xlstm_jax:
//   q, k   (B, NH, S, DHQK)     v, h   (B, NH, S, DHV)      i, f (gate pre-activations)  (B, NH, S), float32
//   C      (B, NH, DHQK, DHV)   n      (B, NH, DHQK)        m                            (B, NH),    float32
// q, k, v and h share one dtype (float32 or bfloat16); gates and states are always float32.
// Host buffers on 64-byte boundaries (cache lines) are faster to write: glibc's large std::vector blocks start 16
// bytes past one, and a forward saving its chunk states there took 18% longer (docs/benchmarks-cpu.md, session 26).
//
// Non-finite data: with `check_finite` (the default) a NaN or infinity in q, k or v, or a NaN in a gate, is an
// error (Status::non_finite_input) naming the tensor and the first bad index. Gates may be +-infinity: i = -inf is
// a closed input gate, f = +inf an open forget gate. States are not scanned. With check_finite off, non-finite data
// give unspecified outputs for the affected (batch, head) slices only. Device memory is never scanned (a scan would
// have to wait for the stream): on CUDA, non-finite data always follow the check_finite-off rule. The scan runs on
// the kernels' thread pool, at about a tenth of a chunkwise forward's time.
//
// Subnormal floats: the CPU kernels read a subnormal input as zero and flush subnormal results to zero (a value moves
// by at most 2^-126); the calling thread's floating-point modes are as they were after the call.
//
// Threads: every call is safe to make from several threads at once; the kernels share one thread pool whose size
// set_num_threads() sets (default: the number of cores, or the HL_NUM_THREADS environment variable). Host scratch
// memory is kept per thread for its next call (up to 64 blocks, 512 MiB), so calls after the first map and fault in
// no new memory; it goes when the thread ends, or at release_cached_memory().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hmlstm {

enum class DType : int { float32 = 0, bfloat16 = 1 };

enum class Status : int {
    ok = 0,
    null_pointer,      // a required pointer is null
    invalid_shape,     // a size is zero or negative, too large, or a product of sizes overflows
    unsupported,       // a chunk size that was not compiled, or a head dimension above the supported maximum
    invalid_argument,  // an option out of range (eps < 0, a non-finite norm_val, an unknown dtype)
    non_finite_input,  // NaN or infinity in the data (see above)
    out_of_memory,     // a kernel could not allocate its scratch memory
    kernel_error,      // any other failure reported by a generated kernel
    invalid_pointer,   // with Device::cuda: a pointer that is not device memory, or an allocation too small
    device_error,      // with Device::cuda: no driver or device, no context, or a failed driver call or launch
};

// The result of every call. `message` names the function, the argument and the reason.
struct Error {
    Status status = Status::ok;
    std::string message;
    bool ok() const { return status == Status::ok; }
};

enum class Device : int { cpu = 0, cuda = 1 };

// Where a call runs. With Device::cuda every tensor pointer of the call (the parallel form's mask too) is device
// memory of the call's context; the kernels are queued on `cuda_stream` and the call returns without waiting for
// them (outputs are ready in stream order, as after any asynchronous launch). No device-wide synchronisation is
// made, except that the first call in a context loads the kernels and allocates a small zero-filled buffer (and
// again when a call needs a larger one). Scratch memory (the kernels' intermediate results) comes from hmlstm's
// stream-ordered memory pool of the device (cuMemAllocFromPoolAsync), which keeps what it has reserved for later
// calls; release_cached_memory() hands the unused part back. Launch errors are reported; errors inside a
// kernel surface at the caller's next synchronisation.
struct DeviceOptions {
    Device kind = Device::cpu;
    void *cuda_stream = nullptr;   // a CUstream / cudaStream_t; null is the legacy default stream
    void *cuda_context = nullptr;  // a CUcontext; null: the stream's context, else the calling thread's current one
};

struct Shape {
    int64_t B = 0, NH = 0, S = 0, DHQK = 0, DHV = 0;
};

// Largest head dimension (DHQK or DHV) the kernels accept.
constexpr int64_t kMaxHeadDim = 4096;

struct QKV {
    const void *q = nullptr, *k = nullptr, *v = nullptr;
    DType dtype = DType::float32;
};

struct Gates {
    const float *i = nullptr;  // input gate pre-activations (igate_preact)
    const float *f = nullptr;  // forget gate pre-activations (fgate_preact)
};

// Initial states; each pointer may be null, which means zeros (as c_initial / n_initial / m_initial = None).
struct InitialStates {
    const float *c = nullptr, *n = nullptr, *m = nullptr;
};

// Where last (or new) states are written.
struct StatesOut {
    float *c = nullptr, *n = nullptr, *m = nullptr;
};

// How the chunkwise form's matrix products run on CUDA, forward and backward: on tensor cores through cuBLAS
// (bfloat16 operands for bfloat16 inputs, TF32 for float32 inputs; outputs within the spec's 16-bit bound), or as
// Halide's own SIMT code in float32 (within the float32 bound).
enum class CudaProducts : int { tensor_cores = 0, simt = 1 };

// ---- Chunkwise form (xlstm_jax mlstm_chunkwise_*): the training and prefill kernel.

// What the forward can save for the backward, which then reads it back instead of recomputing it; float32. The
// states before every chunk and after the last one, K + 1 per (batch, head) with K = ceil(S / chunk_size):
// c (B, NH, K + 1, DHQK, DHV), n (B, NH, K + 1, DHQK), m (B, NH, K + 1). And per token (B, NH, S), as the reference
// system's forward returns them: `normalizer`, the denominator each h was divided by (max(|q.n|, floor) + eps), and
// `stabilizer`, the token's m. Either all five pointers, or only the per-token pair (c, n, m null): 2 S floats per
// (batch, head), which spare a backward with recompute_states_in_bw = true recomputing them (about 4% of its time
// on the CPU); recompute_states_in_bw = false needs all five.
struct ChunkStates {
    float *c = nullptr, *n = nullptr, *m = nullptr;
    float *normalizer = nullptr, *stabilizer = nullptr;
};
// K + 1, the number of states per slice that ChunkStates holds; 0 when S or chunk_size is not positive.
int64_t chunkwise_saved_states(int64_t S, int64_t chunk_size);

struct ChunkwiseOptions {
    // Compiled: 16, 32, 64, 128, 256 (compiled_chunk_sizes()). 0: the tuning table's choice for the call's shape,
    // dtype and device (load_tuning_table), which is 64, the xlstm_jax default, where no table covers the call.
    int64_t chunk_size = 0;
    // Forward only: the schedule of the kernel (the shape of its register blocks on the CPU; see
    // compiled_chunkwise_schedules()). Empty: the tuning table's choice at the chunk size the call runs (the
    // default schedule where the table has no timing of another); "default" or another name: that one.
    std::string schedule;
    float eps = 1e-6f;
    bool stabilize_correctly = true;  // max(norm_val * exp(-m), |q.n|) rather than max(norm_val, |q.n|)
    float norm_val = 1.0f;
    bool return_last_states = false;  // then `last` must point at C, n and m buffers
    bool check_finite = true;
    DeviceOptions device;
    CudaProducts cuda_products = CudaProducts::tensor_cores;  // Device::cuda only
    // Backward only: recompute the chunk states (true, the xlstm_jax default), or read the ones the forward saved.
    bool recompute_states_in_bw = true;
};
// With `save_states` (all five pointers or the per-token pair, and an explicit chunk_size), the states before every
// chunk and the per-token normalizers and stabilizers (or the latter only) are kept there for the backward; saving
// costs the forward nothing but the memory.
Error mlstm_chunkwise_fw(const Shape &shape, const QKV &qkv, const Gates &gates, void *h,
                         const InitialStates &initial = {}, const StatesOut &last = {},
                         const ChunkwiseOptions &options = {}, const ChunkStates &save_states = {});

// Gradients a backward writes. dq, dk, dv have the shapes and dtype of q, k, v; di, df those of the gates. The
// initial states' gradients are optional (null: not wanted): dc_initial (B, NH, DHQK, DHV), dn_initial (B, NH, DHQK),
// dm_initial (B, NH).
struct Gradients {
    void *dq = nullptr, *dk = nullptr, *dv = nullptr;
    float *di = nullptr, *df = nullptr;
    float *dc_initial = nullptr, *dn_initial = nullptr, *dm_initial = nullptr;
};

// Backward of mlstm_chunkwise_fw (spec "Backward", docs/backward.md): given dh (B, NH, S, DHV) in the dtype of q,
// and optionally dc_last (B, NH, DHQK, DHV), the gradient of the returned last C, writes every gradient in `grads`.
// Convention of the reference system: the normalizer and the stabilizers are constants. Under it n reaches only the
// normalizer, so dn_initial is 0 and no gradient of the last n is taken; the last m is the scale C_last is stored
// at, so dc_last carries all of the last states' gradient. The inputs and options must be those of the forward;
// `saved` holds what the forward saved at the same explicit chunk_size: with recompute_states_in_bw = false all
// five pointers, else nothing or the per-token pair (read where given; on CUDA with CudaProducts::simt it is
// recomputed all the same).
Error mlstm_chunkwise_bw(const Shape &shape, const QKV &qkv, const Gates &gates, const void *dh,
                         const Gradients &grads, const InitialStates &initial = {}, const float *dc_last = nullptr,
                         const ChunkwiseOptions &options = {}, const ChunkStates &saved = {});

// The variant a chunkwise forward with these options runs at this shape and dtype: the chunk size and schedule the
// tuning table picks where the options leave them open (chunk_size 0, empty schedule), else the options' own.
// Checks the options as mlstm_chunkwise_fw does (an unknown chunk size or schedule is Status::unsupported).
struct ChunkwiseVariant {
    int64_t chunk_size = 0;
    std::string schedule;
};
Error chunkwise_variant(const Shape &shape, DType dtype, const ChunkwiseOptions &options, ChunkwiseVariant *variant);

// ---- Recurrent sequence form (recurrent_sequence_fw).
struct RecurrentOptions {
    float eps = 1e-6f;
    bool return_last_states = false;
    bool check_finite = true;
    DeviceOptions device;
};
Error recurrent_sequence_fw(const Shape &shape, const QKV &qkv, const Gates &gates, void *h,
                            const InitialStates &initial = {}, const StatesOut &last = {},
                            const RecurrentOptions &options = {});

// Its backward, through time (same convention as mlstm_chunkwise_bw, same arguments): it keeps every state, two
// (S + 1) x DHQK x DHV float32 tensors per (batch, head), which must each stay below 2 GiB (else invalid_shape);
// the chunkwise backward keeps one state per chunk.
Error recurrent_sequence_bw(const Shape &shape, const QKV &qkv, const Gates &gates, const void *dh,
                            const Gradients &grads, const InitialStates &initial = {}, const float *dc_last = nullptr,
                            const RecurrentOptions &options = {});

// ---- Recurrent step (recurrent_step_fw): one token (shape.S must be 1), the decode kernel. `state` is read and
// `new_state` written; they may be the same memory (in-place update). All six state pointers are required.
struct StepOptions {
    float eps = 1e-6f;
    bool check_finite = true;
    DeviceOptions device;
};
Error recurrent_step_fw(const Shape &shape, const QKV &qkv, const Gates &gates, void *h, const InitialStates &state,
                        const StatesOut &new_state, const StepOptions &options = {});

// ---- Parallel stabilized form (parallel_stabilized_simple). No initial states.
struct ParallelOptions {
    bool stabilize_rowwise = true;
    float eps = 1e-6f;
    // Optional (S, S) mask, row = query t, column = key j, nonzero keeps. It refines causality: entries above the
    // diagonal are ignored. A query row with nothing kept gets h = 0.
    const uint8_t *lower_triangular_matrix = nullptr;
    bool check_finite = true;
    DeviceOptions device;
};
Error parallel_stabilized_simple(const Shape &shape, const QKV &qkv, const Gates &gates, void *h,
                                 const ParallelOptions &options = {});
// Its backward (same convention as mlstm_chunkwise_bw): dq, dk, dv, di, df of `grads` from dh, with the forward's
// inputs and options. The form has no states: the initial-state pointers of `grads` must be null.
Error parallel_stabilized_simple_bw(const Shape &shape, const QKV &qkv, const Gates &gates, const void *dh,
                                    const Gradients &grads, const ParallelOptions &options = {});

// ---- Attention backend (backend.attention.attention): transformer attention with rotary embeddings, no gates
// and no states, on the mLSTM forms' q, k, v and h (the gates are not taken). Per (batch, head): q and k through
// swish (x sigmoid(x)) when asked, then rotary embeddings (feature pairs (2p, 2p + 1) of token t turned by the angle
// t theta^(-2p / DHQK); DHQK must be even), logits q_t . k_j / sqrt(DHQK) over the keys each query sees, then the
// activation. Arithmetic is float32 whatever the dtype (the rotation angles float64).
enum class AttentionActivation : int {
    softmax = 0,  // over the keys a query sees
    sigmoid = 1,  // sigmoid(logit - log S), the reference system's bias
    none = 2,     // the logits themselves
};
enum class QKPreActivation : int { none = 0, swish = 1 };  // swish is silu
struct AttentionOptions {
    AttentionActivation activation_function = AttentionActivation::softmax;
    QKPreActivation qk_pre_activation_function = QKPreActivation::none;
    float theta = 1e4f;  // the rotary embeddings' base; finite and > 0
    // Optional (S, S) mask, row = query t, column = key j, nonzero: t sees j. Any pattern, as the reference
    // system's mask (not only causal ones). Null: causal, j <= t. A query that sees no key gets h = 0 (the
    // reference system's softmax would give NaN there), and with `none` a masked logit counts as 0, not -inf.
    const uint8_t *attention_mask = nullptr;
    bool check_finite = true;
    DeviceOptions device;
};
Error attention(const Shape &shape, const QKV &qkv, void *h, const AttentionOptions &options = {});

// ---- Tuning tables (autotune/README.md): which chunk size and schedule a chunkwise forward runs when its options
// leave them to the table (chunk_size = 0, empty schedule).
// Loads a table written by autotune/tune.py. It replaces the table of its target (cpu or cuda) for every later call;
// a table that cannot be read or checked is an error that names the problem, and changes nothing. The
// HMLSTM_TUNING_TABLE environment variable names a table to load at first use (a bad one is reported on stderr
// and ignored). Without either, the built-in table of the target, tuned where the library was built, applies.
Error load_tuning_table(const char *path);
// Back to the built-in tables (the environment's table, if any, is not read again).
void reset_tuning_tables();
// Where the table in use for a device came from: a path, "built-in autotune/tables/<target>.json", or "none".
std::string tuning_table_origin(Device device);

// ---- Library settings and facts.
Error set_num_threads(int threads);
int num_threads();
// Returns the memory hmlstm keeps for later calls: the calling thread's host scratch blocks, and the device memory
// that hmlstm's pools hold but no queued or running kernel uses (after a large call, or before handing the GPU to
// someone else). Later calls allocate again.
Error release_cached_memory();
const int64_t *compiled_chunk_sizes(int *count);
// The chunkwise forward's compiled schedules on a device, "default" first (every chunk size has each one).
const std::vector<std::string> &compiled_chunkwise_schedules(Device device);
bool cuda_built();  // whether this build has the CUDA kernels
const char *version();

}  // namespace hmlstm
