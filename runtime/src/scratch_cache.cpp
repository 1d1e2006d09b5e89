#include "scratch_cache.h"

#include <cstdint>
#include <cstdlib>

namespace hmlstm::detail {

namespace {

// Halide's contract for halide_malloc (HalideRuntime.h): 64-byte alignment on x86, a size that is a multiple of it,
// and at least 8 readable bytes before the start and past the end. Each block carries a 64-byte header (its
// capacity, then padding) before the pointer handed out, and 64 spare bytes after it.
constexpr size_t kAlign = 64;
// Enough for every buffer one call holds at once on the calling thread (the backward's root stages, chunk states
// and their gradients among them) besides the parallel tasks' small blocks: with 32 slots and 256 MiB the
// backward's 32 MiB state buffers found no slot and were mapped and faulted in again on every call (measured: 8%
// of a forward + backward that recomputes the states, B=1 NH=4 S=4096 DHQK=128 DHV=256).
constexpr size_t kSlots = 64;
constexpr size_t kMaxCachedBytes = size_t(512) << 20;

size_t &capacity_of(void *base) { return *static_cast<size_t *>(base); }

struct Cache {
    void *blocks[kSlots] = {};
    size_t cached_bytes = 0;
    ~Cache() {
        for (void *b : blocks) std::free(b);
    }
};

thread_local Cache cache;

}  // namespace

void *scratch_malloc(void *, size_t bytes) {
    const size_t need = (bytes + kAlign - 1) / kAlign * kAlign;
    // Reuse the smallest cached block that fits without wasting more than half of it.
    int best = -1;
    for (size_t i = 0; i < kSlots; i++) {
        void *b = cache.blocks[i];
        if (b && capacity_of(b) >= need && capacity_of(b) <= 2 * need + 4096 &&
            (best < 0 || capacity_of(b) < capacity_of(cache.blocks[best]))) {
            best = int(i);
        }
    }
    void *base;
    if (best >= 0) {
        base = cache.blocks[best];
        cache.blocks[best] = nullptr;
        cache.cached_bytes -= capacity_of(base);
    } else {
        base = std::aligned_alloc(kAlign, need + 2 * kAlign);
        if (!base) return nullptr;
        capacity_of(base) = need;
    }
    return static_cast<uint8_t *>(base) + kAlign;
}

void scratch_free(void *, void *ptr) {
    if (!ptr) return;
    void *base = static_cast<uint8_t *>(ptr) - kAlign;
    const size_t capacity = capacity_of(base);
    if (capacity <= kMaxCachedBytes) {
        for (void *&slot : cache.blocks) {
            if (!slot && cache.cached_bytes + capacity <= kMaxCachedBytes) {
                slot = base;
                cache.cached_bytes += capacity;
                return;
            }
        }
    }
    std::free(base);
}

void scratch_release_thread_cache() {
    for (void *&b : cache.blocks) {
        std::free(b);
        b = nullptr;
    }
    cache.cached_bytes = 0;
}

}  // namespace hmlstm::detail
