// This machine's ceilings, measured: fp32 FMA throughput on all cores and copy bandwidth.
#pragma once

#include <cstddef>

struct Ceilings {
    double fma_gflops = 0;    // fp32, all threads, counting an FMA as 2 FLOP
    double copy_gbytes = 0;   // bytes read + bytes written per second, all threads, buffers far larger than caches:
                              // the better of memcpy between two buffers and an in-place update of one
                              // (the access pattern of a state update, which needs no read-for-ownership)
    const char *isa = "";     // the vector ISA the FMA loop used
};

Ceilings measure_ceilings(int threads);

// Bytes read + written per second by an in-place update (x = a x + b) of `bytes` split over the threads, best of
// several passes: the ceiling of a kernel that updates a working set of that size in place, wherever it lives
// (a working set smaller than the last-level cache is served from it).
double inplace_gbytes(int threads, size_t bytes);
