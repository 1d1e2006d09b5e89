// Calls from several threads at once give the same results as one at a time, errors included.
#include <catch2/catch.hpp>

#include <thread>

#include "test_support.h"

using namespace test;

TEST_CASE("concurrent calls from several threads", "[concurrency]") {
    std::mt19937_64 rng(test_seed() + 40);
    const Shape s{1, 2, 150, 32, 64};
    const int kThreads = 6;
    std::vector<Problem> problems;
    std::vector<Result> alone;
    for (int t = 0; t < kThreads; t++) {
        problems.push_back(random_problem(s, t % 2 ? DType::bfloat16 : DType::float32, Gates::typical, rng));
        hmlstm::ChunkwiseOptions o;
        o.chunk_size = t % 3 == 0 ? 32 : 64;
        alone.push_back(run_chunkwise(problems.back(), nullptr, o));
        REQUIRE(alone.back().error.ok());
    }
    std::vector<Result> together(kThreads);
    std::vector<hmlstm::Error> bad(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 3; rep++) {
                hmlstm::ChunkwiseOptions o;
                o.chunk_size = t % 3 == 0 ? 32 : 64;
                together[t] = run_chunkwise(problems[t], nullptr, o);
                o.chunk_size = 40 + t;  // an error in between must not leak into other threads' calls
                bad[t] = run_chunkwise(problems[t], nullptr, o).error;
            }
        });
    }
    for (std::thread &th : threads) th.join();
    for (int t = 0; t < kThreads; t++) {
        CHECK(together[t].error.ok());
        CHECK(together[t].h == alone[t].h);
        CHECK(bad[t].status == hmlstm::Status::unsupported);
        CHECK(bad[t].message.find("chunk_size = " + std::to_string(40 + t)) != std::string::npos);
    }
}
