// Wrapping caller pointers in halide_buffer_t, and turning Halide's errors into hmlstm::Error.
#pragma once

#include <initializer_list>
#include <string>

#include "HalideRuntime.h"
#include "hmlstm/hmlstm.h"

namespace hmlstm::detail {

// A halide_buffer_t over caller memory. Extents are given innermost first; strides default to dense. Sizes were
// validated to fit Halide's 32-bit extents and strides before any view is made.
struct View {
    halide_buffer_t buf{};
    halide_dimension_t dims[4]{};

    // With `cuda`, data is CUDA device memory: the buffer is wrapped for Halide's CUDA runtime when first used.
    View(halide_type_t type, const void *data, std::initializer_list<int64_t> extents,
         std::initializer_list<int64_t> strides = {}, bool cuda = false);
    View(const View &) = delete;  // buf.dim points into this object
    ~View();
    halide_buffer_t *get();

private:
    const void *cuda_data_ = nullptr;
    bool wrapped_ = false;
};

halide_type_t halide_type_of(DType dtype);
inline halide_type_t float32_type() { return halide_type_t(halide_type_float, 32); }

// Passed as the kernels' user_context: collects what Halide reports during one call, so that concurrent calls
// never see each other's errors.
struct CallContext {
    const char *function;
    std::string halide_message;
    void *cuda_context = nullptr;  // with Device::cuda: the context and stream every kernel of the call runs on
    void *cuda_stream = nullptr;
};

// Installs, once per process, the error handler (Halide's default would only print), the scratch allocator
// (scratch_cache.h) and the task hooks that flush subnormals (subnormals.h); with CUDA, the context and stream
// handlers. All belong to the Halide runtime linked into hmlstm, not to any other in the process.
void install_halide_hooks();

// With CUDA: makes the linker take halide_cuda_allocator.cpp, whose device allocator replaces Halide's.
void use_pool_for_halide_buffers();

// Maps a kernel's return code to an Error naming the function.
Error kernel_result(int code, const CallContext &ctx);

}  // namespace hmlstm::detail
