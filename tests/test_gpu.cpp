// What only a CUDA run can show: calls on two streams at once, caller memory reused across calls, and checks of
// device pointers. Hidden ([.]): the GPU run of CTest selects them with [gpu]. The CUDA error path without a
// driver runs everywhere else.
#include <catch2/catch.hpp>

#include <cstring>
#include <thread>

#include "test_support.h"

using namespace test;
using hmlstm::Status;

namespace {

// One chunkwise problem in device memory that the test owns, reusable across calls.
struct DeviceProblem {
    Shape s;
    size_t qk_bytes, v_bytes, gate_bytes;
    void *q, *k, *v, *i, *f, *h;
    explicit DeviceProblem(const Shape &shape)
        : s(shape), qk_bytes(size_t(s.heads() * s.S * s.DHQK) * 4), v_bytes(size_t(s.heads() * s.S * s.DHV) * 4),
          gate_bytes(size_t(s.heads() * s.S) * 4), q(device_alloc(qk_bytes)), k(device_alloc(qk_bytes)),
          v(device_alloc(v_bytes)), i(device_alloc(gate_bytes)), f(device_alloc(gate_bytes)), h(device_alloc(v_bytes)) {}
    ~DeviceProblem() {
        for (void *p : {q, k, v, i, f, h}) device_free(p);
    }
    void load(const Problem &p, void *stream) {
        std::vector<float> hq = to_float(p.in.q), hk = to_float(p.in.k), hv = to_float(p.in.v);
        std::vector<float> hi = to_float(p.in.i), hf = to_float(p.in.f);
        copy_to_device(q, hq.data(), qk_bytes, stream);
        copy_to_device(k, hk.data(), qk_bytes, stream);
        copy_to_device(v, hv.data(), v_bytes, stream);
        copy_to_device(i, hi.data(), gate_bytes, stream);
        copy_to_device(f, hf.data(), gate_bytes, stream);
    }
    hmlstm::Error run(void *stream, int64_t chunk) {
        hmlstm::ChunkwiseOptions o;
        o.chunk_size = chunk;
        if (!chunkwise_on_tensor_cores()) o.cuda_products = hmlstm::CudaProducts::simt;
        o.device = {hmlstm::Device::cuda, stream, nullptr};
        return hmlstm::mlstm_chunkwise_fw(api_shape(s), {q, k, v}, {static_cast<float *>(i), static_cast<float *>(f)},
                                          h, {}, {}, o);
    }
    std::vector<double> output(void *stream) {
        std::vector<float> out(v_bytes / 4);
        copy_to_host(out.data(), h, v_bytes, stream);
        return to_double(out);
    }
};

}  // namespace

TEST_CASE("calls on two streams at once agree with calls one at a time", "[gpu][.]") {
    std::mt19937_64 rng(test_seed() + 50);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 4, 700, 64, 96};
    const int kStreams = 2;
    std::vector<Problem> problems;
    std::vector<std::unique_ptr<DeviceProblem>> memory;
    std::vector<void *> streams;
    std::vector<std::vector<double>> alone;
    for (int t = 0; t < kStreams; t++) {
        problems.push_back(random_problem(s, DType::float32, Gates::typical, rng));
        streams.push_back(new_stream());
        memory.push_back(std::make_unique<DeviceProblem>(s));
        memory[t]->load(problems[t], streams[t]);
        REQUIRE(memory[t]->run(streams[t], 64).ok());
        alone.push_back(memory[t]->output(streams[t]));
        const OutputComparison c = compare_output(alone[t], chunkwise_oracle(problems[t], nullptr, {64}), s,
                                                  chunkwise_bound(DType::float32),
                                                  chunkwise_unit_roundoff(DType::float32));
        INFO("stream " << t << ": " << c.describe());
        CHECK(c.pass());
    }
    // Each thread queues several calls on its own stream without waiting in between.
    std::vector<hmlstm::Error> errors(kStreams);
    std::vector<std::thread> threads;
    for (int t = 0; t < kStreams; t++) {
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 5 && errors[t].ok(); rep++) errors[t] = memory[t]->run(streams[t], 64);
        });
    }
    for (std::thread &th : threads) th.join();
    for (int t = 0; t < kStreams; t++) {
        CHECK(errors[t].ok());
        CHECK(memory[t]->output(streams[t]) == alone[t]);
    }
}

TEST_CASE("caller memory reused across calls with new data each time", "[gpu][.]") {
    std::mt19937_64 rng(test_seed() + 51);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{1, 3, 333, 32, 48};
    DeviceProblem memory(s);
    void *stream = new_stream();
    for (int64_t chunk : {16, 64, 256, 32}) {
        Problem p = random_problem(s, DType::float32, Gates::typical, rng);
        memory.load(p, stream);
        REQUIRE(memory.run(stream, chunk).ok());
        const OutputComparison c = compare_output(memory.output(stream), chunkwise_oracle(p, nullptr, {chunk}), s,
                                                  chunkwise_bound(DType::float32),
                                                  chunkwise_unit_roundoff(DType::float32));
        INFO("chunk " << chunk << ": " << c.describe());
        CHECK(c.pass());
        // The pool handed back between calls: the next call allocates again.
        if (chunk == 256) CHECK(hmlstm::release_cached_memory().ok());
    }
}

TEST_CASE("device pointers are checked and named", "[gpu][.]") {
    const Shape s{1, 2, 40, 16, 24};
    DeviceProblem memory(s);
    void *stream = new_stream();
    std::vector<float> poison(memory.v_bytes / 4, 777.0f);
    copy_to_device(memory.h, poison.data(), memory.v_bytes, stream);
    hmlstm::ChunkwiseOptions o;
    o.device = {hmlstm::Device::cuda, stream, nullptr};
    auto call = [&](const void *q, void *h, const Shape &shape) {
        return hmlstm::mlstm_chunkwise_fw(api_shape(shape), {q, memory.k, memory.v},
                                          {static_cast<float *>(memory.i), static_cast<float *>(memory.f)}, h, {}, {},
                                          o);
    };
    std::vector<float> host_q(memory.qk_bytes / 4, 0.5f);
    hmlstm::Error e = call(host_q.data(), memory.h, s);
    CHECK(e.status == Status::invalid_pointer);
    CHECK(e.message.find("q is not CUDA device memory") != std::string::npos);
    // One token more than the buffers hold: every tensor is too small; q is named first.
    Shape longer = s;
    longer.S += 1;
    e = call(memory.q, memory.h, longer);
    CHECK(e.status == Status::invalid_pointer);
    CHECK(e.message.find("q points into an allocation of") != std::string::npos);
    CHECK(memory.output(stream) == to_double(poison));
}

TEST_CASE("CUDA calls without a usable device are errors, not aborts", "[bad_input][cpu]") {
    if (cuda_device_present()) {
        WARN("a CUDA device is present: the no-device path is not exercised here");
        return;
    }
    std::vector<float> x(64 * 64, 0.5f), h(64 * 64, 3.0f);
    hmlstm::ChunkwiseOptions o;
    o.device.kind = hmlstm::Device::cuda;
    hmlstm::Error e = hmlstm::mlstm_chunkwise_fw({1, 1, 64, 64, 64}, {x.data(), x.data(), x.data()},
                                                 {x.data(), x.data()}, h.data(), {}, {}, o);
    INFO(e.message);
    CHECK(e.status == (hmlstm::cuda_built() ? Status::device_error : Status::unsupported));
    CHECK(e.message.find("mlstm_chunkwise_fw: ") == 0);
    CHECK(h == std::vector<float>(64 * 64, 3.0f));
    CHECK(hmlstm::release_cached_memory().ok());  // no device memory to hand back
}
