// The backward kernels (chunkwise, parallel, recurrent) against the float64 reference backward (spec: "Backward"; tests of the reference
// itself: test_reference_backward.cpp). Every gradient is judged by its relative error per (batch, head) slice:
// float32 below 1e-4, bfloat16 inputs below 1e-2.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "test_support.h"

using namespace test;

namespace {

double gradient_bound(DType dtype) { return dtype == DType::float32 ? 1e-4 : 1e-2; }

// On CUDA with tensor cores the chunkwise backward's products (and the forward's) run in TF32 or bfloat16: the
// spec's 16-bit bound applies, as to the forward.
double chunkwise_gradient_bound(DType dtype) {
    return on_cuda() && chunkwise_on_tensor_cores() ? 1e-2 : gradient_bound(dtype);
}

// dh drawn from N(0, 1), as the kernel sees it (rounded to the dtype), and 0 on the tokens whose forward is
// ill-conditioned (`worst`: the largest kappa of each token over the forms and chunk sizes the test runs). A token's
// normalizer is a sum whose float32 value errs by up to kappa 2^-24 relative (docs/precision.md); the gradients
// scale with 1/den, so a token with kappa above kWellConditioned would carry that error into dq, dk and dv beyond
// the gradient bound whatever the kernel does. Their outputs are judged by their conditioning in the forward tests;
// here the gradient flows from the well-conditioned ones (all but a few percent).
std::vector<double> random_dh(const Problem &p, const std::vector<double> &worst, std::mt19937_64 &rng) {
    const Shape &s = p.shape;
    std::normal_distribution<double> normal(0, 1);
    std::vector<double> dh(size_t(s.heads() * s.S * s.DHV));
    for (size_t e = 0; e < dh.size(); e++) dh[e] = worst[e / s.DHV] <= kWellConditioned ? normal(rng) : 0.0;
    return decode(encode(dh, p.dtype), p.dtype);
}

std::vector<double> chunkwise_kappa(const Problem &p, const hmlstm_ref::States *initial, std::vector<int64_t> chunks) {
    std::vector<double> worst(size_t(p.shape.heads() * p.shape.S), 0.0), kappa;
    for (int64_t chunk : chunks) {
        hmlstm_ref::chunkwise(p.shape, p.in, initial, nullptr, {chunk}, &kappa);
        for (size_t t = 0; t < worst.size(); t++) worst[t] = std::max(worst[t], kappa[t]);
    }
    return worst;
}

std::vector<double> random_dc(const Shape &s, std::mt19937_64 &rng) {
    std::normal_distribution<double> normal(0, 1);
    std::vector<double> dc(size_t(s.heads() * s.DHQK * s.DHV));
    for (double &e : dc) e = normal(rng);
    return to_double(to_float(dc));
}

struct Expected {
    hmlstm_ref::Gradients grads;
    std::vector<double> dc_initial, dm_initial;
};

Expected reference(const Problem &p, const hmlstm_ref::States *initial, const std::vector<double> &dh,
                   const std::vector<double> *dc_last, int64_t chunk) {
    Expected e;
    e.grads = hmlstm_ref::chunkwise_backward(p.shape, p.in, initial, dh, {chunk}, &e.dc_initial, dc_last,
                                             &e.dm_initial);
    return e;
}

// Some gradients are single sums of products: di_t = k_t . dk_t in every form (the gate gradients' identity),
// dm_initial = <dC_initial, C_initial>, and in the recurrent form df_t = sigmoid(-f_t) decay_t <G_{t+1}, C_t> (the
// reference gives its |terms|). A float32 sum errs by up to about sqrt(n) 2^-24 sum |terms| whatever its
// order; where such gradients cancel that far (a slice of one token is a single sum; dm_initial sums a whole state),
// the slice is judged against the size of its terms too, as the forward's ill-conditioned tokens are
// (docs/precision.md): its error may exceed the bound by 4 ||(sum error scale) of the slice||, the scale of one
// sum being sqrt(n) 2^-24 sum |terms|. On the tensor-core path with bfloat16 inputs, the products' operands that are
// not inputs (qbar / den, which forms G) are rounded to bfloat16, 2^-9 relative per term: independent roundings move
// such a sum by about 2^-9 sqrt(sum terms^2), which is added to its scale.
std::vector<double> sum_error_scale(const std::vector<double> &a, const std::vector<double> &b, int64_t n,
                                    bool bfloat16_operands) {
    std::vector<double> abs(a.size() / size_t(n), 0.0), squares(abs.size(), 0.0);
    for (size_t e = 0; e < a.size(); e++) {
        abs[e / size_t(n)] += std::abs(a[e] * b[e]);
        squares[e / size_t(n)] += a[e] * b[e] * a[e] * b[e];
    }
    for (size_t e = 0; e < abs.size(); e++) {
        abs[e] = std::sqrt(double(n)) * 0x1p-24 * abs[e] + (bfloat16_operands ? 0x1p-9 * std::sqrt(squares[e]) : 0.0);
    }
    return abs;
}

bool within_sum_error(const std::vector<double> &out, const std::vector<double> &ref,
                      const std::vector<double> &error_scale, int64_t slice, double bound) {
    for (size_t begin = 0; begin < ref.size(); begin += size_t(slice)) {
        double err = 0, size = 0, scale = 0;
        for (size_t e = begin; e < begin + size_t(slice); e++) {
            err += (out[e] - ref[e]) * (out[e] - ref[e]);
            size += ref[e] * ref[e];
            scale += error_scale[e] * error_scale[e];
        }
        if (std::sqrt(err) > bound * std::sqrt(size) + 4 * std::sqrt(scale)) return false;
    }
    return true;
}

// x rounded to TF32 (10 explicit mantissa bits, to nearest even), as tensor cores take float32 operands.
double tf32(double x) {
    float f = float(x);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    std::memcpy(&f, &u, 4);
    return f;
}

std::vector<double> tf32(std::vector<double> x) {
    for (double &e : x) e = tf32(e);
    return x;
}

// On the tensor-core path with float32 inputs the products round q, k, v, dh and the states to TF32 (2^-11), an
// error the bfloat16 inputs do not carry (they are exact in their type). Where a gradient sums terms that cancel
// (di and df from the intra-chunk terms, dq from its two products, dc_initial over a chunk's tokens), that rounding
// alone moves the exact answer by up to about 1e-2 per slice. This is the reference again on those inputs rounded
// to TF32: a slice past the bound passes when its error is within bound + 4 times how far that moves it
// (within_rounding), as the forward's slices are judged by how far float32 gate arithmetic moves them
// (docs/precision.md). Null where nothing is rounded so (CPU, SIMT, bfloat16 inputs).
std::unique_ptr<Expected> tf32_reference(const Problem &p, const hmlstm_ref::States *initial,
                                         const std::vector<double> &dh, const std::vector<double> *dc_last,
                                         int64_t chunk) {
    if (!(on_cuda() && chunkwise_on_tensor_cores() && p.dtype == DType::float32)) return nullptr;
    Problem rounded = p;
    rounded.in.q = tf32(p.in.q), rounded.in.k = tf32(p.in.k), rounded.in.v = tf32(p.in.v);
    hmlstm_ref::States init;
    if (initial) init = {tf32(initial->c), initial->n, initial->m};
    const std::vector<double> dc = dc_last ? tf32(*dc_last) : std::vector<double>{};
    auto e = std::make_unique<Expected>();
    e->grads = hmlstm_ref::chunkwise_backward(p.shape, rounded.in, initial ? &init : nullptr, tf32(dh), {chunk},
                                              &e->dc_initial, dc_last ? &dc : nullptr, &e->dm_initial);
    return e;
}

bool within_rounding(const std::vector<double> &out, const std::vector<double> &ref,
                     const std::vector<double> &rounded, int64_t slice, double bound) {
    for (size_t begin = 0; begin < ref.size(); begin += size_t(slice)) {
        double err = 0, size = 0, moved = 0;
        for (size_t e = begin; e < begin + size_t(slice); e++) {
            err += (out[e] - ref[e]) * (out[e] - ref[e]);
            size += ref[e] * ref[e];
            moved += (rounded[e] - ref[e]) * (rounded[e] - ref[e]);
        }
        if (std::sqrt(err) > bound * std::sqrt(size) + 4 * std::sqrt(moved)) return false;
    }
    return true;
}

// HMLSTM_TEST_REPORT set: each gradient's worst relative error per dtype over the run's backward cases, printed at
// exit, for recording the margins under the bounds in docs/.
struct WorstErrors {
    std::map<std::string, double> worst;
    ~WorstErrors() {
        if (!std::getenv("HMLSTM_TEST_REPORT")) return;
        for (const auto &[name, value] : worst) std::printf("worst relative error, %s: %.3g\n", name.c_str(), value);
    }
};

void note_error(const Problem &p, const std::string &gradient, double error) {
    static WorstErrors errors;
    double &w = errors.worst[(p.dtype == DType::bfloat16 ? "bfloat16 " : "float32 ") + gradient];
    w = std::max(w, error);
}

// Every gradient of `r` against `e` (and, where given, the reference on TF32-rounded inputs, tf32_reference).
void check_gradients(const BackwardResult &r, const Expected &e, const Problem &p, double bound,
                     const hmlstm_ref::States *initial, bool states = true, const Expected *rounded = nullptr,
                     bool chunkwise = false) {
    const Shape &s = p.shape;
    const bool bf16_operands = chunkwise && on_cuda() && chunkwise_on_tensor_cores() && p.dtype == DType::bfloat16;
    const bool initial_states = initial != nullptr;
    const Expected &x = rounded ? *rounded : e;
    const struct {
        const char *name;
        const std::vector<double> &out, &ref, &rounded;
        int64_t slice;
    } all[] = {{"dq", r.grads.dq, e.grads.dq, x.grads.dq, s.S * s.DHQK},
               {"dk", r.grads.dk, e.grads.dk, x.grads.dk, s.S * s.DHQK},
               {"dv", r.grads.dv, e.grads.dv, x.grads.dv, s.S * s.DHV},
               {"di", r.grads.di, e.grads.di, x.grads.di, s.S},
               {"df", r.grads.df, e.grads.df, x.grads.df, s.S},
               {"dc_initial", r.dc_initial, e.dc_initial, x.dc_initial, s.DHQK * s.DHV},
               {"dm_initial", r.dm_initial, e.dm_initial, x.dm_initial, s.heads()}};
    for (const auto &g : all) {
        const std::string name(g.name);
        if (!states && (name == "dc_initial" || name == "dm_initial")) continue;  // a form without states
        if (!initial_states && name == "dm_initial") continue;  // C_0 = 0: dm_initial is exactly 0
        const Comparison c = compare(g.out, g.ref, g.slice);
        note_error(p, name, c.worst);
        INFO(g.name << ": " << c.describe());
        CHECK(c.finite);
        if (rounded && c.worst > bound) {
            INFO("moved by TF32 inputs: " << compare(g.rounded, g.ref, g.slice).describe());
            CHECK(within_rounding(g.out, g.ref, g.rounded, g.slice, bound));
        } else if (name == "di" && c.worst > bound) {
            CHECK(within_sum_error(g.out, g.ref, sum_error_scale(p.in.k, e.grads.dk, s.DHQK, bf16_operands), g.slice,
                                   bound));
        } else if (name == "df" && !e.grads.df_terms.empty() && c.worst > bound) {
            std::vector<double> scale = e.grads.df_terms;
            for (double &x : scale) x *= std::sqrt(double(s.DHQK * s.DHV)) * 0x1p-24;
            CHECK(within_sum_error(g.out, g.ref, scale, g.slice, bound));
        } else if (name == "dm_initial" && c.worst > bound) {
            const int64_t n = s.DHQK * s.DHV;
            CHECK(within_sum_error(g.out, g.ref, sum_error_scale(initial->c, e.dc_initial, n, bf16_operands), g.slice,
                                   bound));
        } else {
            CHECK(c.worst <= bound);
        }
    }
    if (!states) return;
    for (double x : r.dn_initial) REQUIRE(x == 0.0);
}

hmlstm::ChunkwiseOptions options(int64_t chunk) {
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = chunk;
    return o;
}

}  // namespace

TEST_CASE("chunkwise backward matches the reference on every shape and dtype", "[backward]") {
    std::mt19937_64 rng(test_seed() + 80);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, Gates::typical, rng);
            const std::vector<double> dh = random_dh(p, chunkwise_kappa(p, nullptr, {64}), rng);
            const Expected e = reference(p, nullptr, dh, nullptr, 64);
            const BackwardResult r = run_chunkwise_backward(p, nullptr, dh, nullptr, options(64), Saving::nothing);
            INFO(describe(s) << " dtype " << int(dtype) << ": " << r.error.message);
            REQUIRE(r.error.ok());
            const auto rounded = tf32_reference(p, nullptr, dh, nullptr, 64);
            check_gradients(r, e, p, chunkwise_gradient_bound(dtype), nullptr, true, rounded.get(), true);
        }
    }
}

TEST_CASE("chunkwise backward at every chunk size, with extreme gates, initial states, the last C's gradient and a "
          "partial last chunk, recomputing everything, the states only, or reading the saved states",
          "[backward]") {
    std::mt19937_64 rng(test_seed() + 81);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 333, 40, 72};  // 333 = 5 * 64 + 13: a partial chunk for every chunk size
    for (Gates gates : {Gates::typical, Gates::extreme, Gates::forget_closed}) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, gates, rng);
            hmlstm_ref::States init = random_states(s, rng);
            const std::vector<double> dh = random_dh(p, chunkwise_kappa(p, &init, {16, 32, 64, 128, 256}), rng);
            const std::vector<double> dc_last = random_dc(s, rng);
            for (int64_t chunk : {16, 32, 64, 128, 256}) {
                const Expected e = reference(p, &init, dh, &dc_last, chunk);
                const auto rounded = tf32_reference(p, &init, dh, &dc_last, chunk);
                for (Saving saving : {Saving::nothing, Saving::token_stats, Saving::everything}) {
                    const BackwardResult r = run_chunkwise_backward(p, &init, dh, &dc_last, options(chunk), saving);
                    INFO("gates " << int(gates) << " dtype " << int(dtype) << " chunk " << chunk << " saving "
                                  << int(saving) << ": " << r.error.message);
                    REQUIRE(r.error.ok());
                    check_gradients(r, e, p, chunkwise_gradient_bound(dtype), &init, true, rounded.get(), true);
                }
            }
        }
    }
}

TEST_CASE("chunkwise backward of a sequence split in two, chained by the state gradients, equals one run",
          "[backward]") {
    std::mt19937_64 rng(test_seed() + 82);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const int64_t chunk = 32;
    const Shape whole{1, 3, 160, 24, 40}, first{1, 3, 96, 24, 40}, second{1, 3, 64, 24, 40};  // split at a chunk edge
    Problem p = random_problem(whole, DType::float32, Gates::typical, rng);
    hmlstm_ref::States init = random_states(whole, rng);
    const std::vector<double> dh = random_dh(p, chunkwise_kappa(p, &init, {chunk}), rng);
    const Expected e = reference(p, &init, dh, nullptr, chunk);

    // The pieces' inputs, and the state between them from the first piece's forward.
    auto piece = [&](const Shape &s, int64_t from) {
        Problem q{s, p.dtype, {}};
        for (int64_t bh = 0; bh < whole.heads(); bh++) {
            auto take = [&](const std::vector<double> &x, std::vector<double> &to, int64_t width) {
                to.insert(to.end(), x.begin() + (bh * whole.S + from) * width,
                          x.begin() + (bh * whole.S + from + s.S) * width);
            };
            take(p.in.q, q.in.q, whole.DHQK), take(p.in.k, q.in.k, whole.DHQK), take(p.in.v, q.in.v, whole.DHV);
            take(p.in.i, q.in.i, 1), take(p.in.f, q.in.f, 1);
        }
        return q;
    };
    auto rows = [&](const std::vector<double> &x, const Shape &s, int64_t from, int64_t width) {
        std::vector<double> out;
        for (int64_t bh = 0; bh < whole.heads(); bh++) {
            out.insert(out.end(), x.begin() + (bh * whole.S + from) * width,
                       x.begin() + (bh * whole.S + from + s.S) * width);
        }
        return out;
    };
    const Problem p1 = piece(first, 0), p2 = piece(second, first.S);
    hmlstm_ref::States middle;
    hmlstm_ref::chunkwise(first, p1.in, &init, &middle, {chunk});
    const BackwardResult r2 = run_chunkwise_backward(p2, &middle, rows(dh, second, first.S, whole.DHV), nullptr,
                                                     options(chunk), Saving::token_stats);
    INFO(r2.error.message);
    REQUIRE(r2.error.ok());
    const BackwardResult r1 =
        run_chunkwise_backward(p1, &init, rows(dh, first, 0, whole.DHV), &r2.dc_initial, options(chunk),
                               Saving::everything);
    INFO(r1.error.message);
    REQUIRE(r1.error.ok());
    // The second piece's gradient of the state it started from is the first's of its last one; its dm_initial is
    // <dC, C> of that state, which the whole run does not return.
    const Expected e1{{rows(e.grads.dq, first, 0, whole.DHQK), rows(e.grads.dk, first, 0, whole.DHQK),
                       rows(e.grads.dv, first, 0, whole.DHV), rows(e.grads.di, first, 0, 1),
                       rows(e.grads.df, first, 0, 1)},
                      e.dc_initial, e.dm_initial};
    const Expected e2{{rows(e.grads.dq, second, first.S, whole.DHQK), rows(e.grads.dk, second, first.S, whole.DHQK),
                       rows(e.grads.dv, second, first.S, whole.DHV), rows(e.grads.di, second, first.S, 1),
                       rows(e.grads.df, second, first.S, 1)},
                      r2.dc_initial, r2.dm_initial};
    check_gradients(r1, e1, p1, chunkwise_gradient_bound(DType::float32), &init, true, nullptr, true);
    check_gradients(r2, e2, p2, chunkwise_gradient_bound(DType::float32), &middle, true, nullptr, true);
}

TEST_CASE("chunkwise backward rejects bad arguments and writes nothing", "[backward][cpu]") {
    std::mt19937_64 rng(test_seed() + 83);
    const Shape s{1, 2, 40, 16, 24};
    Problem p = random_problem(s, DType::float32, Gates::typical, rng);
    std::vector<float> q = to_float(p.in.q), k = to_float(p.in.k), v = to_float(p.in.v);
    std::vector<float> i = to_float(p.in.i), f = to_float(p.in.f), dh(size_t(s.heads() * s.S * s.DHV), 1.0f);
    std::vector<float> dq(q.size(), 7.0f), dk(k.size(), 7.0f), dv(v.size(), 7.0f), di(i.size(), 7.0f),
        df(f.size(), 7.0f);
    const hmlstm::QKV qkv{q.data(), k.data(), v.data(), hmlstm::DType::float32};
    const hmlstm::Gates gates{i.data(), f.data()};
    const hmlstm::Gradients grads{dq.data(), dk.data(), dv.data(), di.data(), df.data()};
    auto untouched = [&] {
        for (const std::vector<float> *g : {&dq, &dk, &dv, &di, &df}) {
            for (float x : *g) REQUIRE(x == 7.0f);
        }
    };
    const hmlstm::Shape shape = api_shape(s);
    auto expect = [&](const hmlstm::Error &e, hmlstm::Status status, const char *names) {
        INFO(e.message);
        CHECK(e.status == status);
        CHECK(e.message.find(names) != std::string::npos);
        untouched();
    };
    hmlstm::Gradients no_dk = grads;
    no_dk.dk = nullptr;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), no_dk), hmlstm::Status::null_pointer, "grads.dk");
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, nullptr, grads), hmlstm::Status::null_pointer, "dh");
    hmlstm::ChunkwiseOptions o;
    o.recompute_states_in_bw = false;
    o.chunk_size = 16;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o),
           hmlstm::Status::null_pointer, "saved.c");
    std::vector<float> sc(size_t(s.heads() * 4 * s.DHQK * s.DHV)), sn(size_t(s.heads() * 4 * s.DHQK)),
        sm(size_t(s.heads() * 4)), s_den(size_t(s.heads() * s.S)), s_m(size_t(s.heads() * s.S));
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {sc.data(), sn.data(), sm.data()}),
           hmlstm::Status::null_pointer, "saved.normalizer");
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {sc.data(), sn.data(), sm.data(), s_den.data()}),
           hmlstm::Status::null_pointer, "saved.stabilizer");
    o.chunk_size = 0;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {sc.data(), sn.data(), sm.data(), s_den.data(), s_m.data()}),
           hmlstm::Status::invalid_argument, "explicit chunk_size");
    // Recomputing the states: the per-token pair comes whole, at an explicit chunk size; alone it does not do for
    // reading the saved states.
    o.recompute_states_in_bw = true;
    o.chunk_size = 16;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {nullptr, nullptr, nullptr, s_den.data()}),
           hmlstm::Status::null_pointer, "saved.stabilizer");
    o.chunk_size = 0;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {nullptr, nullptr, nullptr, s_den.data(), s_m.data()}),
           hmlstm::Status::invalid_argument, "explicit chunk_size");
    o.recompute_states_in_bw = false;
    o.chunk_size = 16;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o,
                                      {nullptr, nullptr, nullptr, s_den.data(), s_m.data()}),
           hmlstm::Status::null_pointer, "saved.c");
    o = {};
    o.chunk_size = 48;
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads, {}, nullptr, o),
           hmlstm::Status::unsupported, "chunk_size = 48");
    dh[5] = std::nanf("");
    expect(hmlstm::mlstm_chunkwise_bw(shape, qkv, gates, dh.data(), grads), hmlstm::Status::non_finite_input, "dh");
}

TEST_CASE("parallel backward matches the reference on every shape and dtype", "[backward]") {
    std::mt19937_64 rng(test_seed() + 84);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            if (dtype == DType::bfloat16 && s.S > 1000) continue;  // the float64 reference takes long at S = 4096
            Problem p = random_problem(s, dtype, Gates::typical, rng);
            std::vector<double> kappa;
            hmlstm_ref::parallel(s, p.in, nullptr, true, 1e-6, &kappa);
            const std::vector<double> dh = random_dh(p, kappa, rng);
            const Expected e{hmlstm_ref::parallel_backward(s, p.in, dh), {}, {}};
            const BackwardResult r = run_parallel_backward(p, dh, {});
            INFO(describe(s) << " dtype " << int(dtype) << ": " << r.error.message);
            REQUIRE(r.error.ok());
            check_gradients(r, e, p, gradient_bound(dtype), nullptr, false);
        }
    }
}

TEST_CASE("parallel backward with extreme gates, a custom mask and the global stabilizer", "[backward]") {
    std::mt19937_64 rng(test_seed() + 85);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 150, 40, 72};
    std::vector<uint8_t> mask(size_t(s.S * s.S));
    std::bernoulli_distribution keep(0.7);
    for (uint8_t &m : mask) m = keep(rng) ? 1 : 0;
    for (Gates gates : {Gates::typical, Gates::extreme, Gates::forget_closed}) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            Problem p = random_problem(s, dtype, gates, rng);
            for (bool masked : {false, true}) {
                for (bool rowwise : {true, false}) {
                    const std::vector<uint8_t> *m = masked ? &mask : nullptr;
                    std::vector<double> kappa;
                    hmlstm_ref::parallel(s, p.in, m, rowwise, 1e-6, &kappa);
                    const std::vector<double> dh = random_dh(p, kappa, rng);
                    const Expected e{hmlstm_ref::parallel_backward(s, p.in, dh, 1e-6, m, rowwise), {}, {}};
                    hmlstm::ParallelOptions o;
                    o.stabilize_rowwise = rowwise;
                    o.lower_triangular_matrix = masked ? mask.data() : nullptr;
                    const BackwardResult r = run_parallel_backward(p, dh, o);
                    INFO("gates " << int(gates) << " dtype " << int(dtype) << " mask " << masked << " rowwise "
                                  << rowwise << ": " << r.error.message);
                    REQUIRE(r.error.ok());
                    check_gradients(r, e, p, gradient_bound(dtype), nullptr, false);
                }
            }
        }
    }
}

TEST_CASE("recurrent sequence backward matches the reference, with initial states and the last C's gradient",
          "[backward]") {
    std::mt19937_64 rng(test_seed() + 86);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    std::vector<Shape> shapes;
    for (const Shape &s : standard_shapes()) {
        if (s.S * s.DHQK * s.DHV < (int64_t(1) << 26)) shapes.push_back(s);  // the last one keeps 2 GiB of states
    }
    shapes.push_back({2, 2, 333, 40, 72});
    for (const Shape &s : shapes) {
        for (Gates gates : {Gates::typical, Gates::extreme, Gates::forget_closed}) {
            for (DType dtype : {DType::float32, DType::bfloat16}) {
                Problem p = random_problem(s, dtype, gates, rng);
                hmlstm_ref::States init = random_states(s, rng);
                std::vector<double> kappa;
                hmlstm_ref::recurrent_sequence(s, p.in, &init, nullptr, 1e-6, &kappa);
                const std::vector<double> dh = random_dh(p, kappa, rng), dc_last = random_dc(s, rng);
                Expected e;
                e.grads = hmlstm_ref::recurrent_backward(s, p.in, &init, dh, &e.dc_initial, 1e-6, &dc_last,
                                                         &e.dm_initial);
                const BackwardResult r = run_sequence_backward(p, &init, dh, &dc_last);
                INFO(describe(s) << " gates " << int(gates) << " dtype " << int(dtype) << ": " << r.error.message);
                REQUIRE(r.error.ok());
                check_gradients(r, e, p, gradient_bound(dtype), &init);
            }
        }
    }
}

TEST_CASE("recurrent sequence backward names the memory it would need beyond its limit", "[backward][cpu]") {
    const hmlstm::Shape shape{1, 1, 4096, 256, 512};
    std::vector<float> x(1);
    const hmlstm::QKV qkv{x.data(), x.data(), x.data(), hmlstm::DType::float32};
    const hmlstm::Gradients grads{x.data(), x.data(), x.data(), x.data(), x.data()};
    hmlstm::RecurrentOptions o;
    o.check_finite = false;
    const hmlstm::Error e =
        hmlstm::recurrent_sequence_bw(shape, qkv, {x.data(), x.data()}, x.data(), grads, {}, nullptr, o);
    INFO(e.message);
    CHECK(e.status == hmlstm::Status::invalid_shape);
    CHECK(e.message.find("chunkwise backward") != std::string::npos);
}

TEST_CASE("parallel and recurrent backward reject bad arguments and write nothing", "[backward][cpu]") {
    const hmlstm::Shape shape{1, 1, 8, 4, 4};
    std::vector<float> x(32, 1.0f), gates(8, 0.5f), dq(32, 7.0f), dk(32, 7.0f), dv(32, 7.0f), di(8, 7.0f), df(8, 7.0f),
        dc0(16, 7.0f);
    const hmlstm::QKV qkv{x.data(), x.data(), x.data(), hmlstm::DType::float32};
    hmlstm::Gradients grads{dq.data(), dk.data(), dv.data(), di.data(), df.data()};
    auto untouched = [&] {
        for (const std::vector<float> *g : {&dq, &dk, &dv, &di, &df, &dc0}) {
            for (float e : *g) REQUIRE(e == 7.0f);
        }
    };
    hmlstm::Gradients with_state = grads;
    with_state.dc_initial = dc0.data();
    hmlstm::Error e = hmlstm::parallel_stabilized_simple_bw(shape, qkv, {gates.data(), gates.data()}, x.data(), with_state);
    INFO(e.message);
    CHECK(e.status == hmlstm::Status::invalid_argument);
    CHECK(e.message.find("no states") != std::string::npos);
    untouched();
    e = hmlstm::recurrent_sequence_bw(shape, qkv, {gates.data(), gates.data()}, nullptr, grads);
    CHECK(e.status == hmlstm::Status::null_pointer);
    CHECK(e.message.find("dh") != std::string::npos);
    untouched();
    grads.df = nullptr;
    e = hmlstm::parallel_stabilized_simple_bw(shape, qkv, {gates.data(), gates.data()}, x.data(), grads);
    CHECK(e.status == hmlstm::Status::null_pointer);
    CHECK(e.message.find("grads.df") != std::string::npos);
    untouched();
}
