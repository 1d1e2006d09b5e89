// Halide's scratch allocations, served from a per-thread cache of recently freed blocks (64 blocks, 512 MiB).
//
// The kernels allocate their per-block scratch (a chunk's scores, its staged q, k, v; a query block's weights)
// inside parallel loops, hundreds of times per call. Through plain malloc, blocks above glibc's mmap threshold are
// mapped and unmapped each time, and every first touch page-faults: measured, that cost 30-40% of the chunkwise
// and parallel kernels' time. Reusing the thread's own recent blocks removes it.
#pragma once

#include <cstddef>

namespace hmlstm::detail {

void *scratch_malloc(void *user_context, size_t bytes);
void scratch_free(void *user_context, void *ptr);
// Frees the blocks the calling thread's cache holds.
void scratch_release_thread_cache();

}  // namespace hmlstm::detail
