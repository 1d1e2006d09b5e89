#include "halide_glue.h"

#include <cstdio>
#include <mutex>

#include "scratch_cache.h"

namespace hmlstm::detail {

View::View(halide_type_t type, const void *data, std::initializer_list<int64_t> extents,
           std::initializer_list<int64_t> strides) {
    buf.host = static_cast<uint8_t *>(const_cast<void *>(data));  // inputs are never written
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
}  // namespace

void install_halide_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_error_handler(hmlstm_error_handler);
        halide_set_custom_malloc(scratch_malloc);
        halide_set_custom_free(scratch_free);
    });
}

Error kernel_result(int code, const CallContext &ctx) {
    if (code == halide_error_code_success) return {};
    Error e;
    e.status = code == halide_error_code_out_of_memory ? Status::out_of_memory : Status::kernel_error;
    e.message = std::string(ctx.function) + ": kernel failed (Halide error " + std::to_string(code) + ")";
    if (!ctx.halide_message.empty()) e.message += ": " + ctx.halide_message;
    return e;
}

}  // namespace hmlstm::detail
