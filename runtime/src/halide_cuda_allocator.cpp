// Device memory for the intermediate Funcs of every CUDA kernel, from hmlstm's stream-ordered pool
// (cuda_device.h) instead of Halide's own cache. Halide's cache keeps at most 32 freed blocks and cuMemFree()s the
// rest at the next allocation; a backward pipeline has more than 32 intermediates, so each of its calls freed and
// re-allocated blocks, and each cuMemFree waits for the whole device. These strong definitions replace the Halide
// runtime's weak ones; the pool reuses memory on the stream that freed it without any synchronisation.
//
// Small blocks (the decode step's intermediates: a few KiB) skip even the pool: a driver call costs microseconds,
// as much as the step's kernels, so the last kMaxKept freed wait here, per context and stream, for the next call.
// Reuse on the stream that freed a block is safe without an event: its next user is queued after its last one
// (as in Halide's cache, blocks are keyed by the stream's handle).
#include <mutex>
#include <vector>

#include "HalideRuntimeCuda.h"
#include "cuda_device.h"
#include "halide_glue.h"

// Halide's runtime functions that answer through the handlers halide_glue.cpp installs (not in the public header).
extern "C" int halide_cuda_acquire_context(void *user_context, void **context, bool create);
extern "C" int halide_cuda_release_context(void *user_context);
extern "C" int halide_cuda_get_stream(void *user_context, void *context, void **stream);

namespace {

using hmlstm::detail::CallContext;
using hmlstm::detail::CudaPlacement;

// The context and stream a buffer of this user_context lives on: a call of ours says; anything else (a null
// user_context) gets what Halide's handlers answer.
bool placement_of(void *user_context, CudaPlacement *out) {
    auto *call = static_cast<CallContext *>(user_context);
    if (call && call->cuda_context) {
        *out = {call->cuda_context, call->cuda_stream};
        return true;
    }
    void *context = nullptr, *stream = nullptr;
    if (halide_cuda_acquire_context(user_context, &context, true) != 0) return false;
    const bool ok = context && halide_cuda_get_stream(user_context, context, &stream) == 0;
    halide_cuda_release_context(user_context);
    *out = {context, stream};
    return ok;
}

constexpr size_t kSmallBlock = size_t(1) << 20, kMaxKept = 64;

// A small block's size class (a power of two from 256 bytes), so that calls of nearby shapes share blocks; 0 for a
// large block, which goes to the pool as it is.
size_t small_class(size_t bytes) {
    if (bytes > kSmallBlock) return 0;
    size_t c = 256;
    while (c < bytes) c *= 2;
    return c;
}

struct KeptBlock {
    CudaPlacement placement;
    size_t bytes;
    uint64_t ptr;
};

struct KeptBlocks {
    std::mutex lock;
    std::vector<KeptBlock> blocks;
};

KeptBlocks &kept() {
    static KeptBlocks k;
    return k;
}

uint64_t take_kept(const CudaPlacement &placement, size_t bytes) {
    KeptBlocks &k = kept();
    std::lock_guard<std::mutex> guard(k.lock);
    for (size_t b = 0; b < k.blocks.size(); b++) {
        const KeptBlock &block = k.blocks[b];
        if (block.bytes == bytes && block.placement.context == placement.context &&
            block.placement.stream == placement.stream) {
            const uint64_t ptr = block.ptr;
            k.blocks.erase(k.blocks.begin() + static_cast<std::ptrdiff_t>(b));
            return ptr;
        }
    }
    return 0;
}

// Keeps a freed small block; when the list is full, the oldest one goes back to the pool, so that the blocks of
// the calls being repeated (a decode loop after a prefill) stay.
void keep(const CudaPlacement &placement, size_t bytes, uint64_t ptr) {
    KeptBlock oldest{};
    {
        KeptBlocks &k = kept();
        std::lock_guard<std::mutex> guard(k.lock);
        if (k.blocks.size() >= kMaxKept) {
            oldest = k.blocks.front();
            k.blocks.erase(k.blocks.begin());
        }
        k.blocks.push_back({placement, bytes, ptr});
    }
    if (oldest.ptr) hmlstm::detail::pool_free(oldest.placement, oldest.ptr);
}

}  // namespace

namespace hmlstm::detail {

// Called by install_halide_hooks(). Its only job is to be referenced: a static archive's member is taken only for
// an undefined symbol, and the runtime's weak definitions leave none, so without it the linker would skip this
// object and its strong definitions below.
void use_pool_for_halide_buffers() {}

void release_kept_blocks() {
    std::vector<KeptBlock> blocks;
    {
        KeptBlocks &k = kept();
        std::lock_guard<std::mutex> guard(k.lock);
        blocks.swap(k.blocks);
    }
    for (const KeptBlock &b : blocks) pool_free(b.placement, b.ptr);
}

}  // namespace hmlstm::detail

extern "C" int halide_cuda_device_malloc(void *user_context, halide_buffer_t *buf) {
    if (buf->device) return halide_error_code_success;  // already on the device
    CudaPlacement placement;
    if (!placement_of(user_context, &placement)) return halide_error_code_device_malloc_failed;
    const size_t bytes = buf->size_in_bytes(), small = small_class(bytes);
    uint64_t ptr = small ? take_kept(placement, small) : 0;
    if (!ptr) {
        const hmlstm::Error e =
            hmlstm::detail::pool_allocate("CUDA kernel", placement, int64_t(small ? small : bytes), &ptr);
        if (!e.ok()) {
            halide_error(user_context, e.message.c_str());
            return e.status == hmlstm::Status::out_of_memory ? halide_error_code_out_of_memory
                                                             : halide_error_code_device_malloc_failed;
        }
    }
    buf->device = ptr;
    buf->device_interface = halide_cuda_device_interface();
    return halide_error_code_success;
}

// The buffer's shape is the one it was allocated with (Halide never reshapes an allocated intermediate), so its
// size class is too.
extern "C" int halide_cuda_device_free(void *user_context, halide_buffer_t *buf) {
    if (!buf->device) return halide_error_code_success;
    CudaPlacement placement;
    if (placement_of(user_context, &placement)) {
        const size_t small = small_class(buf->size_in_bytes());
        if (small) {
            keep(placement, small, buf->device);
        } else {
            hmlstm::detail::pool_free(placement, buf->device);
        }
    }
    buf->device = 0;
    buf->device_interface = nullptr;
    return halide_error_code_success;
}
