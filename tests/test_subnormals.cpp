// The CPU kernels flush subnormal floats to zero (runtime/src/subnormals.h, docs/precision.md "Subnormals"): a
// subnormal input counts as zero, and the caller's own floating-point modes are as they were after the call.
#include <catch2/catch.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "test_support.h"

using namespace test;

TEST_CASE("CPU kernels read subnormal inputs as zeros and leave the caller's floating-point modes unchanged",
          "[cpu]") {
#if defined(__x86_64__) || defined(__i386__)
    constexpr unsigned kFlushModes = 0x8040;  // MXCSR's flush-to-zero and denormals-are-zero bits
    constexpr unsigned kModes = ~0x3fu;       // all but the sticky exception flags, which arithmetic sets
    std::mt19937_64 rng(test_seed() + 90);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{1, 2, 40, 16, 24};
    Problem zeros = random_problem(s, DType::float32, Gates::typical, rng);
    // q is zero but for one subnormal feature per token: h = (q . C-terms) / den is then about 1e-34, a normal
    // float, unless the subnormal reads as zero.
    std::fill(zeros.in.q.begin(), zeros.in.q.end(), 0.0);
    Problem subnormal = zeros;
    for (size_t t = 0; t < subnormal.in.q.size(); t += size_t(s.DHQK)) subnormal.in.q[t] = 1e-40;
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = 16;
    for (unsigned caller_modes : {0u, kFlushModes}) {
        const unsigned before = (_mm_getcsr() & ~kFlushModes) | caller_modes;
        _mm_setcsr(before);
        const Result with_zeros = run_chunkwise(zeros, nullptr, o);
        const Result with_subnormals = run_chunkwise(subnormal, nullptr, o);
        const unsigned after = _mm_getcsr();
        _mm_setcsr(before & ~kFlushModes);
        CHECK((after & kModes) == (before & kModes));
        REQUIRE(with_zeros.error.ok());
        REQUIRE(with_subnormals.error.ok());
        CHECK(with_subnormals.h == with_zeros.h);
    }
#else
    SUCCEED("no subnormal modes to check on this architecture");
#endif
}
