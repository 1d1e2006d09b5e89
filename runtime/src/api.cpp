// The public entry points: validate everything, then call the generated kernel on groups of (batch, head) slices.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "halide_glue.h"
#include "hmlstm/hmlstm.h"
#include "kernels.h"
#include "tuning_table.h"
#include "validate.h"
#include "cuda_device.h"
#include "scratch_cache.h"
#include "subnormals.h"

namespace hmlstm {

using namespace detail;

namespace {

// Where a call's memory is, and the buffers it borrows: zeros to read in place of initial states that were not
// given, and room for outputs nobody asked for. Host calls use vectors of their own; CUDA calls use per-context
// device buffers (cuda_device.h).
struct Memory {
    bool cuda = false;
    CudaPlacement placement;
    std::vector<float> host_zeros, host_discard;
    const void *zeros = nullptr;
    float *discard = nullptr;
};

// Checks shared by every form: shape, dtype, the data pointers, eps, where the memory is, and (host memory, with
// check_finite) the data's finiteness. `floats_*` size the borrowed buffers for `per_call` slices.
struct DataChecks {
    const Shape &s;
    const QKV &qkv;
    const Gates &gates;
    const void *h;
    float eps;
    bool check_finite;
    const DeviceOptions &device;
    const char *h_name = "h";  // the (B, NH, S, DHV) tensor besides v: h, or dh for a backward
    bool gated = true;         // false: the form takes no gates (the attention backend)
};

void check_inputs(Checker &check, const DataChecks &d, Memory *mem) {
    const Shape &s = d.s;
    check.shape(s).dtype(d.qkv.dtype).eps(d.eps);
    check.pointer(d.qkv.q, "q").pointer(d.qkv.k, "k").pointer(d.qkv.v, "v");
    if (d.gated) check.pointer(d.gates.i, "i").pointer(d.gates.f, "f");
    check.pointer(d.h, d.h_name);
    check.slice_bytes(double(s.S) * std::max(s.DHQK, s.DHV) * 4.0, "q, k, v or h");
    check.require(d.device.kind == Device::cpu || d.device.kind == Device::cuda, Status::invalid_argument,
                  "device.kind " + std::to_string(static_cast<int>(d.device.kind)) + " is not cpu or cuda");
    if (!check.ok()) return;
    TensorSizes n(s);
    if (d.device.kind == Device::cuda) {
        check.require(cuda_built(), Status::unsupported, "device.kind = cuda, but this build has no CUDA kernels");
        if (!check.ok()) return;
        mem->cuda = true;
        check.adopt(resolve_cuda_placement(check.function(), d.device, &mem->placement));
        const int64_t elem = static_cast<int64_t>(dtype_size(d.qkv.dtype));
        void *ctx = mem->placement.context;
        check.device_range(d.qkv.q, n.qk * elem, "q", ctx).device_range(d.qkv.k, n.qk * elem, "k", ctx);
        check.device_range(d.qkv.v, n.v * elem, "v", ctx).device_range(d.h, n.v * elem, d.h_name, ctx);
        if (d.gated) check.device_range(d.gates.i, n.gates * 4, "i", ctx).device_range(d.gates.f, n.gates * 4, "f", ctx);
        return;
    }
    if (!d.check_finite) return;
    check.finite(d.qkv.q, d.qkv.dtype, n.qk, "q").finite(d.qkv.k, d.qkv.dtype, n.qk, "k");
    check.finite(d.qkv.v, d.qkv.dtype, n.v, "v");
    if (d.gated) check.no_nan(d.gates.i, n.gates, "i").no_nan(d.gates.f, n.gates, "f");
}

// States the caller passes: on CUDA each must be device memory of the call's context, of its full size.
void check_state_memory(Checker &check, const Memory &mem, const Shape &s, const float *c, const float *n,
                        const float *m, const char *c_name, const char *n_name, const char *m_name) {
    if (!mem.cuda) return;
    TensorSizes sz(s);
    void *ctx = mem.placement.context;
    check.device_range(c, sz.c * 4, c_name, ctx).device_range(n, sz.n * 4, n_name, ctx);
    check.device_range(m, sz.m * 4, m_name, ctx);
}

// Sizes the borrowed buffers (in floats) once every check has passed.
Error borrow(const char *function, Memory *mem, int64_t zero_floats, int64_t discard_floats) {
    if (!mem->cuda) {
        mem->host_zeros.assign(static_cast<size_t>(zero_floats), 0.0f);
        mem->host_discard.resize(static_cast<size_t>(discard_floats));
        mem->zeros = mem->host_zeros.data();
        mem->discard = mem->host_discard.data();
        return {};
    }
    uint64_t zeros = 0, discard = 0;
    Error e = device_zeros(function, mem->placement.context, zero_floats * 4, &zeros);
    if (e.ok() && discard_floats > 0) e = device_discard(function, mem->placement.context, discard_floats * 4, &discard);
    mem->zeros = reinterpret_cast<const void *>(zeros);
    mem->discard = reinterpret_cast<float *>(discard);
    return e;
}

// Pointers to the slices [first, first + count) of every tensor, and the views a kernel call takes.
struct SliceGroup {
    const Shape &s;
    const Memory &mem;
    int64_t first, count;

    const void *at(const void *base, int64_t per_slice, size_t elem_size) const {
        return static_cast<const uint8_t *>(base) + first * per_slice * elem_size;
    }
    View tokens(const void *base, halide_type_t type, int64_t width) const {  // (width, S, slices)
        return View(type, at(base, s.S * width, type.bytes()), {width, s.S, count}, {}, mem.cuda);
    }
    View gates(const float *base) const { return View(float32_type(), at(base, s.S, 4), {s.S, count}, {}, mem.cuda); }
    View c(const float *base) const {
        return View(float32_type(), at(base, s.DHQK * s.DHV, 4), {s.DHV, s.DHQK, count}, {}, mem.cuda);
    }
    View n(const float *base) const { return View(float32_type(), at(base, s.DHQK, 4), {s.DHQK, count}, {}, mem.cuda); }
    View m(const float *base) const { return View(float32_type(), at(base, 1, 4), {count}, {}, mem.cuda); }
    View discard(int64_t offset, std::initializer_list<int64_t> extents) const {  // room for unwanted outputs
        return View(float32_type(), mem.discard + offset, extents, {}, mem.cuda);
    }
    // Zeros: a row of them repeated along every outer dimension (strides 0).
    View zeros(std::initializer_list<int64_t> extents, std::initializer_list<int64_t> strides) const {
        return View(float32_type(), mem.zeros, extents, strides, mem.cuda);
    }
};

// The views of q, k, v and the gates every kernel takes.
struct InputViews {
    View q, k, v, i, f;
    InputViews(const SliceGroup &g, const QKV &qkv, const Gates &gates)
        : q(g.tokens(qkv.q, halide_type_of(qkv.dtype), g.s.DHQK)), k(g.tokens(qkv.k, halide_type_of(qkv.dtype), g.s.DHQK)),
          v(g.tokens(qkv.v, halide_type_of(qkv.dtype), g.s.DHV)), i(g.gates(gates.i)), f(g.gates(gates.f)) {}
};

// The gradients a backward writes; the initial states' go to the borrowed room when not wanted.
struct GradientViews {
    View dq, dk, dv, di, df, dc0, dm0;
    GradientViews(const SliceGroup &g, const Gradients &grads, DType dtype)
        : dq(g.tokens(grads.dq, halide_type_of(dtype), g.s.DHQK)), dk(g.tokens(grads.dk, halide_type_of(dtype), g.s.DHQK)),
          dv(g.tokens(grads.dv, halide_type_of(dtype), g.s.DHV)), di(g.gates(grads.di)), df(g.gates(grads.df)),
          dc0(grads.dc_initial ? g.c(grads.dc_initial) : g.discard(0, {g.s.DHV, g.s.DHQK, g.count})),
          dm0(grads.dm_initial ? g.m(grads.dm_initial) : g.discard(g.count * g.s.DHQK * g.s.DHV, {g.count})) {}
};

// The parallel form's (S, S) mask. Without one the kernel never reads it, but its bounds still cover (S, S): one
// zero row repeated does.
View mask_view(const SliceGroup &g, const uint8_t *mask) {
    const halide_type_t u8 = halide_type_t(halide_type_uint, 8);
    return mask ? View(u8, mask, {g.s.S, g.s.S}, {}, g.mem.cuda) : View(u8, g.mem.zeros, {g.s.S, g.s.S}, {1, 0}, g.mem.cuda);
}

// Memory for intermediate results a kernel writes and reads back but the caller does not keep (the chunk states):
// host blocks from the scratch cache, or stream-ordered device memory released on the call's stream.
class CallScratch {
public:
    CallScratch() = default;
    CallScratch(const CallScratch &) = delete;
    ~CallScratch() { scratch_free(nullptr, host_); }
    Error allocate(const char *function, const Memory &mem, int64_t floats) {
        if (mem.cuda) return device_.allocate(function, mem.placement, floats * 4);
        host_ = scratch_malloc(nullptr, static_cast<size_t>(floats) * 4);
        if (!host_) return {Status::out_of_memory, std::string(function) + ": cannot allocate the chunk states"};
        return {};
    }
    float *get() const { return host_ ? static_cast<float *>(host_) : device_.get(); }

private:
    void *host_ = nullptr;
    DeviceScratch device_;
};

// Floats of `states` states (C, n and m) of one slice.
int64_t state_floats(const Shape &s, int64_t states) { return states * (s.DHQK * s.DHV + s.DHQK + 1); }

// Views of the chunk states and per-token normalizers and stabilizers of a group of slices: the caller's
// ChunkStates, or one scratch block.
struct ChunkStateViews {
    View c, n, m, den, m_token;
    ChunkStateViews(const SliceGroup &g, int64_t states, const ChunkStates &given, float *scratch)
        : c(float32_type(), given.c ? g.at(given.c, states * g.s.DHQK * g.s.DHV, 4) : scratch,
            {g.s.DHV, g.s.DHQK, states, g.count}, {}, g.mem.cuda),
          n(float32_type(), given.n ? g.at(given.n, states * g.s.DHQK, 4) : scratch + g.count * states * g.s.DHQK * g.s.DHV,
            {g.s.DHQK, states, g.count}, {}, g.mem.cuda),
          m(float32_type(), given.m ? g.at(given.m, states, 4) : scratch + g.count * states * (g.s.DHQK * g.s.DHV + g.s.DHQK),
            {states, g.count}, {}, g.mem.cuda),
          den(given.normalizer ? g.gates(given.normalizer) : token_scratch(g, states, scratch, 0)),
          m_token(given.stabilizer ? g.gates(given.stabilizer) : token_scratch(g, states, scratch, 1)) {}
    static int64_t floats(const Shape &s, int64_t states, int64_t count) {
        return count * (state_floats(s, states) + 2 * s.S);
    }
    // The per-token rows in scratch, after the states: `which` 0 the normalizers, 1 the stabilizers.
    static View token_scratch(const SliceGroup &g, int64_t states, float *scratch, int which) {
        float *at = scratch ? scratch + g.count * (state_floats(g.s, states) + which * g.s.S) : nullptr;
        return View(float32_type(), at, {g.s.S, g.count}, {}, g.mem.cuda);
    }
};

// Floats of zeros an InitialViews reads, and of room a LastViews writes, for groups of `count` slices.
int64_t zero_floats(const Shape &s, int64_t count) { return std::max({s.DHQK, s.DHV, count, s.S}); }
int64_t discard_floats(const Shape &s, int64_t count) { return count * state_floats(s, 1); }

// Initial states that were not given read zeros: one row of zeros repeated with stride 0.
struct InitialViews {
    View c, n, m;
    InitialViews(const SliceGroup &g, const InitialStates &init)
        : c(init.c ? g.c(init.c) : g.zeros({g.s.DHV, g.s.DHQK, g.count}, {1, 0, 0})),
          n(init.n ? g.n(init.n) : g.zeros({g.s.DHQK, g.count}, {1, 0})),
          m(init.m ? g.m(init.m) : g.zeros({g.count}, {1})) {}
};

// Last states go to the caller's buffers when asked for, else to the borrowed room.
struct LastViews {
    View c, n, m;
    LastViews(const SliceGroup &g, const StatesOut &out, bool wanted)
        : c(wanted ? g.c(out.c) : g.discard(0, {g.s.DHV, g.s.DHQK, g.count})),
          n(wanted ? g.n(out.n) : g.discard(g.count * g.s.DHQK * g.s.DHV, {g.s.DHQK, g.count})),
          m(wanted ? g.m(out.m) : g.discard(g.count * (g.s.DHQK * g.s.DHV + g.s.DHQK), {g.count})) {}
};

void check_last_states(Checker &check, bool wanted, const StatesOut &last, const Memory &mem, const Shape &s) {
    if (!wanted) return;
    check.pointer(last.c, "last.c (return_last_states)").pointer(last.n, "last.n (return_last_states)");
    check.pointer(last.m, "last.m (return_last_states)");
    check_state_memory(check, mem, s, last.c, last.n, last.m, "last.c", "last.n", "last.m");
}

// How many slices one kernel call takes, so that its buffers and scratch stay within bounds.
int64_t group_size(const Shape &s, double scratch_bytes_per_slice) {
    const double io_bytes = double(s.S) * (2 * s.DHQK + 2 * s.DHV + 2) * 4.0 + double(s.DHQK) * s.DHV * 8.0;
    return slices_per_call(s.B * s.NH, std::max(io_bytes, scratch_bytes_per_slice));
}

// Borrows the call's buffers, then runs `call(group)` over groups of `per_call` slices.
template <typename Call>
Error for_each_group(const char *function, const Shape &s, Memory &mem, int64_t per_call, bool discards, Call call) {
    install_halide_hooks();
    FlushSubnormals flush;  // the calling thread's own share of the kernels' work
    Error e = borrow(function, &mem, zero_floats(s, per_call), discards ? discard_floats(s, per_call) : 0);
    if (!e.ok()) return e;
    const int64_t heads = s.B * s.NH;
    for (int64_t first = 0; first < heads; first += per_call) {
        SliceGroup group{s, mem, first, std::min(per_call, heads - first)};
        CallContext ctx{function, {}, mem.placement.context, mem.placement.stream};
        e = kernel_result(call(group, &ctx), ctx);
        if (!e.ok()) return e;
    }
    return {};
}

}  // namespace

int64_t chunkwise_saved_states(int64_t S, int64_t chunk_size) {
    if (S <= 0 || chunk_size <= 0) return 0;
    return (S + chunk_size - 1) / chunk_size + 1;
}

namespace {

// The chunk size and schedule a chunkwise call runs: the options' own, or the tuning table's where they leave them
// open (the backward has one schedule). Checks that they are compiled.
TunedChoice chunkwise_choice(Checker &check, const Shape &s, DType dtype, const ChunkwiseOptions &o, bool forward) {
    TunedChoice choice;
    if (!check.ok()) return choice;
    const bool table_schedule = forward && o.schedule.empty();
    if (o.chunk_size == 0 || table_schedule) {
        choice = tuned_chunkwise(dtype, o.device.kind, s, o.chunk_size, o.cuda_products);
    }
    if (o.chunk_size != 0) choice.chunk_size = o.chunk_size;
    if (!forward) choice.schedule = kDefaultSchedule;
    if (forward && !o.schedule.empty()) choice.schedule = o.schedule;
    check.require(chunkwise_kernel(dtype, choice.chunk_size, Device::cpu, false) != nullptr, Status::unsupported,
                  "chunk_size = " + std::to_string(o.chunk_size) +
                      " is not compiled (compiled: 16, 32, 64, 128, 256; 0 lets the tuning table choose)");
    if (!check.ok()) return choice;
    const bool compiled = chunkwise_kernel(dtype, choice.chunk_size, o.device.kind, false, choice.schedule) ||
                          (o.device.kind == Device::cuda && choice.schedule == kDefaultSchedule);
    if (!compiled) {  // the message only on failure: this runs on every call
        std::string names;
        for (const std::string &name : chunkwise_schedules(o.device.kind)) names += (names.empty() ? "" : ", ") + name;
        check.require(false, Status::unsupported,
                      "schedule \"" + choice.schedule + "\" is not compiled for this device (compiled: " + names +
                          "; empty lets the tuning table choose)");
    }
    return choice;
}

// What the chunkwise forward and backward check alike: the options, the chunk size and schedule (chunkwise_choice),
// and the chunk states the call saves or reads. Returns the variant to run.
TunedChoice check_chunkwise(Checker &check, const Shape &s, DType dtype, const ChunkwiseOptions &o, const Memory &mem,
                            const ChunkStates &states, bool states_needed, const char *states_name, bool forward) {
    check.require(o.cuda_products == CudaProducts::tensor_cores || o.cuda_products == CudaProducts::simt,
                  Status::invalid_argument,
                  "cuda_products " + std::to_string(static_cast<int>(o.cuda_products)) + " is not tensor_cores or simt");
    check.require(std::isfinite(o.norm_val), Status::invalid_argument, "norm_val must be finite");
    // All five pointers, or only the per-token pair (normalizer and stabilizer, without the chunk states).
    const bool chunk_states_given = states.c || states.n || states.m;
    const bool states_given = chunk_states_given || states.normalizer || states.stabilizer;
    if (states_needed || states_given) {
        const std::string name(states_name);
        if (states_needed || chunk_states_given) {
            check.pointer(states.c, (name + ".c").c_str()).pointer(states.n, (name + ".n").c_str());
            check.pointer(states.m, (name + ".m").c_str());
        }
        check.pointer(states.normalizer, (name + ".normalizer").c_str());
        check.pointer(states.stabilizer, (name + ".stabilizer").c_str());
        check.require(o.chunk_size != 0, Status::invalid_argument,
                      name + " needs an explicit chunk_size (the states and the per-token values depend on the "
                             "chunking; 0 lets the table choose)");
    }
    const TunedChoice choice = chunkwise_choice(check, s, dtype, o, forward);
    const int64_t chunk_size = choice.chunk_size;
    if (!check.ok()) return choice;
    // The states before every chunk: one (DHQK x DHV) matrix each.
    const int64_t count = chunkwise_saved_states(s.S, chunk_size);
    check.slice_bytes(double(count) * s.DHQK * s.DHV * 4.0, "the chunk states");
    if (mem.cuda && states_given && check.ok()) {
        const int64_t heads = s.B * s.NH;
        void *ctx = mem.placement.context;
        const std::string name(states_name);
        check.device_range(states.c, heads * count * s.DHQK * s.DHV * 4, (name + ".c").c_str(), ctx);
        check.device_range(states.n, heads * count * s.DHQK * 4, (name + ".n").c_str(), ctx);
        check.device_range(states.m, heads * count * 4, (name + ".m").c_str(), ctx);
        check.device_range(states.normalizer, heads * s.S * 4, (name + ".normalizer").c_str(), ctx);
        check.device_range(states.stabilizer, heads * s.S * 4, (name + ".stabilizer").c_str(), ctx);
    }
    return choice;
}

}  // namespace

Error mlstm_chunkwise_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &initial,
                         const StatesOut &last, const ChunkwiseOptions &o, const ChunkStates &save_states) {
    const char *fn = "mlstm_chunkwise_fw";
    Checker check(fn);
    Memory mem;
    check_inputs(check, {s, qkv, gates, h, o.eps, o.check_finite, o.device}, &mem);
    const TunedChoice choice = check_chunkwise(check, s, qkv.dtype, o, mem, save_states, false, "save_states", true);
    const int64_t chunk_size = choice.chunk_size;
    ChunkwiseKernel kernel = check.ok() ? chunkwise_kernel(qkv.dtype, chunk_size, o.device.kind,
                                                           o.cuda_products == CudaProducts::tensor_cores,
                                                           choice.schedule)
                                        : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no chunkwise kernel for this dtype and device");
    check_state_memory(check, mem, s, initial.c, initial.n, initial.m, "initial.c", "initial.n", "initial.m");
    check_last_states(check, o.return_last_states, last, mem, s);
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    const int64_t states = chunkwise_saved_states(s.S, chunk_size);
    const int64_t per_call = group_size(s, double(states) * s.DHQK * s.DHV * 4.0 + double(s.S) * chunk_size * 4.0);
    // Unless the caller keeps them, the chunk states live in scratch for the call.
    CallScratch scratch;
    if (!save_states.c) {
        Error e = scratch.allocate(fn, mem, ChunkStateViews::floats(s, states, per_call));
        if (!e.ok()) return e;
    }
    return for_each_group(fn, s, mem, per_call, !o.return_last_states, [&](SliceGroup &g, CallContext *ctx) {
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View i = g.gates(gates.i), f = g.gates(gates.f), out = g.tokens(h, type, s.DHV);
        InitialViews init(g, initial);
        LastViews fin(g, last, o.return_last_states);
        ChunkStateViews kept(g, states, save_states, scratch.get());
        return kernel(ctx, q.get(), k.get(), v.get(), i.get(), f.get(), init.c.get(), init.n.get(), init.m.get(),
                      o.eps, o.norm_val, o.stabilize_correctly, save_states.normalizer != nullptr, out.get(),
                      fin.c.get(), fin.n.get(), fin.m.get(), kept.c.get(), kept.n.get(), kept.m.get(), kept.den.get(),
                      kept.m_token.get());
    });
}

namespace {

// What every backward checks besides its forward's inputs (`data`, whose (B, NH, S, DHV) tensor is dh): the
// gradients' pointers, and dh and dc_last: on CUDA their device memory, on the host (with check_finite) their
// finiteness.
void check_backward(Checker &check, DataChecks data, const Gradients &grads, const float *dc_last, Memory *mem) {
    data.h_name = "dh";
    check_inputs(check, data, mem);
    check.pointer(grads.dq, "grads.dq").pointer(grads.dk, "grads.dk").pointer(grads.dv, "grads.dv");
    check.pointer(grads.di, "grads.di").pointer(grads.df, "grads.df");
    if (!check.ok()) return;
    const TensorSizes n(data.s);
    if (mem->cuda) {
        const int64_t elem = static_cast<int64_t>(dtype_size(data.qkv.dtype));
        void *ctx = mem->placement.context;
        check.device_range(grads.dq, n.qk * elem, "grads.dq", ctx).device_range(grads.dk, n.qk * elem, "grads.dk", ctx);
        check.device_range(grads.dv, n.v * elem, "grads.dv", ctx);
        check.device_range(grads.di, n.gates * 4, "grads.di", ctx).device_range(grads.df, n.gates * 4, "grads.df", ctx);
        if (grads.dc_initial) check.device_range(grads.dc_initial, n.c * 4, "grads.dc_initial", ctx);
        if (grads.dn_initial) check.device_range(grads.dn_initial, n.n * 4, "grads.dn_initial", ctx);
        if (grads.dm_initial) check.device_range(grads.dm_initial, n.m * 4, "grads.dm_initial", ctx);
        if (dc_last) check.device_range(dc_last, n.c * 4, "dc_last", ctx);
        return;
    }
    if (!data.check_finite) return;
    check.finite(data.h, data.qkv.dtype, n.v, "dh").finite(dc_last, DType::float32, n.c, "dc_last");
}

// n reaches only the normalizer, a constant of the backward: dn_initial is 0.
Error finish_backward(const Error &e, const Gradients &grads, const Shape &s, const Memory &mem, const char *function) {
    if (!e.ok() || !grads.dn_initial) return e;
    const int64_t n = TensorSizes(s).n;
    if (mem.cuda) return device_fill_zero(function, mem.placement, grads.dn_initial, n * 4);
    std::fill(grads.dn_initial, grads.dn_initial + n, 0.0f);
    return e;
}

}  // namespace

Error mlstm_chunkwise_bw(const Shape &s, const QKV &qkv, const Gates &gates, const void *dh, const Gradients &grads,
                         const InitialStates &initial, const float *dc_last, const ChunkwiseOptions &o,
                         const ChunkStates &saved) {
    const char *fn = "mlstm_chunkwise_bw";
    Checker check(fn);
    Memory mem;
    check_backward(check, {s, qkv, gates, dh, o.eps, o.check_finite, o.device}, grads, dc_last, &mem);
    const bool recompute = o.recompute_states_in_bw;
    // Recomputing the states, the backward still reads the forward's per-token normalizers and stabilizers when
    // `saved` has them (its chunk states, if any, are not read).
    const ChunkStates read = recompute ? ChunkStates{nullptr, nullptr, nullptr, saved.normalizer, saved.stabilizer}
                                       : saved;
    const int64_t chunk_size = check_chunkwise(check, s, qkv.dtype, o, mem, read, !recompute, "saved", false).chunk_size;
    BackwardInputs inputs = !recompute       ? BackwardInputs::saved_states
                            : read.normalizer ? BackwardInputs::token_stats
                                              : BackwardInputs::recompute;
    const bool tensor_cores = o.cuda_products == CudaProducts::tensor_cores;
    ChunkwiseBackwardKernel kernel =
        check.ok() ? chunkwise_backward_kernel(qkv.dtype, chunk_size, o.device.kind, inputs, tensor_cores) : nullptr;
    if (!kernel && inputs == BackwardInputs::token_stats && check.ok()) {  // CUDA SIMT: recomputed instead
        inputs = BackwardInputs::recompute;
        kernel = chunkwise_backward_kernel(qkv.dtype, chunk_size, o.device.kind, inputs, tensor_cores);
    }
    check.require(kernel != nullptr, Status::unsupported, "no chunkwise backward kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    const int64_t states = chunkwise_saved_states(s.S, chunk_size);
    // Per slice the kernel holds the chunk states, their gradients and two (S x chunk) weight matrices.
    const double work_bytes = double(states) * s.DHQK * s.DHV * 8.0 + double(s.S) * chunk_size * 8.0;
    const int64_t per_call = group_size(s, work_bytes);
    Error e = for_each_group(fn, s, mem, per_call, true, [&](SliceGroup &g, CallContext *ctx) {
        InputViews in(g, qkv, gates);
        View d_h = g.tokens(dh, type, s.DHV);
        InitialViews init(g, initial);
        // Recomputing, the kernel never reads the saved states: one zero row repeated covers their bounds.
        View zc = g.zeros({s.DHV, s.DHQK, states, g.count}, {1, 0, 0, 0});
        View zn = g.zeros({s.DHQK, states, g.count}, {1, 0, 0}), zm = g.zeros({states, g.count}, {0, 0});
        View z_token = g.zeros({s.S, g.count}, {0, 0});
        ChunkStateViews kept(g, states, read, nullptr);
        View dcl = dc_last ? g.c(dc_last) : g.zeros({s.DHV, s.DHQK, g.count}, {1, 0, 0});
        GradientViews out(g, grads, qkv.dtype);
        const bool tokens_read = inputs != BackwardInputs::recompute;
        return kernel(ctx, in.q.get(), in.k.get(), in.v.get(), in.i.get(), in.f.get(), init.c.get(), init.n.get(),
                      init.m.get(), recompute ? zc.get() : kept.c.get(), recompute ? zn.get() : kept.n.get(),
                      recompute ? zm.get() : kept.m.get(), tokens_read ? kept.den.get() : z_token.get(),
                      tokens_read ? kept.m_token.get() : z_token.get(), d_h.get(), dcl.get(), o.eps, o.norm_val,
                      o.stabilize_correctly, out.dq.get(), out.dk.get(), out.dv.get(), out.di.get(), out.df.get(),
                      out.dc0.get(), out.dm0.get());
    });
    return finish_backward(e, grads, s, mem, fn);
}

Error recurrent_sequence_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &initial,
                            const StatesOut &last, const RecurrentOptions &o) {
    const char *fn = "recurrent_sequence_fw";
    Checker check(fn);
    Memory mem;
    check_inputs(check, {s, qkv, gates, h, o.eps, o.check_finite, o.device}, &mem);
    check_state_memory(check, mem, s, initial.c, initial.n, initial.m, "initial.c", "initial.n", "initial.m");
    check_last_states(check, o.return_last_states, last, mem, s);
    // The kernel's work area holds the state and every token's numerator: (DHV + 1) x (DHQK + S) floats.
    const double work_bytes = double(s.DHV + 1) * double(s.DHQK + s.S) * 4.0;
    check.slice_bytes(work_bytes, "the recurrent work area");
    SequenceKernel kernel = check.ok() ? sequence_kernel(qkv.dtype, o.device.kind) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no recurrent sequence kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    return for_each_group(fn, s, mem, group_size(s, work_bytes), !o.return_last_states,
                          [&](SliceGroup &g, CallContext *ctx) {
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View i = g.gates(gates.i), f = g.gates(gates.f), out = g.tokens(h, type, s.DHV);
        InitialViews init(g, initial);
        LastViews fin(g, last, o.return_last_states);
        return kernel(ctx, q.get(), k.get(), v.get(), i.get(), f.get(), init.c.get(), init.n.get(), init.m.get(),
                      o.eps, out.get(), fin.c.get(), fin.n.get(), fin.m.get());
    });
}

Error recurrent_sequence_bw(const Shape &s, const QKV &qkv, const Gates &gates, const void *dh, const Gradients &grads,
                            const InitialStates &initial, const float *dc_last, const RecurrentOptions &o) {
    const char *fn = "recurrent_sequence_bw";
    Checker check(fn);
    Memory mem;
    check_backward(check, {s, qkv, gates, dh, o.eps, o.check_finite, o.device}, grads, dc_last, &mem);
    const double states_bytes = double(s.S + 1) * s.DHQK * s.DHV * 4.0;
    check.slice_bytes(states_bytes, "every state C kept by the recurrent backward (the chunkwise backward keeps one "
                                    "per chunk)");
    SequenceBackwardKernel kernel = check.ok() ? sequence_backward_kernel(qkv.dtype, o.device.kind) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no recurrent backward kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    Error e = for_each_group(fn, s, mem, group_size(s, 2 * states_bytes), true, [&](SliceGroup &g, CallContext *ctx) {
        InputViews in(g, qkv, gates);
        View d_h = g.tokens(dh, type, s.DHV);
        InitialViews init(g, initial);
        View dcl = dc_last ? g.c(dc_last) : g.zeros({s.DHV, s.DHQK, g.count}, {1, 0, 0});
        GradientViews out(g, grads, qkv.dtype);
        return kernel(ctx, in.q.get(), in.k.get(), in.v.get(), in.i.get(), in.f.get(), init.c.get(), init.n.get(),
                      init.m.get(), o.eps, d_h.get(), dcl.get(), out.dq.get(), out.dk.get(), out.dv.get(),
                      out.di.get(), out.df.get(), out.dc0.get(), out.dm0.get());
    });
    return finish_backward(e, grads, s, mem, fn);
}

Error recurrent_step_fw(const Shape &s, const QKV &qkv, const Gates &gates, void *h, const InitialStates &state,
                        const StatesOut &new_state, const StepOptions &o) {
    const char *fn = "recurrent_step_fw";
    Checker check(fn);
    check.require(s.S == 1, Status::invalid_shape,
                  "shape.S = " + std::to_string(s.S) + " must be 1 (one token per step)");
    Memory mem;
    check_inputs(check, {s, qkv, gates, h, o.eps, o.check_finite, o.device}, &mem);
    check.pointer(state.c, "state.c").pointer(state.n, "state.n").pointer(state.m, "state.m");
    check.pointer(new_state.c, "new_state.c").pointer(new_state.n, "new_state.n").pointer(new_state.m, "new_state.m");
    check_state_memory(check, mem, s, state.c, state.n, state.m, "state.c", "state.n", "state.m");
    check_state_memory(check, mem, s, new_state.c, new_state.n, new_state.m, "new_state.c", "new_state.n",
                       "new_state.m");
    check.slice_bytes(double(s.DHQK) * s.DHV * 4.0, "the state C");
    StepKernel kernel = check.ok() ? step_kernel(qkv.dtype, o.device.kind, s.DHQK, s.DHV) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no recurrent step kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const halide_type_t type = halide_type_of(qkv.dtype);
    return for_each_group(fn, s, mem, group_size(s, 0.0), false, [&](SliceGroup &g, CallContext *ctx) {
        // One token per slice: q, k, v and h are (width, slices).
        auto token = [&](const void *base, int64_t width) {
            return View(type, g.at(base, width, type.bytes()), {width, g.count}, {}, mem.cuda);
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
    Memory mem;
    check_inputs(check, {s, qkv, gates, h, o.eps, o.check_finite, o.device}, &mem);
    if (mem.cuda) {
        check.device_range(o.lower_triangular_matrix, s.S * s.S, "lower_triangular_matrix", mem.placement.context);
    }
    // The kernel holds the S x S cumulative forget-gate matrix of each slice.
    const double matrix_bytes = double(s.S) * double(s.S) * 4.0;
    check.slice_bytes(matrix_bytes, "the S x S gate matrix");
    ParallelKernel kernel = check.ok() ? parallel_kernel(qkv.dtype, o.device.kind) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no parallel kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const bool use_mask = o.lower_triangular_matrix != nullptr;
    return for_each_group(fn, s, mem, group_size(s, matrix_bytes), false, [&](SliceGroup &g, CallContext *ctx) {
        InputViews in(g, qkv, gates);
        View out = g.tokens(h, halide_type_of(qkv.dtype), s.DHV), mask = mask_view(g, o.lower_triangular_matrix);
        return kernel(ctx, in.q.get(), in.k.get(), in.v.get(), in.i.get(), in.f.get(), mask.get(), use_mask,
                      o.stabilize_rowwise, o.eps, out.get());
    });
}

Error attention(const Shape &s, const QKV &qkv, void *h, const AttentionOptions &o) {
    const char *fn = "attention";
    Checker check(fn);
    Memory mem;
    const Gates no_gates;
    DataChecks data{s, qkv, no_gates, h, 0.0f, o.check_finite, o.device};
    data.gated = false;
    check_inputs(check, data, &mem);
    const int activation = static_cast<int>(o.activation_function);
    check.require(activation >= 0 && activation <= 2, Status::invalid_argument,
                  "activation_function " + std::to_string(activation) + " is not softmax, sigmoid or none");
    const int pre = static_cast<int>(o.qk_pre_activation_function);
    check.require(pre == 0 || pre == 1, Status::invalid_argument,
                  "qk_pre_activation_function " + std::to_string(pre) + " is not none or swish");
    check.require(std::isfinite(o.theta) && o.theta > 0, Status::invalid_argument, "theta must be finite and > 0");
    check.require(!check.ok() || s.DHQK % 2 == 0, Status::invalid_shape,
                  "DHQK = " + std::to_string(s.DHQK) + " must be even (the rotary embeddings turn feature pairs)");
    if (mem.cuda) check.device_range(o.attention_mask, s.S * s.S, "attention_mask", mem.placement.context);
    // The kernel holds the S x S logits and weights of each slice.
    const double matrix_bytes = double(s.S) * double(s.S) * 4.0;
    check.slice_bytes(2 * matrix_bytes, "the S x S attention matrices");
    AttentionKernel kernel = check.ok() ? attention_kernel(qkv.dtype, o.device.kind) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no attention kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const bool use_mask = o.attention_mask != nullptr;
    return for_each_group(fn, s, mem, group_size(s, 2 * matrix_bytes), false, [&](SliceGroup &g, CallContext *ctx) {
        const halide_type_t type = halide_type_of(qkv.dtype);
        View q = g.tokens(qkv.q, type, s.DHQK), k = g.tokens(qkv.k, type, s.DHQK), v = g.tokens(qkv.v, type, s.DHV);
        View out = g.tokens(h, type, s.DHV), mask = mask_view(g, o.attention_mask);
        return kernel(ctx, q.get(), k.get(), v.get(), mask.get(), use_mask, activation,
                      o.qk_pre_activation_function == QKPreActivation::swish, o.theta, out.get());
    });
}

Error parallel_stabilized_simple_bw(const Shape &s, const QKV &qkv, const Gates &gates, const void *dh,
                                    const Gradients &grads, const ParallelOptions &o) {
    const char *fn = "parallel_stabilized_simple_bw";
    Checker check(fn);
    Memory mem;
    check_backward(check, {s, qkv, gates, dh, o.eps, o.check_finite, o.device}, grads, nullptr, &mem);
    check.require(!grads.dc_initial && !grads.dn_initial && !grads.dm_initial, Status::invalid_argument,
                  "grads.dc_initial, dn_initial and dm_initial must be null: the parallel form has no states");
    // The kernel holds three (S x S) matrices of each slice: the weights and the two gradients of d_intra.
    const double matrix_bytes = double(s.S) * double(s.S) * 4.0;
    check.slice_bytes(3 * matrix_bytes, "the S x S matrices of the backward");
    ParallelBackwardKernel kernel = check.ok() ? parallel_backward_kernel(qkv.dtype, o.device.kind) : nullptr;
    check.require(kernel != nullptr, Status::unsupported, "no parallel backward kernel for this dtype and device");
    if (!check.ok()) return check.error();

    const bool use_mask = o.lower_triangular_matrix != nullptr;
    return for_each_group(fn, s, mem, group_size(s, 4 * matrix_bytes), true, [&](SliceGroup &g, CallContext *ctx) {
        InputViews in(g, qkv, gates);
        View d_h = g.tokens(dh, halide_type_of(qkv.dtype), s.DHV), mask = mask_view(g, o.lower_triangular_matrix);
        GradientViews out(g, grads, qkv.dtype);
        return kernel(ctx, in.q.get(), in.k.get(), in.v.get(), in.i.get(), in.f.get(), mask.get(), use_mask,
                      o.stabilize_rowwise, o.eps, d_h.get(), out.dq.get(), out.dk.get(), out.dv.get(), out.di.get(),
                      out.df.get());
    });
}

Error load_tuning_table(const char *path) {
    if (!path) return {Status::null_pointer, "load_tuning_table: path is null"};
    std::ifstream in(path);
    if (!in) return {Status::invalid_argument, std::string("load_tuning_table: ") + path + " cannot be read"};
    std::stringstream text;
    text << in.rdbuf();
    Error e = install_table(text.str(), path);
    if (!e.ok()) e.message = "load_tuning_table: " + e.message;
    return e;
}

void reset_tuning_tables() {
    reset_tables();
}

std::string tuning_table_origin(Device device) {
    return table_origin(device);
}

Error set_num_threads(int threads) {
    if (threads < 1) {
        return {Status::invalid_argument, "set_num_threads: threads = " + std::to_string(threads) + " must be >= 1"};
    }
    halide_set_num_threads(threads);
    return {};
}

Error release_cached_memory() {
    scratch_release_thread_cache();
    return trim_device_pools();
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

const std::vector<std::string> &compiled_chunkwise_schedules(Device device) { return chunkwise_schedules(device); }

Error chunkwise_variant(const Shape &s, DType dtype, const ChunkwiseOptions &o, ChunkwiseVariant *variant) {
    Checker check("chunkwise_variant");
    check.pointer(variant, "variant");
    check.shape(s).dtype(dtype);
    const TunedChoice choice = chunkwise_choice(check, s, dtype, o, true);
    if (!check.ok()) return check.error();
    *variant = {choice.chunk_size, choice.schedule};
    return {};
}

bool cuda_built() {
#ifdef HMLSTM_WITH_CUDA
    return true;
#else
    return false;
#endif
}

const char *version() {
    return HMLSTM_VERSION;
}

}  // namespace hmlstm
