// Design experiment (docs/benchmarks-cpu.md, session 30), not part of the library: can Halide 21 put a bfloat16
// product on AMX tiles, exactly and how fast? A JIT pipeline M x N x K (env M, N, K; default the chunk-sized
// 64 x 256 x 128) scheduled onto MemoryType::AMXTile, checked against float64 and timed on one thread.
// BLOCK=2 asks for 2 x 1 output tiles per reduction (independent accumulators): Halide 21 refuses it.
#include "Halide.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace Halide;

namespace {

int env_or(const char *name, int fallback) {
    const char *value = std::getenv(name);
    return value ? std::atoi(value) : fallback;
}

}  // namespace

int main() {
    // Linux grants the AMX tile state per process on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
        std::printf("no AMX tile state on this machine\n");
        return 0;
    }
    const int M = env_or("M", 64), N = env_or("N", 256), K = env_or("K", 128), block = env_or("BLOCK", 1);
    ImageParam a(BFloat(16), 2, "a");  // (k, m)
    ImageParam b(BFloat(16), 3, "b");  // (k % 2, n, k / 2): pairs of adjacent k together, as the tile product reads
    RDom r(0, K, "r");
    Var x("x"), y("y"), xi("xi"), yi("yi"), xo("xo"), ix("ix"), iy("iy"), ox("ox"), oy("oy");
    RVar ro("ro"), ri("ri");
    Func product("product");
    product(x, y) = 0.0f;
    product(x, y) += cast<float>(a(r, y)) * cast<float>(b(r % 2, x, r / 2));
    Func out = product.in();
    // 16 x 16 float results, 32 bfloat16 products deep per tile instruction (16 rows of 64 bytes).
    product.compute_at(out, x).store_in(MemoryType::AMXTile).update()
        .tile(x, y, xi, yi, 16, 16, TailStrategy::GuardWithIf).split(r, ro, ri, 32)
        .reorder(ri, xi, yi, ro, x, y).atomic().vectorize(ri).vectorize(xi).vectorize(yi)
        .split(x, xo, x, block).reorder(ri, xi, yi, xo, ro, x, y).unroll(xo);
    product.compute_at(out, x).tile(x, y, ix, iy, 16, 16).vectorize(ix).vectorize(iy).unroll(x);
    out.tile(x, y, ox, oy, 16 * block, 16).vectorize(ox, 16).vectorize(oy, 16).unroll(ox);
    const Target target = get_host_target().with_feature(Target::AVX512_SapphireRapids);

    Buffer<bfloat16_t> a_values(K, M), b_values(2, N, K / 2);
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) a_values(k, m) = bfloat16_t(float((m * 7 + k * 3) % 11) - 5.0f);
    }
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) b_values(k % 2, n, k / 2) = bfloat16_t(float((n * 5 + k) % 7) - 3.0f);
    }
    a.set(a_values);
    b.set(b_values);
    Buffer<float> result(N, M);
    try {
        out.compile_jit(target);
        out.realize(result, target);
    } catch (const CompileError &e) {
        std::printf("%d x %d x %d, %d tile(s) per reduction: Halide refuses: %s\n", M, N, K, block, e.what());
        return 0;
    }
    double worst = 0;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double sum = 0;
            for (int k = 0; k < K; k++) sum += double(float(a_values(k, m))) * double(float(b_values(k % 2, n, k / 2)));
            worst = std::max(worst, std::abs(sum - result(n, m)));
        }
    }
    const int calls = std::max(20, int(2e9 / (2.0 * M * N * K)));
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; i++) out.realize(result, target);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
    std::printf("%d x %d x %d: worst abs error %g, %.1f GFLOP/s on one thread (a JIT call per product)\n", M, N, K,
                worst, 2.0 * M * N * K / seconds / 1e9);
    return 0;
}
