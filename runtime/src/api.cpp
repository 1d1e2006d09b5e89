// The public entry points: validate everything, then call the generated kernel on groups of (batch, head) slices.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "halide_glue.h"
#include "hmlstm/hmlstm.h"
#include "kernels.h"
#include "validate.h"

namespace hmlstm {

using namespace detail;

namespace {

// Checks shared by every form: shape, dtype, the data pointers, eps, and (optionally) the data's finiteness.
void check_inputs(Checker &check, const Shape &s, const QKV &qkv, const Gates &gates, const void *h, float eps,
                  bool check_finite) {
    check.shape(s).dtype(qkv.dtype).eps(eps);
    check.pointer(qkv.q, "q").pointer(qkv.k, "k").pointer(qkv.v, "v");
    check.pointer(gates.i, "i").pointer(gates.f, "f").pointer(h, "h");
    check.slice_bytes(double(s.S) * std::max(s.DHQK, s.DHV) * 4.0, "q, k, v or h");
    if (!check.ok() || !check_finite) return;
    TensorSizes n(s);
    check.finite(qkv.q, qkv.dtype, n.qk, "q").finite(qkv.k, qkv.dtype, n.qk, "k").finite(qkv.v, qkv.dtype, n.v, "v");
    check.no_nan(gates.i, n.gates, "i").no_nan(gates.f, n.gates, "f");
}

// Pointers to the slices [first, first + count) of every tensor, and the views a kernel call takes.
struct SliceGroup {
    const Shape &s;
    int64_t first, count;

    const void *at(const void *base, int64_t per_slice, size_t elem_size) const {
        return static_cast<const uint8_t *>(base) + first * per_slice * elem_size;
    }
    View tokens(const void *base, halide_type_t type, int64_t width) const {  // (width, S, slices)
        return View(type, at(base, s.S * width, type.bytes()), {width, s.S, count});
    }
    View gates(const float *base) const { return View(float32_type(), at(base, s.S, 4), {s.S, count}); }
    View c(const float *base) const { return View(float32_type(), at(base, s.DHQK * s.DHV, 4), {s.DHV, s.DHQK, count}); }
    View n(const float *base) const { return View(float32_type(), at(base, s.DHQK, 4), {s.DHQK, count}); }
    View m(const float *base) const { return View(float32_type(), at(base, 1, 4), {count}); }
};

// Initial states that were not given read zeros: one row of zeros repeated with stride 0.
struct InitialViews {
    std::vector<float> zeros;
    View c, n, m;
    InitialViews(const SliceGroup &g, const InitialStates &init)
        : zeros(std::max({g.s.DHQK, g.s.DHV, g.count}), 0.0f),
          c(init.c ? g.c(init.c) : View(float32_type(), zeros.data(), {g.s.DHV, g.s.DHQK, g.count}, {1, 0, 0})),
          n(init.n ? g.n(init.n) : View(float32_type(), zeros.data(), {g.s.DHQK, g.count}, {1, 0})),
          m(init.m ? g.m(init.m) : View(float32_type(), zeros.data(), {g.count})) {}
};

// Last states go to the caller's buffers when asked for, else to scratch of one group.
struct LastViews {
    std::vector<float> scratch;
    View c, n, m;
    LastViews(const SliceGroup &g, const StatesOut &out, bool wanted)
        : scratch(wanted ? 0 : g.count * (g.s.DHQK * g.s.DHV + g.s.DHQK + 1)),
          c(wanted ? g.c(out.c) : View(float32_type(), scratch.data(), {g.s.DHV, g.s.DHQK, g.count})),
          n(wanted ? g.n(out.n) : View(float32_type(), scratch.data() + g.count * g.s.DHQK * g.s.DHV, {g.s.DHQK, g.count})),
          m(wanted ? g.m(out.m) : View(float32_type(), scratch.data() + g.count * (g.s.DHQK * g.s.DHV + g.s.DHQK), {g.count})) {}
};

void check_last_states(Checker &check, bool wanted, const StatesOut &last) {
    if (!wanted) return;
    check.pointer(last.c, "last.c (return_last_states)").pointer(last.n, "last.n (return_last_states)");
    check.pointer(last.m, "last.m (return_last_states)");
}

// Runs `call(group)` over groups of slices sized so that a call's buffers and scratch stay within bounds.
template <typename Call>
Error for_each_group(const char *function, const Shape &s, double scratch_bytes_per_slice, Call call) {
    install_halide_hooks();
    const int64_t heads = s.B * s.NH;
    const double io_bytes = double(s.S) * (2 * s.DHQK + 2 * s.DHV + 2) * 4.0 + double(s.DHQK) * s.DHV * 8.0;
    const int64_t per_call = slices_per_call(heads, std::max(io_bytes, scratch_bytes_per_slice));
    for (int64_t first = 0; first < heads; first += per_call) {
        SliceGroup group{s, first, std::min(per_call, heads - first)};
        CallContext ctx{function, {}};
        Error e = kernel_result(call(group, &ctx), ctx);
        if (!e.ok()) return e;
    }
    return {};
}

}  // namespace

Error mlstm_chunkwise_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &initial,
                         const StatesOut &last, const ChunkwiseOptions &o) {
    const char *fn = "mlstm_chunkwise_fw";
    Checker check(fn);
    check_inputs(check, s, qkv, gates, h, o.eps, o.check_finite);
    ChunkwiseKernel kernel = check.ok() ? chunkwise_kernel(qkv.dtype, o.chunk_size) : nullptr;
    check.require(kernel != nullptr, Status::unsupported,
                  "chunk_size = " + std::to_string(o.chunk_size) + " is not compiled (compiled: 16, 32, 64, 128, 256)");
    check.require(std::isfinite(o.norm_val), Status::invalid_argument, "norm_val must be finite");
    check_last_states(check, o.return_last_states, last);
    if (!check.ok()) return check.error();
    // The kernel keeps the state before every chunk of a slice.
    const int64_t chunks = (s.S + o.chunk_size - 1) / o.chunk_size;
    const double state_bytes = double(chunks + 1) * s.DHQK * s.DHV * 4.0;
    check.slice_bytes(state_bytes, "the chunk states");
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    return for_each_group(fn, s, state_bytes + double(s.S) * o.chunk_size * 4.0, [&](SliceGroup &g, CallContext *ctx) {
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View i = g.gates(gates.i), f = g.gates(gates.f), out = g.tokens(h, type, s.DHV);
        InitialViews init(g, initial);
        LastViews fin(g, last, o.return_last_states);
        return kernel(ctx, q.get(), k.get(), v.get(), i.get(), f.get(), init.c.get(), init.n.get(), init.m.get(),
                      o.eps, o.norm_val, o.stabilize_correctly, out.get(), fin.c.get(), fin.n.get(), fin.m.get());
    });
}

Error recurrent_sequence_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &initial,
                            const StatesOut &last, const RecurrentOptions &o) {
    const char *fn = "recurrent_sequence_fw";
    Checker check(fn);
    check_inputs(check, s, qkv, gates, h, o.eps, o.check_finite);
    check_last_states(check, o.return_last_states, last);
    // The kernel's work area holds the state and every token's numerator: (DHV + 1) x (DHQK + S) floats.
    const double work_bytes = double(s.DHV + 1) * double(s.DHQK + s.S) * 4.0;
    check.slice_bytes(work_bytes, "the recurrent work area");
    if (!check.ok()) return check.error();

    SequenceKernel kernel = sequence_kernel(qkv.dtype);
    const halide_type_t type = halide_type_of(qkv.dtype);
    return for_each_group(fn, s, work_bytes, [&](SliceGroup &g, CallContext *ctx) {
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View i = g.gates(gates.i), f = g.gates(gates.f), out = g.tokens(h, type, s.DHV);
        InitialViews init(g, initial);
        LastViews fin(g, last, o.return_last_states);
        return kernel(ctx, q.get(), k.get(), v.get(), i.get(), f.get(), init.c.get(), init.n.get(), init.m.get(),
                      o.eps, out.get(), fin.c.get(), fin.n.get(), fin.m.get());
    });
}

Error recurrent_step_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &state,
                        const StatesOut &new_state, const StepOptions &o) {
    const char *fn = "recurrent_step_fw";
    Checker check(fn);
    check.require(s.S == 1, Status::invalid_shape,
                  "shape.S = " + std::to_string(s.S) + " must be 1 (one token per step)");
    check_inputs(check, s, qkv, gates, h, o.eps, o.check_finite);
    check.pointer(state.c, "state.c").pointer(state.n, "state.n").pointer(state.m, "state.m");
    check.pointer(new_state.c, "new_state.c").pointer(new_state.n, "new_state.n").pointer(new_state.m, "new_state.m");
    check.slice_bytes(double(s.DHQK) * s.DHV * 4.0, "the state C");
    if (!check.ok()) return check.error();

    StepKernel kernel = step_kernel(qkv.dtype);
    const halide_type_t type = halide_type_of(qkv.dtype);
    return for_each_group(fn, s, 0.0, [&](SliceGroup &g, CallContext *ctx) {
        // One token per slice: q, k, v and h are (width, slices).
        auto token = [&](const void *base, int64_t width) {
            return View(type, g.at(base, width, type.bytes()), {width, g.count});
        };
        View q = token(qkv.q, s.DHQK), k = token(qkv.k, s.DHQK), v = token(qkv.v, s.DHV), out = token(h, s.DHV);
        View i = g.m(gates.i), f = g.m(gates.f);
        View c0 = g.c(state.c), n0 = g.n(state.n), m0 = g.m(state.m);
        View c1 = g.c(new_state.c), n1 = g.n(new_state.n), m1 = g.m(new_state.m);
        return kernel(ctx, c0.get(), n0.get(), m0.get(), q.get(), k.get(), v.get(), i.get(), f.get(), o.eps,
                      out.get(), c1.get(), n1.get(), m1.get());
    });
}

Error parallel_stabilized_simple(const Shape &s, const QKV &qkv, const Gates &gates, void *h,
                                 const ParallelOptions &o) {
    const char *fn = "parallel_stabilized_simple";
    Checker check(fn);
    check_inputs(check, s, qkv, gates, h, o.eps, o.check_finite);
    // The kernel holds the S x S cumulative forget-gate matrix of each slice.
    const double matrix_bytes = double(s.S) * double(s.S) * 4.0;
    check.slice_bytes(matrix_bytes, "the S x S gate matrix");
    if (!check.ok()) return check.error();

    ParallelKernel kernel = parallel_kernel(qkv.dtype);
    const halide_type_t type = halide_type_of(qkv.dtype);
    // Without a mask the kernel never reads one, but its bounds still cover (S, S): one row repeated does.
    std::vector<uint8_t> unused_row(o.lower_triangular_matrix ? 0 : s.S, 1);
    View mask = o.lower_triangular_matrix
                    ? View(halide_type_t(halide_type_uint, 8), o.lower_triangular_matrix, {s.S, s.S})
                    : View(halide_type_t(halide_type_uint, 8), unused_row.data(), {s.S, s.S}, {1, 0});
    return for_each_group(fn, s, matrix_bytes, [&](SliceGroup &g, CallContext *ctx) {
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View i = g.gates(gates.i), f = g.gates(gates.f), out = g.tokens(h, type, s.DHV);
        return kernel(ctx, q.get(), k.get(), v.get(), i.get(), f.get(), mask.get(), o.lower_triangular_matrix != nullptr,
                      o.stabilize_rowwise, o.eps, out.get());
    });
}

Error set_num_threads(int threads) {
    if (threads < 1) {
        return {Status::invalid_argument, "set_num_threads: threads = " + std::to_string(threads) + " must be >= 1"};
    }
    halide_set_num_threads(threads);
    return {};
}

int num_threads() {
    // halide_set_num_threads returns the previous value; set it back at once.
    int current = halide_set_num_threads(0);
    halide_set_num_threads(current);
    return current;
}

const int64_t *compiled_chunk_sizes(int *count) {
    if (count) *count = kNumChunkSizes;
    return kChunkSizes;
}

const char *version() {
    return HMLSTM_VERSION;
}

}  // namespace hmlstm
