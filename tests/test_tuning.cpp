// The tuning tables: a chunk size of 0 runs the table's choice for the nearest shape, an explicit one overrides
// it, and a bad table is an error that changes nothing.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

using namespace test;
using hmlstm::Status;

namespace {

// A table file in the system's temporary folder.
std::string write_file(const std::string &name, const std::string &text) {
    const std::string path = (std::filesystem::temp_directory_path() / ("hmlstm_test_" + name + ".json")).string();
    std::ofstream(path) << text;
    return path;
}

// A CPU table with two float32 entries: small slices run chunk 16, long ones chunk 128.
std::string two_entry_table() {
    return R"({"format": "hmlstm-tuning-table", "version": 1, "library": "test", "target": "cpu", "entries": [
        {"form": "chunkwise", "dtype": "float32", "heads": 1, "S": 256, "DHQK": 32, "DHV": 32,
         "winner": {"chunk_size": 16}, "timings_ms": {"16": 1.0}},
        {"form": "chunkwise", "dtype": "float32", "heads": 8, "S": 8192, "DHQK": 128, "DHV": 256,
         "winner": {"chunk_size": 128}, "timings_ms": {"128": 1.0}}]})";
}

// The first CPU schedule besides the default; "" with a warning when the build has none.
std::string other_schedule() {
    const std::vector<std::string> &schedules = hmlstm::compiled_chunkwise_schedules(hmlstm::Device::cpu);
    if (schedules.size() < 2) WARN("this build has no CPU schedule besides the default (HMLSTM_CPU_SCHEDULES)");
    return schedules.size() > 1 ? schedules[1] : "";
}

hmlstm::ChunkwiseOptions with_chunk(int64_t chunk) {
    hmlstm::ChunkwiseOptions o;
    o.chunk_size = chunk;
    return o;
}

}  // namespace

TEST_CASE("chunk_size 0 runs the nearest table entry's chunk size; an explicit one overrides it", "[tuning][cpu]") {
    std::mt19937_64 rng(test_seed() + 60);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const std::string path = write_file("two_entries", two_entry_table());
    REQUIRE(hmlstm::load_tuning_table(path.c_str()).ok());
    CHECK(hmlstm::tuning_table_origin(hmlstm::Device::cpu) == path);
    // Near the first entry (log-space distance), and near the second: each must equal its entry's chunk size
    // bit for bit, and differ from the other size's result.
    for (auto [shape, expected, other] : {std::tuple{Shape{1, 2, 300, 24, 40}, 16, 128},
                                          std::tuple{Shape{4, 2, 4000, 128, 256}, 128, 16}}) {
        Problem p = random_problem(shape, DType::float32, Gates::typical, rng);
        Result tuned = run_chunkwise(p, nullptr, with_chunk(0));
        Result explicit_expected = run_chunkwise(p, nullptr, with_chunk(expected));
        Result explicit_other = run_chunkwise(p, nullptr, with_chunk(other));
        REQUIRE((tuned.error.ok() && explicit_expected.error.ok() && explicit_other.error.ok()));
        INFO("S " << shape.S << ": expected chunk " << expected);
        CHECK(tuned.h == explicit_expected.h);
        CHECK(tuned.h != explicit_other.h);
    }
    hmlstm::reset_tuning_tables();
    CHECK(hmlstm::tuning_table_origin(hmlstm::Device::cpu).rfind("built-in", 0) == 0);
}

TEST_CASE("a bad tuning table is an error that names the problem and keeps the table in use", "[tuning][cpu]") {
    REQUIRE(hmlstm::load_tuning_table(write_file("good", two_entry_table()).c_str()).ok());
    const std::string before = hmlstm::tuning_table_origin(hmlstm::Device::cpu);
    const std::pair<std::string, std::string> bad[] = {
        {"{not json", "not JSON"},
        {R"({"format": "something else", "version": 1, "target": "cpu", "entries": []})", "\"format\""},
        {R"({"format": "hmlstm-tuning-table", "version": 3, "target": "cpu", "entries": []})", "\"version\""},
        {R"({"format": "hmlstm-tuning-table", "version": 2, "target": "cpu", "entries": [
            {"form": "chunkwise", "dtype": "float32", "heads": 1, "S": 64, "DHQK": 16, "DHV": 16,
             "winner": {"chunk_size": 16}, "timings_ms": {"16": 1.0, "16/no_such_schedule": 0.5}}]})",
         "entry 0: \"timings_ms\" key \"16/no_such_schedule\" is not a variant compiled in this build"},
        {R"({"format": "hmlstm-tuning-table", "version": 2, "target": "cpu", "entries": [
            {"form": "chunkwise", "dtype": "float32", "heads": 1, "S": 64, "DHQK": 16, "DHV": 16,
             "winner": {"chunk_size": 16, "schedule": "no_such_schedule"}}]})",
         "entry 0: \"winner\".\"schedule\" \"no_such_schedule\" is not compiled in this build"},
        {R"({"format": "hmlstm-tuning-table", "version": 1, "target": "tpu", "entries": []})", "\"target\""},
        {R"({"format": "hmlstm-tuning-table", "version": 1, "target": "cpu", "entries": [
            {"form": "chunkwise", "dtype": "float32", "heads": 1, "S": 64, "DHQK": 16, "DHV": 16,
             "winner": {"chunk_size": 48}}]})", "entry 0: \"winner\".\"chunk_size\" is not a compiled chunk size"},
        {R"({"format": "hmlstm-tuning-table", "version": 1, "target": "cpu", "entries": [
            {"form": "chunkwise", "dtype": "float32", "heads": -3, "S": 64, "DHQK": 16, "DHV": 16,
             "winner": {"chunk_size": 16}}]})", "entry 0: \"heads\" is not a positive number"},
    };
    int n = 0;
    for (const auto &[text, names] : bad) {
        const std::string path = write_file("bad" + std::to_string(n++), text);
        hmlstm::Error e = hmlstm::load_tuning_table(path.c_str());
        INFO(e.message);
        CHECK(e.status == Status::invalid_argument);
        CHECK(e.message.find("load_tuning_table: tuning table " + path) == 0);
        CHECK(e.message.find(names) != std::string::npos);
        CHECK(hmlstm::tuning_table_origin(hmlstm::Device::cpu) == before);
    }
    hmlstm::Error missing = hmlstm::load_tuning_table("/nonexistent/table.json");
    CHECK(missing.status == Status::invalid_argument);
    CHECK(missing.message.find("cannot be read") != std::string::npos);
    CHECK(hmlstm::load_tuning_table(nullptr).status == Status::null_pointer);
    hmlstm::reset_tuning_tables();
}

TEST_CASE("negative chunk sizes are errors, 0 is the table's choice", "[tuning][bad_input][cpu]") {
    std::mt19937_64 rng(test_seed() + 61);
    Problem p = random_problem(Shape{1, 1, 50, 16, 16}, DType::float32, Gates::typical, rng);
    Result r = run_chunkwise(p, nullptr, with_chunk(-64));
    CHECK(r.error.status == Status::unsupported);
    CHECK(r.error.message.find("chunk_size = -64") != std::string::npos);
    CHECK(run_chunkwise(p, nullptr, with_chunk(0)).error.ok());
}

// Run by CTest with HMLSTM_TUNING_TABLE set (tests/CMakeLists.txt): a good table is used from the start, a bad
// one is ignored with a message and the built-in table stays.
TEST_CASE("HMLSTM_TUNING_TABLE is read at first use", "[.][tuning-env]") {
    const char *path = std::getenv("HMLSTM_TUNING_TABLE");
    const char *expect = std::getenv("HMLSTM_TEST_EXPECT_ORIGIN");
    REQUIRE(path);
    REQUIRE(expect);
    CHECK(hmlstm::tuning_table_origin(hmlstm::Device::cpu).rfind(expect, 0) == 0);
}

TEST_CASE("the table picks the schedule too; an explicit chunk size keeps the table's schedule for it",
          "[tuning][cpu]") {
    const std::string other = other_schedule();
    if (other.empty()) return;
    std::mt19937_64 rng(test_seed() + 62);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    // One entry: chunk 32 with `other` is fastest; at chunk 128 the default schedule beats `other`.
    const std::string table = R"({"format": "hmlstm-tuning-table", "version": 2, "target": "cpu", "entries": [
        {"form": "chunkwise", "dtype": "float32", "heads": 2, "S": 512, "DHQK": 32, "DHV": 64,
         "winner": {"chunk_size": 32, "schedule": ")" + other + R"("},
         "timings_ms": {"32": 1.2, "32/)" + other + R"(": 1.0, "128": 1.5, "128/)" + other + R"(": 1.8}}]})";
    REQUIRE(hmlstm::load_tuning_table(write_file("schedules", table).c_str()).ok());
    const Shape shape{1, 2, 300, 32, 64};
    const hmlstm::Shape api{shape.B, shape.NH, shape.S, shape.DHQK, shape.DHV};
    hmlstm::ChunkwiseVariant v;
    REQUIRE(hmlstm::chunkwise_variant(api, DType::float32, with_chunk(0), &v).ok());
    CHECK(v.chunk_size == 32);
    CHECK(v.schedule == other);
    REQUIRE(hmlstm::chunkwise_variant(api, DType::float32, with_chunk(128), &v).ok());
    CHECK(v.chunk_size == 128);
    CHECK(v.schedule == "default");
    hmlstm::ChunkwiseOptions pinned = with_chunk(0);
    pinned.schedule = "default";
    REQUIRE(hmlstm::chunkwise_variant(api, DType::float32, pinned, &v).ok());
    CHECK(v.chunk_size == 32);
    CHECK(v.schedule == "default");

    // The call runs what chunkwise_variant reports: bit for bit the explicit variant's output.
    Problem p = random_problem(shape, DType::float32, Gates::typical, rng);
    hmlstm::ChunkwiseOptions explicit_other = with_chunk(32);
    explicit_other.schedule = other;
    Result tuned = run_chunkwise(p, nullptr, with_chunk(0));
    Result expected = run_chunkwise(p, nullptr, explicit_other);
    REQUIRE((tuned.error.ok() && expected.error.ok()));
    CHECK(tuned.h == expected.h);
    hmlstm::reset_tuning_tables();
}

TEST_CASE("a CUDA table chooses the chunk size by the timings of the call's product path", "[tuning][cpu]") {
    // Tensor cores are fastest at chunk 128, the SIMT path ("L/simt") at chunk 32.
    const std::string table = R"({"format": "hmlstm-tuning-table", "version": 2, "target": "cuda", "entries": [
        {"form": "chunkwise", "dtype": "bfloat16", "heads": 64, "S": 8192, "DHQK": 128, "DHV": 256,
         "winner": {"chunk_size": 128},
         "timings_ms": {"32": 20.0, "128": 13.0, "32/simt": 70.0, "128/simt": 300.0}}]})";
    REQUIRE(hmlstm::load_tuning_table(write_file("cuda_products", table).c_str()).ok());
    const hmlstm::Shape shape{8, 16, 8192, 128, 256};
    hmlstm::ChunkwiseOptions o = with_chunk(0);
    o.device.kind = hmlstm::Device::cuda;
    hmlstm::ChunkwiseVariant v;
    REQUIRE(hmlstm::chunkwise_variant(shape, DType::bfloat16, o, &v).ok());
    CHECK(v.chunk_size == 128);
    CHECK(v.schedule == "default");
    o.cuda_products = hmlstm::CudaProducts::simt;
    REQUIRE(hmlstm::chunkwise_variant(shape, DType::bfloat16, o, &v).ok());
    CHECK(v.chunk_size == 32);
    CHECK(v.schedule == "default");
    hmlstm::reset_tuning_tables();
}

TEST_CASE("a schedule an entry did not time at a chunk size is estimated from its other chunk sizes",
          "[tuning][cpu]") {
    const std::string other = other_schedule();
    if (other.empty()) return;
    // The entry timed `other` only at chunk 32, where it halves the time; at chunk 128 only the default was timed.
    // A far entry timed `other` at 128 as slightly faster than its default; it must not decide for the near one.
    auto table = [&](const std::string &factor_32) {
        return R"({"format": "hmlstm-tuning-table", "version": 2, "target": "cpu", "entries": [
            {"form": "chunkwise", "dtype": "float32", "heads": 4, "S": 4096, "DHQK": 128, "DHV": 256,
             "winner": {"chunk_size": 32, "schedule": ")" + other + R"("},
             "timings_ms": {"32": 2.0, "32/)" + other + R"(": )" + factor_32 + R"(, "128": 3.0}},
            {"form": "chunkwise", "dtype": "float32", "heads": 4, "S": 4096, "DHQK": 192, "DHV": 384,
             "winner": {"chunk_size": 128}, "timings_ms": {"128": 1.0, "128/)" + other + R"(": 0.98}}]})";
    };
    const hmlstm::Shape shape{1, 4, 4096, 128, 256};
    hmlstm::ChunkwiseVariant v;
    REQUIRE(hmlstm::load_tuning_table(write_file("factor_fast", table("1.0")).c_str()).ok());
    REQUIRE(hmlstm::chunkwise_variant(shape, DType::float32, with_chunk(128), &v).ok());
    CHECK(v.schedule == other);  // 3.0 x 0.5 estimated at chunk 128
    REQUIRE(hmlstm::load_tuning_table(write_file("factor_slow", table("4.0")).c_str()).ok());
    REQUIRE(hmlstm::chunkwise_variant(shape, DType::float32, with_chunk(128), &v).ok());
    CHECK(v.schedule == "default");  // 3.0 x 2 estimated: the far entry's 2% does not outweigh it
    hmlstm::reset_tuning_tables();
}
