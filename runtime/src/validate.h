// Argument checks shared by every entry point. A Checker records the first failure and skips every later check,
// so that an entry point reads as one list of requirements followed by a single `if (!check.ok())`.
#pragma once

#include <string>

#include "hmlstm/hmlstm.h"

namespace hmlstm::detail {

class Checker {
public:
    explicit Checker(const char *function) : function_(function) {}

    bool ok() const { return error_.ok(); }
    const Error &error() const { return error_; }
    const char *function() const { return function_; }

    Checker &require(bool condition, Status status, const std::string &what);
    Checker &shape(const Shape &s);                 // positive sizes, supported head dims, no overflow
    Checker &pointer(const void *p, const char *name);
    Checker &dtype(DType d);
    Checker &eps(float value);
    // Bytes of one (batch, head) slice of a buffer the kernel reads, writes or allocates: Halide indexes with 32 bits.
    Checker &slice_bytes(double bytes, const char *what);
    // NaN / infinity scan (see the header's rule); counts are element counts.
    Checker &finite(const void *data, DType dtype, int64_t count, const char *name);
    Checker &no_nan(const float *data, int64_t count, const char *name);
    // With Device::cuda: `p` must hold `bytes` of device memory of `context` (p may be null: pointer() checks that).
    Checker &device_range(const void *p, int64_t bytes, const char *name, void *context);
    // Adopts an error found elsewhere (the first failure still wins).
    Checker &adopt(const Error &e);

private:
    Checker &fail(Status status, const std::string &what);
    const char *function_;
    Error error_;
};

// Elements of each tensor of the API for a shape.
struct TensorSizes {
    int64_t qk, v, gates, c, n, m;
    explicit TensorSizes(const Shape &s)
        : qk(s.B * s.NH * s.S * s.DHQK), v(s.B * s.NH * s.S * s.DHV), gates(s.B * s.NH * s.S),
          c(s.B * s.NH * s.DHQK * s.DHV), n(s.B * s.NH * s.DHQK), m(s.B * s.NH) {}
};

// How many (batch, head) slices one kernel call may take so that its buffers, and the scratch the kernel
// allocates, stay below Halide's 2^31-byte limit and a memory budget.
int64_t slices_per_call(int64_t heads, double bytes_per_slice);

size_t dtype_size(DType dtype);

}  // namespace hmlstm::detail
