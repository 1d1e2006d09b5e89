// Parallel stabilized form against the float64 reference (spec: "Parallel form").
#include <catch2/catch.hpp>

#include "test_support.h"

using namespace test;

TEST_CASE("parallel matches the reference, row-wise and global stabilizer", "[parallel]") {
    std::mt19937_64 rng(test_seed() + 20);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    for (const Shape &s : standard_shapes()) {
        for (DType dtype : {DType::float32, DType::bfloat16}) {
            if (s.S > 2048 && dtype == DType::bfloat16) continue;  // the S^2 reference is the slow part
            for (bool rowwise : {true, false}) {
                Problem p = random_problem(s, dtype, rowwise ? Gates::typical : Gates::extreme, rng);
                Oracle oracle = parallel_oracle(p, nullptr, rowwise);
                hmlstm::ParallelOptions o;
                o.stabilize_rowwise = rowwise;
                Result r = run_parallel(p, o);
                INFO("S " << s.S << " DHQK " << s.DHQK << " dtype " << int(dtype) << " rowwise " << rowwise << ": "
                          << r.error.message);
                REQUIRE(r.error.ok());
                OutputComparison c = compare_output(r.h, oracle, s, forward_bound(dtype));
                INFO("h: " << c.describe());
                CHECK(c.pass());
            }
        }
    }
}

TEST_CASE("parallel with a custom lower-triangular mask", "[parallel]") {
    std::mt19937_64 rng(test_seed() + 21);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{2, 2, 77, 32, 40};
    Problem p = random_problem(s, DType::float32, Gates::typical, rng);
    std::vector<uint8_t> mask(s.S * s.S);
    std::bernoulli_distribution keep(0.6);
    for (int64_t t = 0; t < s.S; t++)
        for (int64_t j = 0; j < s.S; j++) mask[t * s.S + j] = keep(rng) ? 1 : 0;  // above the diagonal: ignored
    for (int64_t j = 0; j < s.S; j++) mask[5 * s.S + j] = 0;                      // a row with nothing kept: h = 0
    for (bool rowwise : {true, false}) {
        Oracle oracle = parallel_oracle(p, &mask, rowwise);
        hmlstm::ParallelOptions o;
        o.stabilize_rowwise = rowwise;
        o.lower_triangular_matrix = mask.data();
        Result r = run_parallel(p, o);
        INFO(r.error.message);
        REQUIRE(r.error.ok());
        OutputComparison c = compare_output(r.h, oracle, s, 1e-5);
        INFO("rowwise " << rowwise << " h: " << c.describe());
        CHECK(c.pass());
        for (int64_t b = 0; b < s.DHV; b++) CHECK(r.h[5 * s.DHV + b] == 0.0);
    }
}
