// Every bad argument gives a clear error naming it, and no output is written.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "test_support.h"

using namespace test;
using hmlstm::Status;

namespace {

const float kSentinel = 12345.0f;

// Small valid inputs plus outputs filled with a sentinel.
struct Fixture {
    hmlstm::Shape shape{1, 2, 20, 16, 24};
    std::vector<float> q, k, v, i, f, h, c, n, m, c_out, n_out, m_out;
    Fixture() {
        const int64_t bh = shape.B * shape.NH;
        q.assign(bh * shape.S * shape.DHQK, 0.5f);
        k = q;
        v.assign(bh * shape.S * shape.DHV, 0.25f);
        i.assign(bh * shape.S, 0.1f);
        f = i;
        h.assign(bh * shape.S * shape.DHV, kSentinel);
        c.assign(bh * shape.DHQK * shape.DHV, 0.0f);
        n.assign(bh * shape.DHQK, 0.0f);
        m.assign(bh, 0.0f);
        c_out.assign(c.size(), kSentinel);
        n_out.assign(n.size(), kSentinel);
        m_out.assign(m.size(), kSentinel);
    }
    hmlstm::QKV qkv() const { return {q.data(), k.data(), v.data(), DType::float32}; }
    hmlstm::Gates gates() const { return {i.data(), f.data()}; }
    hmlstm::StatesOut last() { return {c_out.data(), n_out.data(), m_out.data()}; }
    bool untouched() const {
        auto all = [](const std::vector<float> &x) {
            for (float e : x)
                if (e != kSentinel) return false;
            return true;
        };
        return all(h) && all(c_out) && all(n_out) && all(m_out);
    }
};

// Calls every form with the fixture, as modified by `edit`, and checks the error and the untouched outputs.
template <typename Edit>
void expect_error_everywhere(Status status, const std::string &names, Edit edit) {
    for (int form = 0; form < 3; form++) {
        Fixture fx;
        hmlstm::QKV qkv = fx.qkv();
        hmlstm::Gates gates = fx.gates();
        void *h = fx.h.data();
        hmlstm::ChunkwiseOptions co;
        co.return_last_states = true;
        edit(fx, qkv, gates, h, co);
        hmlstm::Error e;
        if (form == 0) e = hmlstm::mlstm_chunkwise_fw(fx.shape, qkv, gates, h, {}, fx.last(), co);
        if (form == 1) {
            hmlstm::RecurrentOptions ro;
            ro.eps = co.eps;
            ro.return_last_states = true;
            e = hmlstm::recurrent_sequence_fw(fx.shape, qkv, gates, h, {}, fx.last(), ro);
        }
        if (form == 2) {
            hmlstm::ParallelOptions po;
            po.eps = co.eps;
            e = hmlstm::parallel_stabilized_simple(fx.shape, qkv, gates, h, po);
        }
        INFO("form " << form << ": " << e.message);
        CHECK(e.status == status);
        CHECK(e.message.find(names) != std::string::npos);
        CHECK(fx.untouched());
    }
}

}  // namespace

TEST_CASE("null pointers are named", "[bad_input][cpu]") {
    expect_error_everywhere(Status::null_pointer, "q is null", [](auto &, auto &qkv, auto &, auto &, auto &) { qkv.q = nullptr; });
    expect_error_everywhere(Status::null_pointer, "k is null", [](auto &, auto &qkv, auto &, auto &, auto &) { qkv.k = nullptr; });
    expect_error_everywhere(Status::null_pointer, "v is null", [](auto &, auto &qkv, auto &, auto &, auto &) { qkv.v = nullptr; });
    expect_error_everywhere(Status::null_pointer, "i is null", [](auto &, auto &, auto &g, auto &, auto &) { g.i = nullptr; });
    expect_error_everywhere(Status::null_pointer, "f is null", [](auto &, auto &, auto &g, auto &, auto &) { g.f = nullptr; });
    expect_error_everywhere(Status::null_pointer, "h is null", [](auto &, auto &, auto &, auto &h, auto &) { h = nullptr; });
}

TEST_CASE("bad shapes are named", "[bad_input][cpu]") {
    expect_error_everywhere(Status::invalid_shape, "shape.B = 0", [](auto &fx, auto &, auto &, auto &, auto &) { fx.shape.B = 0; });
    expect_error_everywhere(Status::invalid_shape, "shape.NH = -3", [](auto &fx, auto &, auto &, auto &, auto &) { fx.shape.NH = -3; });
    expect_error_everywhere(Status::invalid_shape, "shape.S = 0", [](auto &fx, auto &, auto &, auto &, auto &) { fx.shape.S = 0; });
    expect_error_everywhere(Status::invalid_shape, "shape.DHV = -1", [](auto &fx, auto &, auto &, auto &, auto &) { fx.shape.DHV = -1; });
    expect_error_everywhere(Status::invalid_shape, "overflows", [](auto &fx, auto &, auto &, auto &, auto &) {
        fx.shape.B = int64_t(1) << 40;
        fx.shape.NH = int64_t(1) << 20;
    });
    expect_error_everywhere(Status::unsupported, "DHQK = 5000", [](auto &fx, auto &, auto &, auto &, auto &) { fx.shape.DHQK = 5000; });
    // Fits 64 bits but one slice exceeds what a Halide buffer can index.
    expect_error_everywhere(Status::invalid_shape, "2 GiB", [](auto &fx, auto &, auto &, auto &, auto &) {
        fx.shape.S = int64_t(1) << 30;
    });
}

TEST_CASE("bad options and dtypes are named", "[bad_input][cpu]") {
    expect_error_everywhere(Status::invalid_argument, "eps", [](auto &, auto &, auto &, auto &, auto &o) { o.eps = -1.0f; });
    expect_error_everywhere(Status::invalid_argument, "dtype 7",
                            [](auto &, auto &qkv, auto &, auto &, auto &) { qkv.dtype = static_cast<DType>(7); });

    Fixture fx;
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = 48;
    hmlstm::Error e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o);
    CHECK(e.status == Status::unsupported);
    CHECK(e.message.find("chunk_size = 48 is not compiled") != std::string::npos);
    o.chunk_size = 64;
    o.schedule = "no_such_schedule";
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o);
    CHECK(e.status == Status::unsupported);
    CHECK(e.message.find("schedule \"no_such_schedule\" is not compiled for this device (compiled: default") !=
          std::string::npos);
    hmlstm::ChunkwiseVariant variant;
    CHECK(hmlstm::chunkwise_variant(fx.shape, DType::float32, o, &variant).status == Status::unsupported);
    o.schedule.clear();
    CHECK(hmlstm::chunkwise_variant(fx.shape, DType::float32, o, nullptr).status == Status::null_pointer);
    o.norm_val = std::numeric_limits<float>::quiet_NaN();
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o);
    CHECK(e.status == Status::invalid_argument);
    o.norm_val = 1.0f;
    o.return_last_states = true;
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {nullptr, fx.n_out.data(), fx.m_out.data()}, o);
    CHECK(e.status == Status::null_pointer);
    CHECK(e.message.find("last.c") != std::string::npos);
    CHECK(fx.untouched());
    // Saving: all five pointers or the per-token pair, at an explicit chunk size.
    o.return_last_states = false;
    std::vector<float> token_values(fx.h.size());  // more than the (B, NH, S) each needs
    hmlstm::ChunkStates part{fx.c_out.data(), nullptr, nullptr, token_values.data(), token_values.data()};
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o, part);
    CHECK(e.status == Status::null_pointer);
    CHECK(e.message.find("save_states.n") != std::string::npos);
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o,
                                   {nullptr, nullptr, nullptr, token_values.data()});
    CHECK(e.status == Status::null_pointer);
    CHECK(e.message.find("save_states.stabilizer") != std::string::npos);
    o.chunk_size = 0;
    e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {}, {}, o,
                                   {nullptr, nullptr, nullptr, token_values.data(), token_values.data()});
    CHECK(e.status == Status::invalid_argument);
    CHECK(e.message.find("explicit chunk_size") != std::string::npos);
    CHECK(fx.untouched());
}

TEST_CASE("non-finite data follow the documented rule", "[bad_input][cpu]") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    expect_error_everywhere(Status::non_finite_input, "q holds NaN or infinity at flat index 17",
                            [&](auto &fx, auto &, auto &, auto &, auto &) { fx.q[17] = nan; });
    expect_error_everywhere(Status::non_finite_input, "v holds NaN or infinity",
                            [&](auto &fx, auto &, auto &, auto &, auto &) { fx.v[3] = -inf; });
    expect_error_everywhere(Status::non_finite_input, "f holds NaN",
                            [&](auto &fx, auto &, auto &, auto &, auto &) { fx.f[0] = nan; });

    // Infinite gates are meaningful: a closed input gate, an open forget gate.
    Fixture fx;
    fx.i[4] = -inf;
    fx.f[5] = inf;
    hmlstm::Error e = hmlstm::mlstm_chunkwise_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data());
    REQUIRE(e.ok());
    for (float x : fx.h) CHECK(std::isfinite(x));

    // bfloat16 data are scanned too.
    std::vector<uint8_t> qb = encode(std::vector<double>(fx.q.size(), 1.0), DType::bfloat16);
    std::vector<uint8_t> kb = qb, vb = encode(std::vector<double>(fx.v.size(), 1.0), DType::bfloat16);
    const uint16_t bf16_nan = 0x7fc0;
    std::memcpy(&kb[2 * 9], &bf16_nan, 2);
    Fixture fb;
    e = hmlstm::mlstm_chunkwise_fw(fb.shape, {qb.data(), kb.data(), vb.data(), DType::bfloat16}, fb.gates(), fb.h.data());
    CHECK(e.status == Status::non_finite_input);
    CHECK(e.message.find("k holds NaN or infinity at flat index 9") != std::string::npos);
    CHECK(fb.untouched());

    // Large tensors are scanned in parallel blocks: the first bad index is reported whichever block finds one first.
    const hmlstm::Shape large{1, 2, 1024, 128, 128};
    std::vector<float> q(size_t(2 * 1024 * 128), 0.5f), h(q.size(), 7.0f), gate(size_t(2 * 1024), 0.0f);
    q[200000] = nan;
    q[131075] = -inf;
    q[131077] = nan;
    e = hmlstm::mlstm_chunkwise_fw(large, {q.data(), q.data(), q.data()}, {gate.data(), gate.data()}, h.data());
    CHECK(e.status == Status::non_finite_input);
    CHECK(e.message.find("q holds NaN or infinity at flat index 131075") != std::string::npos);
    CHECK(std::all_of(h.begin(), h.end(), [](float x) { return x == 7.0f; }));
}

TEST_CASE("recurrent step: S must be 1 and every state pointer is required", "[bad_input][cpu]") {
    Fixture fx;
    fx.shape.S = 1;
    hmlstm::InitialStates state{fx.c.data(), fx.n.data(), fx.m.data()};
    hmlstm::Shape two = fx.shape;
    two.S = 2;
    hmlstm::Error e = hmlstm::recurrent_step_fw(two, fx.qkv(), fx.gates(), fx.h.data(), state, fx.last());
    CHECK(e.status == Status::invalid_shape);
    CHECK(e.message.find("shape.S = 2 must be 1") != std::string::npos);
    e = hmlstm::recurrent_step_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), {fx.c.data(), nullptr, fx.m.data()},
                                  fx.last());
    CHECK(e.status == Status::null_pointer);
    CHECK(e.message.find("state.n") != std::string::npos);
    e = hmlstm::recurrent_step_fw(fx.shape, fx.qkv(), fx.gates(), fx.h.data(), state,
                                  {fx.c_out.data(), fx.n_out.data(), nullptr});
    CHECK(e.status == Status::null_pointer);
    CHECK(e.message.find("new_state.m") != std::string::npos);
    CHECK(fx.untouched());
}

TEST_CASE("set_num_threads rejects nonsense and keeps results", "[bad_input][cpu]") {
    CHECK(hmlstm::set_num_threads(0).status == Status::invalid_argument);
    REQUIRE(hmlstm::set_num_threads(1).ok());
    CHECK(hmlstm::num_threads() == 1);
    Fixture one;
    REQUIRE(hmlstm::mlstm_chunkwise_fw(one.shape, one.qkv(), one.gates(), one.h.data()).ok());
    REQUIRE(hmlstm::set_num_threads(2).ok());
    Fixture two;
    REQUIRE(hmlstm::mlstm_chunkwise_fw(two.shape, two.qkv(), two.gates(), two.h.data()).ok());
    CHECK(one.h == two.h);
}
