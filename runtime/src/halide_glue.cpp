#include "halide_glue.h"

#include <cstdio>
#include <mutex>

#include "scratch_cache.h"
#include "subnormals.h"

#ifdef HMLSTM_WITH_CUDA
#include "HalideRuntimeCuda.h"
#endif

namespace hmlstm::detail {

View::View(halide_type_t type, const void *data, std::initializer_list<int64_t> extents,
           std::initializer_list<int64_t> strides, bool cuda) {
    if (cuda) {
        cuda_data_ = data;
    } else {
        buf.host = static_cast<uint8_t *>(const_cast<void *>(data));  // inputs are never written
    }
    buf.type = type;
    buf.dimensions = static_cast<int32_t>(extents.size());
    buf.dim = dims;
    int64_t dense = 1;
    int d = 0;
    auto stride = strides.begin();
    for (int64_t extent : extents) {
        dims[d].min = 0;
        dims[d].extent = static_cast<int32_t>(extent);
        dims[d].stride = static_cast<int32_t>(stride != strides.end() ? *stride++ : dense);
        dense *= extent;
        d++;
    }
}

View::~View() {
#ifdef HMLSTM_WITH_CUDA
    if (wrapped_) halide_cuda_detach_device_ptr(nullptr, &buf);
#endif
}

halide_buffer_t *View::get() {
#ifdef HMLSTM_WITH_CUDA
    // Wrapping only attaches the address and Halide's CUDA interface; it cannot fail for a checked pointer.
    if (cuda_data_ && !wrapped_) {
        wrapped_ = halide_cuda_wrap_device_ptr(nullptr, &buf, reinterpret_cast<uint64_t>(cuda_data_)) == 0;
    }
#endif
    return &buf;
}

halide_type_t halide_type_of(DType dtype) {
    return dtype == DType::bfloat16 ? halide_type_t(halide_type_bfloat, 16) : halide_type_t(halide_type_float, 32);
}

namespace {

extern "C" void hmlstm_error_handler(void *user_context, const char *message) {
    if (user_context) {
        static_cast<CallContext *>(user_context)->halide_message += message;
    } else {
        std::fprintf(stderr, "hmlstm (Halide): %s\n", message);
    }
}
#ifdef HMLSTM_WITH_CUDA
// Halide's CUDA runtime asks these for the context and stream of every launch, allocation and copy. A call of
// ours answers with its own (CallContext); anything else (user_context null, at process exit) gets Halide's own.
halide_cuda_acquire_context_t halide_acquire_context = nullptr;
halide_cuda_get_stream_t halide_get_stream = nullptr;

int acquire_cuda_context(void *user_context, void **context, bool create) {
    auto *call = static_cast<CallContext *>(user_context);
    if (call && call->cuda_context) {
        *context = call->cuda_context;
        return 0;
    }
    return halide_acquire_context(user_context, context, create);
}

int get_cuda_stream(void *user_context, void *context, void **stream) {
    auto *call = static_cast<CallContext *>(user_context);
    if (call && call->cuda_context) {
        *stream = call->cuda_stream;
        return 0;
    }
    return halide_get_stream(user_context, context, stream);
}
#endif

}  // namespace

void install_halide_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_error_handler(hmlstm_error_handler);
        halide_set_custom_malloc(scratch_malloc);
        halide_set_custom_free(scratch_free);
        halide_set_custom_do_task(flushing_do_task);
        halide_set_custom_do_loop_task(flushing_do_loop_task);
#ifdef HMLSTM_WITH_CUDA
        halide_acquire_context = halide_set_cuda_acquire_context(acquire_cuda_context);
        halide_get_stream = halide_set_cuda_get_stream(get_cuda_stream);
        use_pool_for_halide_buffers();
#endif
    });
}

Error kernel_result(int code, const CallContext &ctx) {
    if (code == halide_error_code_success) return {};
    Error e;
    // Halide's CUDA runtime passes the driver's CUresult through (2 is CUDA_ERROR_OUT_OF_MEMORY) and says "CUDA:"
    // in its message; a failed device allocation, launch or copy is the device's error, not the kernel's.
    const bool on_device = ctx.cuda_context != nullptr;
    const bool out_of_memory = code == halide_error_code_out_of_memory || (on_device && code == 2) ||
                               ctx.halide_message.find("OUT_OF_MEMORY") != std::string::npos;
    const bool device = on_device && (ctx.halide_message.find("CUDA") != std::string::npos || code > 0);
    e.status = out_of_memory ? Status::out_of_memory : device ? Status::device_error : Status::kernel_error;
    e.message = std::string(ctx.function) + ": kernel failed (" + (code > 0 ? "CUDA error " : "Halide error ") +
                std::to_string(code) + ")";
    if (!ctx.halide_message.empty()) e.message += ": " + ctx.halide_message;
    return e;
}

}  // namespace hmlstm::detail
