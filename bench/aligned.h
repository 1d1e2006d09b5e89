// Benchmark buffers that start on a 64-byte boundary (a cache line), as a framework's tensors do (PyTorch's CPU
// allocator aligns to 64 bytes). std::vector's large blocks start 16 bytes past a line on glibc, which splits every
// 64-byte vector store of an output across two lines (docs/benchmarks-cpu.md, session 26).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

namespace bench {

template <typename T>
struct CacheAligned {
    using value_type = T;
    CacheAligned() = default;
    template <typename U>
    CacheAligned(const CacheAligned<U> &) {}
    T *allocate(size_t n) {
        const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
        void *p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
        if (!p) throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T *p, size_t) { std::free(p); }
    template <typename U>
    bool operator==(const CacheAligned<U> &) const { return true; }
    template <typename U>
    bool operator!=(const CacheAligned<U> &) const { return false; }
};

using Floats = std::vector<float, CacheAligned<float>>;
using Halves = std::vector<uint16_t, CacheAligned<uint16_t>>;

}  // namespace bench
