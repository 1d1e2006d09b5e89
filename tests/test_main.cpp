#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "test_support.h"

int main(int argc, char **argv) {
    // Every run draws fresh inputs; the seed is printed so that a failure can be replayed with HMLSTM_TEST_SEED.
    // stderr: CTest discovers the test names from stdout.
    std::fprintf(stderr, "hmlstm tests: HMLSTM_TEST_SEED=%llu\n", static_cast<unsigned long long>(test::test_seed()));
    if (test::on_cuda() && !test::cuda_device_present()) {
        // CTest reads 77 as "skipped" (SKIP_RETURN_CODE) and shows this line.
        std::printf("SKIPPED: HMLSTM_TEST_DEVICE=cuda, but this machine has no usable CUDA device; "
                    "the GPU test run needs one (docs/gpu-tests.md)\n");
        return 77;
    }
    if (test::on_cuda()) std::fprintf(stderr, "hmlstm tests: on CUDA device memory\n");
    return Catch::Session().run(argc, argv);
}
