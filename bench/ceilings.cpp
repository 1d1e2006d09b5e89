#include "ceilings.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// 24 independent accumulators: more than FMA latency (4 cycles) times ports (2), so the loop is throughput-bound.
// Returns a value derived from the accumulators so that the loop is not optimized away.
__attribute__((target("avx512f"))) float fma_loop_avx512(long iterations) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 24  // keeps every accumulator in a register
        for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    for (int i = 1; i < 24; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(long iterations) {
    __m256 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    for (int i = 1; i < 24; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    float out[8];
    _mm256_storeu_ps(out, acc[0]);
    return out[0];
}

template <typename Body>
double parallel_seconds(int threads, Body body) {
    std::vector<std::thread> pool;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++) pool.emplace_back(body, t);
    for (std::thread &th : pool) th.join();
    return seconds_since(start);
}

}  // namespace

double inplace_gbytes(int threads, size_t bytes) {
    const size_t floats = bytes / sizeof(float) / size_t(threads);
    std::vector<std::vector<float>> data(threads, std::vector<float>(floats, 1.0f));
    double best = 0;
    for (int rep = 0; rep < 6; rep++) {
        double sec = parallel_seconds(threads, [&](int t) {
            float *x = data[t].data();
            for (size_t e = 0; e < floats; e++) x[e] = x[e] * 0.5f + 1.0f;
        });
        best = std::max(best, 2.0 * floats * sizeof(float) * threads / sec / 1e9);
    }
    return best;
}

Ceilings measure_ceilings(int threads) {
    Ceilings c;
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const int lanes = avx512 ? 16 : 8;
    c.isa = avx512 ? "avx512" : "avx2";
    const long iterations = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        std::vector<float> sink(threads);
        double sec = parallel_seconds(threads, [&](int t) { sink[t] = avx512 ? fma_loop_avx512(iterations) : fma_loop_avx2(iterations); });
        if (sink[0] == 12345.0f) std::printf(" ");
        best = std::max(best, double(threads) * iterations * 24 * lanes * 2 / sec / 1e9);
    }
    c.fma_gflops = best;

    // Copy bandwidth: each thread copies its own 256 MiB slice, then updates it in place.
    const size_t per_thread = size_t(256) << 20, floats = per_thread / sizeof(float);
    std::vector<std::vector<float>> src(threads, std::vector<float>(floats, 1.0f));
    std::vector<std::vector<float>> dst(threads, std::vector<float>(floats, 0.0f));
    best = 0;
    for (int rep = 0; rep < 4; rep++) {
        double sec = parallel_seconds(threads, [&](int t) { std::memcpy(dst[t].data(), src[t].data(), per_thread); });
        best = std::max(best, 2.0 * per_thread * threads / sec / 1e9);
        sec = parallel_seconds(threads, [&](int t) {
            float *x = dst[t].data();
            for (size_t e = 0; e < floats; e++) x[e] = x[e] * 0.5f + 1.0f;
        });
        best = std::max(best, 2.0 * per_thread * threads / sec / 1e9);
    }
    c.copy_gbytes = best;
    return c;
}
