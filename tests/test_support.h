// Helpers shared by the tests: seeded random problems, dtype conversion, calls of the API from float64 data, and
// the one comparison with the reference (relative error per (batch, head) slice).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hmlstm/hmlstm.h"
#include "reference/mlstm_reference.h"

namespace test {

using hmlstm::DType;
using hmlstm_ref::Shape;

// Seed: HMLSTM_TEST_SEED if set, else fresh; tests print it on failure through Catch's INFO.
uint64_t test_seed();

enum class Gates { typical, extreme, forget_closed, input_open };

struct Problem {
    Shape shape;
    DType dtype = DType::float32;
    hmlstm_ref::Inputs in;  // q, k, v already rounded to dtype, gates to float32: what the kernel sees
};

Problem random_problem(const Shape &shape, DType dtype, Gates gates, std::mt19937_64 &rng);
hmlstm_ref::States random_states(const Shape &shape, std::mt19937_64 &rng);

// Bytes of a tensor in dtype, and back.
std::vector<uint8_t> encode(const std::vector<double> &x, DType dtype);
std::vector<double> decode(const std::vector<uint8_t> &bytes, DType dtype);
std::vector<float> to_float(const std::vector<double> &x);
std::vector<double> to_double(const std::vector<float> &x);

// Worst relative error ||out - ref|| / ||ref|| over slices of `slice` elements (absolute where ||ref|| = 0).
struct Comparison {
    double worst = 0;
    int64_t worst_slice = -1;
    bool finite = true;
    std::string describe() const;
};
Comparison compare(const std::vector<double> &out, const std::vector<double> &ref, int64_t slice);

// Bound of the spec for a forward output of this dtype.
double forward_bound(DType dtype);

// The API forms on a Problem; states in float32 as the API takes them.
struct Result {
    hmlstm::Error error;
    std::vector<double> h;
    hmlstm_ref::States last;
};
Result run_chunkwise(const Problem &p, const hmlstm_ref::States *initial, const hmlstm::ChunkwiseOptions &o);
Result run_sequence(const Problem &p, const hmlstm_ref::States *initial, bool return_last_states);
Result run_parallel(const Problem &p, const hmlstm::ParallelOptions &o);

hmlstm::Shape api_shape(const Shape &s);

// The shapes every form is tested on (issue: forward CPU, item 6).
std::vector<Shape> standard_shapes();

}  // namespace test
