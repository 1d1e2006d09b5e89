#include "validate.h"

#include "cuda_device.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "HalideRuntime.h"

namespace hmlstm::detail {

namespace {
constexpr double kHalideMaxBytes = 2147483647.0;  // Halide buffers use 32-bit extents and strides
constexpr double kScratchBudgetBytes = 1024.0 * 1024.0 * 1024.0;

// What a scan looks for in an element's bits.
struct NonFinite32 {
    bool operator()(uint32_t bits) const { return (bits & 0x7f800000u) == 0x7f800000u; }
};
struct NonFiniteBf16 {
    bool operator()(uint16_t bits) const { return (bits & 0x7f80u) == 0x7f80u; }
};
struct NaN32 {
    bool operator()(uint32_t bits) const { return (bits & 0x7fffffffu) > 0x7f800000u; }
};

// The first index of `count` elements whose bits are Bad, or -1. The inputs are tens of MB (a scalar loop with an
// early exit took 9-15% of a CPU call): blocks go to Halide's thread pool, each reduced without a branch so that it
// vectorizes, and only the first bad block is searched for its index.
template <typename Bits, typename Bad>
class ValueScan {
public:
    ValueScan(const void *data, int64_t count) : data_(static_cast<const unsigned char *>(data)), count_(count) {}

    int64_t first_bad() {
        const int64_t blocks = (count_ + kBlock - 1) / kBlock;
        if (blocks > 1) {
            halide_do_par_for(nullptr, task, 0, static_cast<int>(blocks), reinterpret_cast<uint8_t *>(this));
        } else if (blocks == 1) {
            task(nullptr, 0, reinterpret_cast<uint8_t *>(this));
        }
        const int64_t block = first_bad_block_.load();
        if (block == kNone) return -1;
        for (int64_t i = block * kBlock; i < count_; i++) {
            if (Bad{}(bits(i))) return i;
        }
        return -1;  // not reached
    }

private:
    static constexpr int64_t kBlock = int64_t(1) << 16, kNone = std::numeric_limits<int64_t>::max();

    Bits bits(int64_t i) const {
        Bits x;
        std::memcpy(&x, data_ + i * int64_t(sizeof(Bits)), sizeof(Bits));
        return x;
    }

    static int task(void *, int block, uint8_t *closure) {
        auto &scan = *reinterpret_cast<ValueScan *>(closure);
        const int64_t begin = block * kBlock, end = std::min(scan.count_, begin + kBlock);
        unsigned any = 0;
        for (int64_t i = begin; i < end; i++) any |= unsigned(Bad{}(scan.bits(i)));
        if (any) {
            int64_t seen = scan.first_bad_block_.load();
            while (block < seen && !scan.first_bad_block_.compare_exchange_weak(seen, block)) {
            }
        }
        return 0;
    }

    const unsigned char *data_;
    int64_t count_;
    std::atomic<int64_t> first_bad_block_{kNone};
};
}  // namespace

Checker &Checker::fail(Status status, const std::string &what) {
    error_.status = status;
    error_.message = std::string(function_) + ": " + what;
    return *this;
}

Checker &Checker::require(bool condition, Status status, const std::string &what) {
    if (ok() && !condition) fail(status, what);
    return *this;
}

Checker &Checker::shape(const Shape &s) {
    const std::pair<const char *, int64_t> dims[] = {
        {"B", s.B}, {"NH", s.NH}, {"S", s.S}, {"DHQK", s.DHQK}, {"DHV", s.DHV}};
    for (const auto &[name, value] : dims) {
        require(value > 0, Status::invalid_shape,
                std::string("shape.") + name + " = " + std::to_string(value) + " must be positive");
    }
    require(s.DHQK <= kMaxHeadDim && s.DHV <= kMaxHeadDim, Status::unsupported,
            "head dimensions DHQK = " + std::to_string(s.DHQK) + ", DHV = " + std::to_string(s.DHV) +
                " exceed the supported maximum " + std::to_string(kMaxHeadDim));
    if (!ok()) return *this;
    // The largest tensor has B*NH*S*max(DHQK, DHV) or B*NH*DHQK*DHV elements of up to 4 bytes; its byte count
    // must fit in int64 (and so in size_t) before anything else is computed from the shape.
    int64_t elems = 0;
    const int64_t widest = std::max(s.S, s.DHQK) * std::max(s.DHQK, s.DHV);
    bool overflow = __builtin_mul_overflow(s.B, s.NH, &elems) || __builtin_mul_overflow(elems, widest, &elems) ||
                    __builtin_mul_overflow(elems, int64_t(4), &elems);
    return require(!overflow, Status::invalid_shape,
                   "shape (B, NH, S, DHQK, DHV) = (" + std::to_string(s.B) + ", " + std::to_string(s.NH) + ", " +
                       std::to_string(s.S) + ", " + std::to_string(s.DHQK) + ", " + std::to_string(s.DHV) +
                       ") overflows 64-bit sizes");
}

Checker &Checker::pointer(const void *p, const char *name) {
    return require(p != nullptr, Status::null_pointer, std::string(name) + " is null");
}

Checker &Checker::dtype(DType d) {
    return require(d == DType::float32 || d == DType::bfloat16, Status::invalid_argument,
                   "dtype " + std::to_string(static_cast<int>(d)) + " is not float32 or bfloat16");
}

Checker &Checker::eps(float value) {
    return require(std::isfinite(value) && value >= 0.0f, Status::invalid_argument,
                   "eps = " + std::to_string(value) + " must be finite and >= 0");
}

Checker &Checker::slice_bytes(double bytes, const char *what) {
    return require(bytes < kHalideMaxBytes, Status::invalid_shape,
                   std::string(what) + " of one (batch, head) would take " + std::to_string(bytes / 1048576.0) +
                       " MiB, above the 2 GiB a kernel buffer may hold");
}

Checker &Checker::finite(const void *data, DType dtype, int64_t count, const char *name) {
    if (!ok() || data == nullptr) return *this;
    const int64_t idx = dtype == DType::bfloat16 ? ValueScan<uint16_t, NonFiniteBf16>(data, count).first_bad()
                                                 : ValueScan<uint32_t, NonFinite32>(data, count).first_bad();
    if (idx < 0) return *this;
    return fail(Status::non_finite_input,
                std::string(name) + " holds NaN or infinity at flat index " + std::to_string(idx));
}

Checker &Checker::no_nan(const float *data, int64_t count, const char *name) {
    if (!ok() || data == nullptr) return *this;
    const int64_t idx = ValueScan<uint32_t, NaN32>(data, count).first_bad();
    if (idx < 0) return *this;
    return fail(Status::non_finite_input, std::string(name) + " holds NaN at flat index " + std::to_string(idx));
}

Checker &Checker::device_range(const void *p, int64_t bytes, const char *name, void *context) {
    if (!ok() || p == nullptr) return *this;
    const std::string why = check_device_range(p, bytes, context);
    return require(why.empty(), Status::invalid_pointer, std::string(name) + " " + why);
}

Checker &Checker::adopt(const Error &e) {
    if (ok() && !e.ok()) error_ = e;
    return *this;
}

int64_t slices_per_call(int64_t heads, double bytes_per_slice) {
    const double limit = std::min(kHalideMaxBytes, kScratchBudgetBytes);
    const int64_t fit = static_cast<int64_t>(limit / std::max(bytes_per_slice, 1.0));
    return std::clamp<int64_t>(fit, 1, heads);
}

size_t dtype_size(DType dtype) {
    return dtype == DType::bfloat16 ? 2 : 4;
}

}  // namespace hmlstm::detail
