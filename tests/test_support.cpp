#include "test_support.h"

#include <limits>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace test {

uint64_t test_seed() {
    static const uint64_t seed = [] {
        if (const char *env = std::getenv("HMLSTM_TEST_SEED")) return uint64_t(std::strtoull(env, nullptr, 10));
        return uint64_t(std::random_device{}()) << 32 | std::random_device{}();
    }();
    return seed;
}

namespace {
uint16_t bf16_bits(float x) {  // round to nearest even
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}
float bf16_value(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}
double round_to(double x, DType dtype) {
    return dtype == DType::bfloat16 ? bf16_value(bf16_bits(float(x))) : double(float(x));
}
std::vector<double> draw(size_t count, std::mt19937_64 &rng, double lo, double hi, DType dtype) {
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<double> x(count);
    for (double &e : x) e = round_to(u(rng), dtype);
    return x;
}
std::vector<double> draw_normal(size_t count, std::mt19937_64 &rng, double mean, double sd, DType dtype) {
    std::normal_distribution<double> n(mean, sd);
    std::vector<double> x(count);
    for (double &e : x) e = round_to(n(rng), dtype);
    return x;
}
}  // namespace

Problem random_problem(const Shape &s, DType dtype, Gates gates, std::mt19937_64 &rng) {
    Problem p{s, dtype, {}};
    const size_t tokens = size_t(s.heads() * s.S);
    p.in.q = draw_normal(tokens * s.DHQK, rng, 0, 1, dtype);
    p.in.k = draw_normal(tokens * s.DHQK, rng, 0, 1, dtype);
    p.in.v = draw_normal(tokens * s.DHV, rng, 0, 1, dtype);
    switch (gates) {
    case Gates::typical:  // trained models keep forget gates mostly open
        p.in.i = draw_normal(tokens, rng, 0, 2, DType::float32);
        p.in.f = draw_normal(tokens, rng, 3, 2, DType::float32);
        break;
    case Gates::extreme:
        p.in.i = draw(tokens, rng, -30, 30, DType::float32);
        p.in.f = draw(tokens, rng, -30, 30, DType::float32);
        break;
    case Gates::forget_closed:
        p.in.i = draw(tokens, rng, -30, 30, DType::float32);
        p.in.f = draw(tokens, rng, -30, -10, DType::float32);
        break;
    case Gates::input_open:  // i >= 0: every form's stabilizer agrees (see test_cross_form.cpp)
        p.in.i = draw(tokens, rng, 0, 5, DType::float32);
        p.in.f = draw_normal(tokens, rng, 3, 2, DType::float32);
        break;
    }
    return p;
}

hmlstm_ref::States random_states(const Shape &s, std::mt19937_64 &rng) {
    hmlstm_ref::States st;
    st.c = draw_normal(size_t(s.heads() * s.DHQK * s.DHV), rng, 0, 1, DType::float32);
    st.n = draw(size_t(s.heads() * s.DHQK), rng, -1, 1, DType::float32);
    st.m = draw(size_t(s.heads()), rng, -2, 2, DType::float32);
    return st;
}

std::vector<uint8_t> encode(const std::vector<double> &x, DType dtype) {
    std::vector<uint8_t> bytes(x.size() * (dtype == DType::bfloat16 ? 2 : 4));
    for (size_t i = 0; i < x.size(); i++) {
        if (dtype == DType::bfloat16) {
            uint16_t b = bf16_bits(float(x[i]));
            std::memcpy(&bytes[2 * i], &b, 2);
        } else {
            float f = float(x[i]);
            std::memcpy(&bytes[4 * i], &f, 4);
        }
    }
    return bytes;
}

std::vector<double> decode(const std::vector<uint8_t> &bytes, DType dtype) {
    const size_t n = bytes.size() / (dtype == DType::bfloat16 ? 2 : 4);
    std::vector<double> x(n);
    for (size_t i = 0; i < n; i++) {
        if (dtype == DType::bfloat16) {
            uint16_t b;
            std::memcpy(&b, &bytes[2 * i], 2);
            x[i] = bf16_value(b);
        } else {
            float f;
            std::memcpy(&f, &bytes[4 * i], 4);
            x[i] = f;
        }
    }
    return x;
}

std::vector<float> to_float(const std::vector<double> &x) {
    return std::vector<float>(x.begin(), x.end());
}

std::vector<double> to_double(const std::vector<float> &x) {
    return std::vector<double>(x.begin(), x.end());
}

std::string Comparison::describe() const {
    std::ostringstream os;
    os << "worst relative error " << worst << " in slice " << worst_slice << (finite ? "" : " (NON-FINITE output)");
    return os.str();
}

Comparison compare(const std::vector<double> &out, const std::vector<double> &ref, int64_t slice) {
    Comparison c;
    if (out.size() != ref.size() || slice <= 0) {
        c.worst = INFINITY;
        c.finite = false;
        return c;
    }
    for (size_t start = 0; start < ref.size(); start += size_t(slice)) {
        double diff = 0, norm = 0;
        for (size_t i = start; i < start + size_t(slice); i++) {
            if (!std::isfinite(out[i])) c.finite = false;
            diff += (out[i] - ref[i]) * (out[i] - ref[i]);
            norm += ref[i] * ref[i];
        }
        const double rel = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
        if (!(rel <= c.worst)) {  // also catches NaN
            c.worst = std::isnan(rel) ? INFINITY : rel;
            c.worst_slice = int64_t(start / size_t(slice));
        }
    }
    if (!c.finite) c.worst = INFINITY;
    return c;
}

Comparison compare_max_state(const std::vector<double> &out, const std::vector<double> &ref) {
    Comparison c;
    if (out.size() != ref.size()) return {INFINITY, -1, false};
    for (size_t i = 0; i < ref.size(); i++) {
        const double err = std::fabs(out[i] - ref[i]) / std::max(1.0, std::fabs(ref[i]));
        if (!(err <= c.worst)) {
            c.worst = std::isnan(err) ? INFINITY : err;
            c.worst_slice = int64_t(i);
        }
    }
    c.finite = std::isfinite(c.worst);
    return c;
}

std::string OutputComparison::describe() const {
    std::ostringstream os;
    os << plain.describe() << "; " << slices_by_condition << " slices above the bound judged by conditioning";
    if (slices_by_condition > 0) {
        os << ": well-conditioned part " << judged.describe() << " (allowance " << judged_allowance << "), "
           << ill_tokens << " ill-conditioned tokens, worst at " << worst_ill_ratio << " of its allowance";
    }
    return os.str();
}

Oracle chunkwise_oracle(const Problem &p, const hmlstm_ref::States *initial, const hmlstm_ref::ChunkwiseParams &rp) {
    Oracle o;
    o.h = hmlstm_ref::chunkwise(p.shape, p.in, initial, &o.last, rp, &o.kappa);
    o.h_gates32 = hmlstm_ref::chunkwise(p.shape, p.in, initial, nullptr, rp, nullptr,
                                        hmlstm_ref::GateArithmetic::float32);
    return o;
}

Oracle sequence_oracle(const Problem &p, const hmlstm_ref::States *initial) {
    Oracle o;
    o.h = hmlstm_ref::recurrent_sequence(p.shape, p.in, initial, &o.last, 1e-6, &o.kappa);
    o.h_gates32 = hmlstm_ref::recurrent_sequence(p.shape, p.in, initial, nullptr, 1e-6, nullptr,
                                                 hmlstm_ref::GateArithmetic::float32);
    return o;
}

Oracle step_oracle(const Problem &p, const hmlstm_ref::States &state) {
    Oracle o;
    o.last = state;
    o.h = hmlstm_ref::recurrent_step(p.shape, p.in, o.last, 1e-6, &o.kappa);
    hmlstm_ref::States scratch = state;
    o.h_gates32 = hmlstm_ref::recurrent_step(p.shape, p.in, scratch, 1e-6, nullptr, hmlstm_ref::GateArithmetic::float32);
    return o;
}

Oracle parallel_oracle(const Problem &p, const std::vector<uint8_t> *mask, bool stabilize_rowwise) {
    Oracle o;
    o.h = hmlstm_ref::parallel(p.shape, p.in, mask, stabilize_rowwise, 1e-6, &o.kappa);
    o.h_gates32 = hmlstm_ref::parallel(p.shape, p.in, mask, stabilize_rowwise, 1e-6, nullptr,
                                       hmlstm_ref::GateArithmetic::float32);
    return o;
}

OutputComparison compare_output(const std::vector<double> &out, const Oracle &oracle, const Shape &s, double bound,
                                double unit_roundoff) {
    const double dot_units = 4.0 * std::sqrt(double(s.DHQK));  // a float32 dot product of DHQK terms, with margin
    const double gate_units = 4.0;
    const int64_t slice_size = s.S * s.DHV;
    OutputComparison c;
    c.plain = compare(out, oracle.h, slice_size);
    auto part = [&](const std::vector<double> &x, int64_t tok, int64_t count) {
        return std::vector<double>(x.begin() + tok * s.DHV, x.begin() + (tok + count) * s.DHV);
    };
    bool finite = true;
    for (int64_t slice = 0; slice < s.heads(); slice++) {
        const int64_t first = slice * s.S;
        if (compare(part(out, first, s.S), part(oracle.h, first, s.S), slice_size).worst <= bound) continue;
        c.slices_by_condition++;
        std::vector<double> kept_out, kept_ref, kept_gates32;
        for (int64_t tok = first; tok < first + s.S; tok++) {
            std::vector<double> o = part(out, tok, 1), r = part(oracle.h, tok, 1), g = part(oracle.h_gates32, tok, 1);
            if (oracle.kappa[tok] <= kWellConditioned) {
                kept_out.insert(kept_out.end(), o.begin(), o.end());
                kept_ref.insert(kept_ref.end(), r.begin(), r.end());
                kept_gates32.insert(kept_gates32.end(), g.begin(), g.end());
            } else {
                c.ill_tokens++;
                const double allowance = std::max(bound, dot_units * oracle.kappa[tok] * unit_roundoff) +
                                         gate_units * compare(g, r, s.DHV).worst;
                const double ratio = compare(o, r, s.DHV).worst / allowance;
                c.worst_ill_ratio = std::max(c.worst_ill_ratio, std::isfinite(ratio) ? ratio : INFINITY);
            }
        }
        if (kept_ref.empty()) continue;
        const int64_t n = int64_t(kept_ref.size());
        Comparison judged = compare(kept_out, kept_ref, n);
        finite = finite && judged.finite;
        const double allowance = bound + gate_units * compare(kept_gates32, kept_ref, n).worst;
        if (!(judged.worst / allowance <= c.judged.worst / std::max(c.judged_allowance, 1e-300))) {
            c.judged = judged;
            c.judged.worst_slice = slice;
            c.judged_allowance = allowance;
        }
    }
    if (c.judged_allowance == 0) c.judged_allowance = bound;
    c.judged.finite = finite;
    return c;
}

double forward_bound(DType dtype) {
    return dtype == DType::float32 ? 1e-5 : 1e-2;
}

bool chunkwise_on_tensor_cores() {
    static const bool tensor_cores = [] {
        const char *p = std::getenv("HMLSTM_TEST_CUDA_PRODUCTS");
        return on_cuda() && !(p && std::strcmp(p, "simt") == 0);
    }();
    return tensor_cores;
}

double chunkwise_bound(DType dtype) {
    return chunkwise_on_tensor_cores() ? 1e-2 : forward_bound(dtype);
}

double chunkwise_state_bound() {
    return chunkwise_on_tensor_cores() ? 1e-2 : 1e-5;
}

double chunkwise_unit_roundoff(DType dtype) {
    if (!chunkwise_on_tensor_cores()) return 0x1p-24;
    return dtype == DType::bfloat16 ? 0x1p-8 : 0x1p-11;  // bfloat16 operands, or TF32
}

hmlstm::Shape api_shape(const Shape &s) {
    return hmlstm::Shape{s.B, s.NH, s.S, s.DHQK, s.DHV};
}

namespace {
// A Problem's inputs as the API takes them, on the tests' device (device_memory.h).
struct ApiInputs {
    std::vector<uint8_t> q_host, k_host, v_host;
    std::vector<float> i_host, f_host;
    Mirror q, k, v, i, f;
    hmlstm::QKV qkv;
    hmlstm::Gates gates;
    explicit ApiInputs(const Problem &p)
        : q_host(encode(p.in.q, p.dtype)), k_host(encode(p.in.k, p.dtype)), v_host(encode(p.in.v, p.dtype)),
          i_host(to_float(p.in.i)), f_host(to_float(p.in.f)), q(q_host), k(k_host), v(v_host), i(i_host), f(f_host) {
        qkv = {q.api(), k.api(), v.api(), p.dtype};
        gates = {i.as<float>(), f.as<float>()};
    }
};
struct ApiStates {
    std::vector<float> c_host, n_host, m_host;
    Mirror c, n, m;
    explicit ApiStates(const hmlstm_ref::States &s)
        : c_host(to_float(s.c)), n_host(to_float(s.n)), m_host(to_float(s.m)), c(c_host), n(n_host), m(m_host) {}
    hmlstm::InitialStates initial() const { return {c.as<float>(), n.as<float>(), m.as<float>()}; }
    hmlstm::StatesOut out() { return {c.as<float>(), n.as<float>(), m.as<float>()}; }
    hmlstm_ref::States back() {
        c.back(), n.back(), m.back();
        return {to_double(c_host), to_double(n_host), to_double(m_host)};
    }
};
// Buffers for the states and per-token values a chunkwise forward saves (ChunkStates), poisoned with NaN so that an
// unwritten element shows.
struct ApiChunkStates {
    std::vector<float> c_host, n_host, m_host, normalizer_host, stabilizer_host;
    Mirror c, n, m, normalizer, stabilizer;
    static std::vector<float> poisoned(int64_t n) {
        return std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN());
    }
    ApiChunkStates(const Shape &s, int64_t chunk_size)
        : c_host(poisoned(s.heads() * hmlstm::chunkwise_saved_states(s.S, chunk_size) * s.DHQK * s.DHV)),
          n_host(poisoned(s.heads() * hmlstm::chunkwise_saved_states(s.S, chunk_size) * s.DHQK)),
          m_host(poisoned(s.heads() * hmlstm::chunkwise_saved_states(s.S, chunk_size))),
          normalizer_host(poisoned(s.heads() * s.S)), stabilizer_host(normalizer_host), c(c_host), n(n_host),
          m(m_host), normalizer(normalizer_host), stabilizer(stabilizer_host) {}
    hmlstm::ChunkStates api() const {
        return {c.as<float>(), n.as<float>(), m.as<float>(), normalizer.as<float>(), stabilizer.as<float>()};
    }
    hmlstm_ref::ChunkwiseSaved back() {
        for (Mirror *x : {&c, &n, &m, &normalizer, &stabilizer}) x->back();
        return {to_double(c_host), to_double(n_host), to_double(m_host), to_double(normalizer_host),
                to_double(stabilizer_host)};
    }
};
// The parallel form's mask where the API reads it; points the options there and at the tests' device.
struct ApiMask {
    std::vector<uint8_t> host;
    Mirror mirror;
    ApiMask(const Problem &p, const uint8_t *&mask, hmlstm::DeviceOptions &device)
        : host(mask, mask + (mask ? size_t(p.shape.S * p.shape.S) : 0)), mirror(host) {
        if (mask) mask = mirror.as<uint8_t>();
        device = device_options();
    }
};
// The output h, poisoned so that an unwritten element shows.
struct ApiOutput {
    std::vector<uint8_t> host;
    Mirror mirror;
    explicit ApiOutput(const Problem &p)
        : host(encode(std::vector<double>(size_t(p.shape.heads() * p.shape.S * p.shape.DHV),
                                          std::numeric_limits<double>::quiet_NaN()), p.dtype)),
          mirror(host) {}
    std::vector<double> back(DType dtype) {
        mirror.back();
        return decode(host, dtype);
    }
};
}  // namespace

Result run_chunkwise(const Problem &p, const hmlstm_ref::States *initial, hmlstm::ChunkwiseOptions o,
                     hmlstm_ref::ChunkwiseSaved *saved) {
    ApiInputs in(p);
    ApiStates init(initial ? *initial : hmlstm_ref::States::zeros(p.shape));
    ApiStates last(hmlstm_ref::States::zeros(p.shape));
    ApiOutput h(p);
    ApiChunkStates saving(saved ? p.shape : Shape{}, saved ? o.chunk_size : 1);
    o.device = device_options();
    if (!chunkwise_on_tensor_cores()) o.cuda_products = hmlstm::CudaProducts::simt;
    Result r;
    r.error = hmlstm::mlstm_chunkwise_fw(api_shape(p.shape), in.qkv, in.gates, h.mirror.api(),
                                         initial ? init.initial() : hmlstm::InitialStates{}, last.out(), o,
                                         saved ? saving.api() : hmlstm::ChunkStates{});
    r.h = h.back(p.dtype);
    r.last = last.back();
    if (saved) *saved = saving.back();
    return r;
}

namespace {
// A backward's outputs, poisoned with NaN so that an unwritten element shows; with `states`, the initial states'.
struct ApiGradients {
    DType dtype;
    std::vector<uint8_t> dq, dk, dv, di, df, dc0, dn0, dm0;
    Mirror dq_m, dk_m, dv_m, di_m, df_m, dc0_m, dn0_m, dm0_m;
    bool states;
    static std::vector<uint8_t> poisoned(int64_t n, DType dtype) {
        return encode(std::vector<double>(size_t(n), std::numeric_limits<double>::quiet_NaN()), dtype);
    }
    ApiGradients(const Problem &p, bool with_states)
        : dtype(p.dtype), dq(poisoned(p.shape.heads() * p.shape.S * p.shape.DHQK, p.dtype)), dk(dq),
          dv(poisoned(p.shape.heads() * p.shape.S * p.shape.DHV, p.dtype)),
          di(poisoned(p.shape.heads() * p.shape.S, DType::float32)), df(di),
          dc0(poisoned(p.shape.heads() * p.shape.DHQK * p.shape.DHV, DType::float32)),
          dn0(poisoned(p.shape.heads() * p.shape.DHQK, DType::float32)), dm0(poisoned(p.shape.heads(), DType::float32)),
          dq_m(dq), dk_m(dk), dv_m(dv), di_m(di), df_m(df), dc0_m(dc0), dn0_m(dn0), dm0_m(dm0), states(with_states) {}
    hmlstm::Gradients api() const {
        hmlstm::Gradients g{dq_m.api(), dk_m.api(), dv_m.api(), di_m.as<float>(), df_m.as<float>()};
        if (states) {
            g.dc_initial = dc0_m.as<float>();
            g.dn_initial = dn0_m.as<float>();
            g.dm_initial = dm0_m.as<float>();
        }
        return g;
    }
    void back(BackwardResult *r) {
        for (Mirror *m : {&dq_m, &dk_m, &dv_m, &di_m, &df_m, &dc0_m, &dn0_m, &dm0_m}) m->back();
        r->grads = {decode(dq, dtype), decode(dk, dtype), decode(dv, dtype), decode(di, DType::float32),
                    decode(df, DType::float32)};
        r->dc_initial = decode(dc0, DType::float32);
        r->dn_initial = decode(dn0, DType::float32);
        r->dm_initial = decode(dm0, DType::float32);
    }
};
}  // namespace

BackwardResult run_parallel_backward(const Problem &p, const std::vector<double> &dh, hmlstm::ParallelOptions o) {
    ApiInputs in(p);
    ApiMask mask(p, o.lower_triangular_matrix, o.device);
    std::vector<uint8_t> dh_host = encode(dh, p.dtype);
    Mirror dh_api(dh_host);
    ApiGradients g(p, false);
    BackwardResult r;
    r.error = hmlstm::parallel_stabilized_simple_bw(api_shape(p.shape), in.qkv, in.gates, dh_api.api(), g.api(), o);
    g.back(&r);
    return r;
}

BackwardResult run_chunkwise_backward(const Problem &p, const hmlstm_ref::States *initial,
                                     const std::vector<double> &dh, const std::vector<double> *dc_last,
                                     hmlstm::ChunkwiseOptions o, Saving saving) {
    const Shape &s = p.shape;
    ApiInputs in(p);
    ApiStates init(initial ? *initial : hmlstm_ref::States::zeros(s));
    const hmlstm::InitialStates initial_api = initial ? init.initial() : hmlstm::InitialStates{};
    o.device = device_options();
    if (!chunkwise_on_tensor_cores()) o.cuda_products = hmlstm::CudaProducts::simt;
    BackwardResult r;
    o.recompute_states_in_bw = saving != Saving::everything;
    ApiChunkStates kept(s, o.chunk_size);
    hmlstm::ChunkStates saved = kept.api();
    if (saving == Saving::token_stats) saved.c = saved.n = saved.m = nullptr;
    if (saving == Saving::nothing) {
        saved = {};
    } else {  // the forward runs first and keeps them
        ApiOutput h(p);
        r.error = hmlstm::mlstm_chunkwise_fw(api_shape(s), in.qkv, in.gates, h.mirror.api(), initial_api, {}, o,
                                             saved);
        if (!r.error.ok()) return r;
    }
    std::vector<uint8_t> dh_host = encode(dh, p.dtype);
    std::vector<float> dc_last_host = dc_last ? to_float(*dc_last) : std::vector<float>();
    Mirror dh_api(dh_host), dc_last_api(dc_last_host);
    ApiGradients g(p, true);
    r.error = hmlstm::mlstm_chunkwise_bw(api_shape(s), in.qkv, in.gates, dh_api.api(), g.api(), initial_api,
                                         dc_last ? dc_last_api.as<float>() : nullptr, o, saved);
    g.back(&r);
    return r;
}

BackwardResult run_sequence_backward(const Problem &p, const hmlstm_ref::States *initial,
                                     const std::vector<double> &dh, const std::vector<double> *dc_last) {
    ApiInputs in(p);
    ApiStates init(initial ? *initial : hmlstm_ref::States::zeros(p.shape));
    std::vector<uint8_t> dh_host = encode(dh, p.dtype);
    std::vector<float> dc_last_host = dc_last ? to_float(*dc_last) : std::vector<float>();
    Mirror dh_api(dh_host), dc_last_api(dc_last_host);
    hmlstm::RecurrentOptions o;
    o.device = device_options();
    ApiGradients g(p, true);
    BackwardResult r;
    r.error = hmlstm::recurrent_sequence_bw(api_shape(p.shape), in.qkv, in.gates, dh_api.api(), g.api(),
                                            initial ? init.initial() : hmlstm::InitialStates{},
                                            dc_last ? dc_last_api.as<float>() : nullptr, o);
    g.back(&r);
    return r;
}

Result run_sequence(const Problem &p, const hmlstm_ref::States *initial, bool return_last_states) {
    ApiInputs in(p);
    ApiStates init(initial ? *initial : hmlstm_ref::States::zeros(p.shape));
    ApiStates last(hmlstm_ref::States::zeros(p.shape));
    ApiOutput h(p);
    hmlstm::RecurrentOptions o;
    o.return_last_states = return_last_states;
    o.device = device_options();
    Result r;
    r.error = hmlstm::recurrent_sequence_fw(api_shape(p.shape), in.qkv, in.gates, h.mirror.api(),
                                            initial ? init.initial() : hmlstm::InitialStates{}, last.out(), o);
    r.h = h.back(p.dtype);
    r.last = last.back();
    return r;
}

Result run_parallel(const Problem &p, hmlstm::ParallelOptions o) {
    ApiInputs in(p);
    ApiOutput h(p);
    ApiMask mask(p, o.lower_triangular_matrix, o.device);
    Result r;
    r.error = hmlstm::parallel_stabilized_simple(api_shape(p.shape), in.qkv, in.gates, h.mirror.api(), o);
    r.h = h.back(p.dtype);
    return r;
}

Result run_attention(const Problem &p, hmlstm::AttentionOptions o) {
    ApiInputs in(p);
    ApiOutput h(p);
    ApiMask mask(p, o.attention_mask, o.device);
    Result r;
    r.error = hmlstm::attention(api_shape(p.shape), in.qkv, h.mirror.api(), o);
    r.h = h.back(p.dtype);
    return r;
}

std::string describe(const Shape &s) {
    return "shape (" + std::to_string(s.B) + "," + std::to_string(s.NH) + "," + std::to_string(s.S) + "," +
           std::to_string(s.DHQK) + "," + std::to_string(s.DHV) + ")";
}

std::vector<Shape> standard_shapes() {
    return {{1, 2, 256, 64, 128}, {2, 3, 100, 48, 96}, {1, 1, 1, 16, 32}, {1, 2, 1000, 24, 48}, {1, 1, 4096, 256, 512}};
}

}  // namespace test
