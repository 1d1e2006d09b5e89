// The extern stage that puts the chunkwise form's matrix products on tensor cores: batched products through cuBLAS
// (bf16 operands, or float32 operands in TF32), on the call's context and stream. The generated kernels call it by
// name (generators/batched_product.h declares it); cuBLAS is loaded at run time, like the driver.
#include <cublas_api.h>
#include <dlfcn.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "HalideRuntime.h"
#include "cuda_device.h"
#include "halide_glue.h"

namespace hmlstm::detail {
namespace {

struct Cublas {
    bool loaded = false;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                           const void *, cudaDataType, int, long long, const void *, cudaDataType, int, long long,
                           const void *, void *, cudaDataType, int, long long, int, cublasComputeType_t,
                           cublasGemmAlgo_t);
    cublasStatus_t (*gemm_batched)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                                   const void *const *, cudaDataType, int, const void *const *, cudaDataType, int,
                                   const void *, void *const *, cudaDataType, int, int, cublasComputeType_t,
                                   cublasGemmAlgo_t);
};

const Cublas &cublas() {
    static Cublas c = [] {
        Cublas c{};
        void *lib = nullptr;
        for (const char *name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
            if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
        }
        if (!lib) return c;
        c.create = reinterpret_cast<decltype(c.create)>(dlsym(lib, "cublasCreate_v2"));
        c.set_stream = reinterpret_cast<decltype(c.set_stream)>(dlsym(lib, "cublasSetStream_v2"));
        c.gemm = reinterpret_cast<decltype(c.gemm)>(dlsym(lib, "cublasGemmStridedBatchedEx"));
        c.gemm_batched = reinterpret_cast<decltype(c.gemm_batched)>(dlsym(lib, "cublasGemmBatchedEx"));
        c.loaded = c.create && c.set_stream && c.gemm && c.gemm_batched;
        return c;
    }();
    return c;
}

// One handle per thread and context: cuBLAS handles bind to the context current at creation.
cublasHandle_t handle_for(void *context) {
    thread_local std::vector<std::pair<void *, cublasHandle_t>> handles;
    for (const auto &[ctx, h] : handles) {
        if (ctx == context) return h;
    }
    cublasHandle_t h = nullptr;
    if (cublas().create(&h) != CUBLAS_STATUS_SUCCESS) return nullptr;
    handles.emplace_back(context, h);
    return h;
}

int fail(void *user_context, const std::string &what) {
    halide_error(user_context, ("tensor-core product: " + what).c_str());
    return halide_error_code_generic_error;
}

// Device address of the element at `coords` (absolute coordinates) of a buffer.
const uint8_t *address(const halide_buffer_t *b, std::initializer_list<int64_t> coords) {
    int64_t offset = 0;
    int d = 0;
    for (int64_t x : coords) {
        offset += (x - b->dim[d].min) * int64_t(b->dim[d].stride);
        d++;
    }
    return reinterpret_cast<const uint8_t *>(b->device) + offset * b->type.bytes();
}

// An operand's region in a bounds query: its k range [0, k) and its other (m or n) range, the batch dims as out's.
void require(halide_buffer_t *operand, bool k_inner, int k, const halide_dimension_t &other,
             const halide_buffer_t *out) {
    halide_dimension_t *dk = &operand->dim[k_inner ? 0 : 1], *dother = &operand->dim[k_inner ? 1 : 0];
    dk->min = 0;
    dk->extent = k;
    dother->min = other.min;
    dother->extent = other.extent;
    for (int d = 2; d < 4; d++) {
        operand->dim[d].min = out->dim[d].min;
        operand->dim[d].extent = out->dim[d].extent;
    }
}

}  // namespace
}  // namespace hmlstm::detail

using namespace hmlstm::detail;

// out(m, n, c, bh) = sum_k a * b, batched over (c, bh). `a` is a(k, m, c, bh) when a_k_inner, else a(m, k, c, bh);
// `b` is b(k, n, c, bh) when b_k_inner, else b(n, k, c, bh). Operands are bfloat16 bits (uint16) or float32
// (multiplied in TF32); out is float32.
extern "C" int hmlstm_cublas_batched_product(void *user_context, halide_buffer_t *a, halide_buffer_t *b, int k,
                                             int a_k_inner, int b_k_inner, halide_buffer_t *out) {
    if (a->is_bounds_query() || b->is_bounds_query()) {
        if (a->is_bounds_query()) require(a, a_k_inner, k, out->dim[0], out);
        if (b->is_bounds_query()) require(b, b_k_inner, k, out->dim[1], out);
        return 0;
    }
    auto *call = static_cast<CallContext *>(user_context);
    if (!call || !call->cuda_context) return fail(user_context, "called outside a CUDA call of hmlstm");
    if (!cublas().loaded) return fail(user_context, "cuBLAS (libcublas.so.13) could not be loaded");
    if (!a->device || !b->device || !out->device) return fail(user_context, "an operand is not on the device");
    const bool bf16 = a->type.bits == 16;
    if (a->type.bits != b->type.bits) return fail(user_context, "operands of different types");
    ScopedContext scoped(call->cuda_context);
    if (!scoped.ok()) return fail(user_context, "the call's CUDA context could not be made current");
    cublasHandle_t handle = handle_for(call->cuda_context);
    if (!handle || cublas().set_stream(handle, static_cast<cudaStream_t>(call->cuda_stream)) != CUBLAS_STATUS_SUCCESS) {
        return fail(user_context, "no cuBLAS handle for the call's context and stream");
    }
    const int m = out->dim[0].extent, n = out->dim[1].extent, chunks = out->dim[2].extent, heads = out->dim[3].extent;
    const int m0 = out->dim[0].min, n0 = out->dim[1].min, c0 = out->dim[2].min, h0 = out->dim[3].min;
    const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute = bf16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
    const float one = 1.0f, zero = 0.0f;
    // Column-major: out is m x n with leading dimension its dim-1 stride; an operand stored k-inner is transposed.
    const cublasOperation_t op_a = a_k_inner ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = b_k_inner ? CUBLAS_OP_N : CUBLAS_OP_T;
    const int lda = a->dim[1].stride, ldb = b->dim[1].stride, ldc = out->dim[1].stride;
    auto origins = [&](int64_t c, int64_t head) -> std::array<const void *, 3> {
        return {a_k_inner ? address(a, {0, m0, c, head}) : address(a, {m0, 0, c, head}),
                b_k_inner ? address(b, {0, n0, c, head}) : address(b, {n0, 0, c, head}), address(out, {m0, n0, c, head})};
    };
    cublasStatus_t status;
    const char *operation;
    // (chunk, head) is one batch dimension of uniform stride when every buffer lays heads out right after its chunks.
    auto flat = [&](const halide_buffer_t *x) { return int64_t(x->dim[3].stride) == int64_t(x->dim[2].stride) * chunks; };
    if (flat(a) && flat(b) && flat(out)) {
        const std::array<const void *, 3> p = origins(c0, h0);
        status = cublas().gemm(handle, op_a, op_b, m, n, k, &one, p[0], type, lda, a->dim[2].stride, p[1], type, ldb,
                               b->dim[2].stride, &zero, const_cast<void *>(p[2]), CUDA_R_32F, ldc, out->dim[2].stride,
                               chunks * heads, compute, CUBLAS_GEMM_DEFAULT);
        operation = "cublasGemmStridedBatchedEx";
    } else {
        // The states hold one chunk more per head than the products use (the state after the last): no single
        // stride, so one call over a table of every product's three addresses, in device memory.
        const int batch = chunks * heads;
        std::vector<const void *> table(3 * size_t(batch));
        for (int head = 0; head < heads; head++) {
            for (int c = 0; c < chunks; c++) {
                const std::array<const void *, 3> p = origins(c0 + c, h0 + head);
                for (int i = 0; i < 3; i++) table[size_t(i) * batch + head * chunks + c] = p[i];
            }
        }
        const CudaPlacement placement{call->cuda_context, call->cuda_stream};
        DeviceScratch device_table;
        const int64_t bytes = int64_t(table.size() * sizeof(void *));
        hmlstm::Error e = device_table.allocate("tensor-core product", placement, bytes);
        if (e.ok()) e = device_upload("tensor-core product", placement, device_table.get(), table.data(), bytes);
        if (!e.ok()) return fail(user_context, e.message);
        auto *const *pointers = reinterpret_cast<void *const *>(device_table.get());
        status = cublas().gemm_batched(handle, op_a, op_b, m, n, k, &one, pointers, type, lda, pointers + batch, type,
                                       ldb, &zero, pointers + 2 * batch, CUDA_R_32F, ldc, batch, compute,
                                       CUBLAS_GEMM_DEFAULT);
        operation = "cublasGemmBatchedEx";
    }
    if (status != CUBLAS_STATUS_SUCCESS) {
        return fail(user_context, std::string(operation) + " failed with status " + std::to_string(int(status)));
    }
    return 0;
}
