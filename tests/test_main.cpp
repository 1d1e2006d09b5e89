#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "test_support.h"

int main(int argc, char **argv) {
    // Every run draws fresh inputs; the seed is printed so that a failure can be replayed with HMLSTM_TEST_SEED.
    // stderr: CTest discovers the test names from stdout.
    std::fprintf(stderr, "hmlstm tests: HMLSTM_TEST_SEED=%llu\n", static_cast<unsigned long long>(test::test_seed()));
    return Catch::Session().run(argc, argv);
}
