// Device memory for the intermediate Funcs of every CUDA kernel, from hmlstm's stream-ordered pool
// (cuda_device.h) instead of Halide's own cache. Halide's cache keeps at most 32 freed blocks and cuMemFree()s the
// rest at the next allocation; a backward pipeline has more than 32 intermediates, so each of its calls freed and
// re-allocated blocks, and each cuMemFree waits for the whole device. These strong definitions replace the Halide
// runtime's weak ones; the pool reuses memory on the stream that freed it without any synchronisation (and keeps
// small blocks without even a driver call).
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

}  // namespace

namespace hmlstm::detail {

// Called by install_halide_hooks(). Its only job is to be referenced: a static archive's member is taken only for
// an undefined symbol, and the runtime's weak definitions leave none, so without it the linker would skip this
// object and its strong definitions below.
void use_pool_for_halide_buffers() {}

}  // namespace hmlstm::detail

extern "C" int halide_cuda_device_malloc(void *user_context, halide_buffer_t *buf) {
    if (buf->device) return halide_error_code_success;  // already on the device
    CudaPlacement placement;
    if (!placement_of(user_context, &placement)) return halide_error_code_device_malloc_failed;
    uint64_t ptr = 0;
    const hmlstm::Error e =
        hmlstm::detail::pool_allocate("CUDA kernel", placement, int64_t(buf->size_in_bytes()), &ptr);
    if (!e.ok()) {
        halide_error(user_context, e.message.c_str());
        return e.status == hmlstm::Status::out_of_memory ? halide_error_code_out_of_memory
                                                         : halide_error_code_device_malloc_failed;
    }
    buf->device = ptr;
    buf->device_interface = halide_cuda_device_interface();
    return halide_error_code_success;
}

// The buffer's shape is the one it was allocated with (Halide never reshapes an allocated intermediate), so its
// size is too.
extern "C" int halide_cuda_device_free(void *user_context, halide_buffer_t *buf) {
    if (!buf->device) return halide_error_code_success;
    CudaPlacement placement;
    if (placement_of(user_context, &placement)) {
        hmlstm::detail::pool_free(placement, buf->device, int64_t(buf->size_in_bytes()));
    }
    buf->device = 0;
    buf->device_interface = nullptr;
    return halide_error_code_success;
}
