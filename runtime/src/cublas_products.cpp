// The extern stage that puts the chunkwise form's matrix products on tensor cores: batched products through cuBLAS
// (bf16 operands, or float32 operands in TF32), on the call's context and stream. The generated kernels call it by
// name (generators/batched_product.h declares it); cuBLAS is loaded at run time, like the driver.
#include <cublas_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <memory>
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

// The batch of a product call: chunks c0 .. c0 + chunks - 1 of heads h0 .. h0 + heads - 1.
struct Batch {
    int c0, chunks, h0, heads;
};

// Where a product's matrices lie in a buffer: stored per chunk, x(i, j, c, bh), or (chunk > 0) token-major,
// x(i, c * chunk + j, bh).
struct Layout {
    halide_buffer_t *buf;
    int chunk;

    // The address of element (i, j) of the (chunk, head) matrix, i along dim 0.
    const void *at(int64_t i, int64_t j, int64_t c, int64_t head) const {
        return chunk ? address(buf, {i, c * chunk + j, head}) : address(buf, {i, j, c, head});
    }
    int64_t chunk_stride() const { return chunk ? int64_t(chunk) * buf->dim[1].stride : buf->dim[2].stride; }
    int64_t head_stride() const { return buf->dim[chunk ? 2 : 3].stride; }
    int ld() const { return buf->dim[1].stride; }
};

// An operand of the product: a stored one, a(k, x, c, bh) or a(x, k, c, bh), or (chunk > 0) a token-major input
// read in place, a(feature, c * chunk + position, bh), position being x when k_inner, else k.
struct Operand : Layout {
    bool k_inner;

    Operand(halide_buffer_t *b, bool k_inner_, int chunk_) : Layout{b, chunk_}, k_inner(k_inner_) {}
    // The region a bounds query asks for: k in [0, k), x in [x_min, x_min + x_extent), the batch's chunks and
    // heads; an input's tokens end at seq_len.
    void require(int k, int x_min, int x_extent, const Batch &batch, int seq_len) const {
        halide_dimension_t *dk = &buf->dim[k_inner ? 0 : 1], *dx = &buf->dim[k_inner ? 1 : 0];
        *dk = {0, k, dk->stride, 0};
        *dx = {x_min, x_extent, dx->stride, 0};
        if (chunk) {
            halide_dimension_t &t = buf->dim[1];
            const int first = batch.c0 * chunk + t.min;
            const int last = (batch.c0 + batch.chunks - 1) * chunk + t.min + t.extent;
            t.min = first;
            t.extent = std::min(last, seq_len) - first;
            buf->dim[2].min = batch.h0;
            buf->dim[2].extent = batch.heads;
            return;
        }
        buf->dim[2].min = batch.c0;
        buf->dim[2].extent = batch.chunks;
        buf->dim[3].min = batch.h0;
        buf->dim[3].extent = batch.heads;
    }
};

// The product's result: out(m, n, c, bh), or (chunk > 0) token-major out(m, c * chunk + n, bh), whose partial last
// chunk has only the tokens up to seq_len.
struct Result : Layout {
    int m0() const { return buf->dim[0].min; }
    int m() const { return buf->dim[0].extent; }
    int n0() const { return chunk ? 0 : buf->dim[1].min; }
    int n() const { return chunk ? chunk : buf->dim[1].extent; }
    Batch batch() const {
        if (!chunk) return {buf->dim[2].min, buf->dim[2].extent, buf->dim[3].min, buf->dim[3].extent};
        const int t0 = buf->dim[1].min, t_end = t0 + buf->dim[1].extent;
        return {t0 / chunk, (t_end + chunk - 1) / chunk - t0 / chunk, buf->dim[2].min, buf->dim[2].extent};
    }
    void *at(int64_t i, int64_t j, int64_t c, int64_t head) const {
        return const_cast<void *>(Layout::at(i, j, c, head));
    }
};

// What every product of a call shares: its context, stream and handle.
struct ProductCall {
    void *user_context;
    CallContext *call;
    cublasHandle_t handle;
};

int check(const ProductCall &pc, cublasStatus_t status, const char *operation) {
    if (status == CUBLAS_STATUS_SUCCESS) return 0;
    return fail(pc.user_context, std::string(operation) + " failed with status " + std::to_string(int(status)));
}

// Sets up a call of the extern stage: its CUDA context current and a cuBLAS handle on its stream, or an error.
int begin(void *user_context, ProductCall &pc, std::unique_ptr<ScopedContext> &scoped) {
    auto *call = static_cast<CallContext *>(user_context);
    if (!call || !call->cuda_context) return fail(user_context, "called outside a CUDA call of hmlstm");
    if (!cublas().loaded) return fail(user_context, "cuBLAS (libcublas.so.13) could not be loaded");
    scoped = std::make_unique<ScopedContext>(call->cuda_context);
    if (!scoped->ok()) return fail(user_context, "the call's CUDA context could not be made current");
    cublasHandle_t handle = handle_for(call->cuda_context);
    if (!handle || cublas().set_stream(handle, static_cast<cudaStream_t>(call->cuda_stream)) != CUBLAS_STATUS_SUCCESS) {
        return fail(user_context, "no cuBLAS handle for the call's context and stream");
    }
    pc = {user_context, call, handle};
    return 0;
}

// out = a b + beta out, batched over the result's (chunk, head) batch (see hmlstm_cublas_batched_product).
int product(const ProductCall &pc, const Operand &a, const Operand &b, int k, const Result &out, int seq_len,
            float beta) {
    void *user_context = pc.user_context;
    if (!a.buf->device || !b.buf->device || !out.buf->device) return fail(user_context, "an operand is not on the device");
    const bool bf16 = a.buf->type.bits == 16;
    if (a.buf->type.bits != b.buf->type.bits) return fail(user_context, "operands of different types");
    const bool bf16_out = out.buf->type.bits == 16;
    if (bf16_out && !bf16) return fail(user_context, "a bfloat16 result of float32 operands");
    const int chunk = a.chunk ? a.chunk : b.chunk ? b.chunk : out.chunk;
    if ((a.chunk && a.chunk != chunk) || (b.chunk && b.chunk != chunk) || (out.chunk && out.chunk != chunk)) {
        return fail(user_context, "operands of different chunk sizes");
    }
    const int m = out.m(), n = out.n(), m0 = out.m0(), n0 = out.n0();
    const Batch batch = out.batch();
    const int chunks = batch.chunks, heads = batch.heads, c0 = batch.c0, h0 = batch.h0;
    const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute = bf16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
    const cudaDataType out_type = bf16_out ? CUDA_R_16BF : CUDA_R_32F;
    const float one = 1.0f;
    // Column-major: out is m x n with leading dimension its dim-1 stride; an operand stored k-inner is transposed.
    const cublasOperation_t op_a = a.k_inner ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = b.k_inner ? CUBLAS_OP_N : CUBLAS_OP_T;
    const int lda = a.ld(), ldb = b.ld(), ldc = out.ld();
    auto origins = [&](int64_t c, int64_t head) -> std::array<const void *, 3> {
        return {a.k_inner ? a.at(0, m0, c, head) : a.at(m0, 0, c, head),
                b.k_inner ? b.at(0, n0, c, head) : b.at(n0, 0, c, head), out.at(m0, n0, c, head)};
    };
    // Products over the positions of chunks c0 + first, ..., c0 + first + count - 1 of every head, sized m x n x kk;
    // `uniform`: one call of uniform strides over (chunk, head), which holds where every buffer lays heads out right
    // after its chunks, or where there is one chunk per head.
    auto products = [&](int first, int count, int rows, int cols, int kk) {
        const std::array<const void *, 3> p = origins(c0 + first, h0);
        const bool one_chunk = count == 1;
        auto batch_stride = [&](int64_t chunk_stride, int64_t head_stride) {
            return one_chunk ? head_stride : chunk_stride;
        };
        const int64_t out_chunk = out.chunk_stride(), out_head = out.head_stride();
        const bool uniform = one_chunk || (a.head_stride() == a.chunk_stride() * count &&
                                           b.head_stride() == b.chunk_stride() * count && out_head == out_chunk * count);
        if (uniform) {
            return check(pc, cublas().gemm(pc.handle, op_a, op_b, rows, cols, kk, &one, p[0], type, lda,
                                           batch_stride(a.chunk_stride(), a.head_stride()), p[1], type, ldb,
                                           batch_stride(b.chunk_stride(), b.head_stride()), &beta,
                                           const_cast<void *>(p[2]), out_type, ldc, batch_stride(out_chunk, out_head),
                                           count * heads, compute, CUBLAS_GEMM_DEFAULT),
                         "cublasGemmStridedBatchedEx");
        }
        // No single stride (the states hold one chunk more per head than the products use, or a partial last
        // chunk is left out): one call over a table of every product's three addresses, in device memory.
        const int count_all = count * heads;
        std::vector<const void *> table(3 * size_t(count_all));
        for (int head = 0; head < heads; head++) {
            for (int c = 0; c < count; c++) {
                const std::array<const void *, 3> q = origins(c0 + first + c, h0 + head);
                for (int i = 0; i < 3; i++) table[size_t(i) * count_all + head * count + c] = q[i];
            }
        }
        const CudaPlacement placement{pc.call->cuda_context, pc.call->cuda_stream};
        DeviceScratch device_table;
        const int64_t bytes = int64_t(table.size() * sizeof(void *));
        hmlstm::Error e = device_table.allocate("tensor-core product", placement, bytes);
        if (e.ok()) e = device_upload("tensor-core product", placement, device_table.get(), table.data(), bytes);
        if (!e.ok()) return fail(user_context, e.message);
        auto *const *pointers = reinterpret_cast<void *const *>(device_table.get());
        return check(pc, cublas().gemm_batched(pc.handle, op_a, op_b, rows, cols, kk, &one, pointers, type, lda,
                                               pointers + count_all, type, ldb, &beta, pointers + 2 * count_all,
                                               out_type, ldc, count_all, compute, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmBatchedEx");
    };

    // A partial last chunk of an input read in place, or of a token-major result: its positions past the input's
    // end are left out of the sum (k) or of out, whose entries there are zeros (a stored result) or absent.
    const int last_positions = chunk ? seq_len - (c0 + chunks - 1) * chunk : 0;
    if (!chunk || last_positions >= chunk) return products(0, chunks, m, n, k);
    if (chunks > 1) {
        if (int r = products(0, chunks - 1, m, n, k)) return r;
    }
    auto clip = [&](const Operand &x, int start, int extent) {  // positions of the last chunk along out's m or n
        return x.chunk && x.k_inner ? std::clamp(last_positions - start, 0, extent) : extent;
    };
    const int rows = clip(a, m0, m), cols = out.chunk ? std::min(n, last_positions) : clip(b, n0, n);
    const int kk = (a.chunk && !a.k_inner) || (b.chunk && !b.k_inner) ? std::min(k, last_positions) : k;
    if (!out.chunk && (rows < m || cols < n)) {
        const CudaPlacement placement{pc.call->cuda_context, pc.call->cuda_stream};
        void *slab = out.at(m0, n0, c0 + chunks - 1, h0);
        const int bytes = out.buf->type.bytes();  // the slab is a whole number of 32-bit words: m * n is even
        hmlstm::Error e = device_fill_zero_rows("tensor-core product", placement, slab,
                                                out.buf->dim[3].stride * bytes, out.buf->dim[2].stride * bytes / 4,
                                                heads);
        if (!e.ok()) return fail(user_context, e.message);
    }
    if (rows == 0 || cols == 0) return 0;
    return products(chunks - 1, 1, rows, cols, kk);
}

// One index of dimension `d` of a buffer, as a buffer of one dimension fewer (the same memory).
halide_buffer_t slice(const halide_buffer_t *b, int d, int index, halide_dimension_t *dims) {
    halide_buffer_t s = *b;
    int j = 0;
    for (int i = 0; i < b->dimensions; i++) {
        if (i != d) dims[j++] = b->dim[i];
    }
    s.dimensions = b->dimensions - 1;
    s.dim = dims;
    const int64_t offset = int64_t(index - b->dim[d].min) * b->dim[d].stride * b->type.bytes();
    if (s.device) s.device += offset;
    if (s.host) s.host += offset;
    return s;
}

}  // namespace
}  // namespace hmlstm::detail

using namespace hmlstm::detail;

// out(m, n, c, bh) = sum_k a * b, batched over (c, bh). `a` is a(k, m, c, bh) when a_k_inner, else a(m, k, c, bh);
// `b` is b(k, n, c, bh) when b_k_inner, else b(n, k, c, bh); an operand with a chunk size (a_chunk, b_chunk > 0) is
// a token-major input of seq_len tokens instead (batched_product.h, ProductOperand). Operands are bfloat16 bits
// (uint16) or float32 (multiplied in TF32); out is float32, or bfloat16 bits (uint16) for bfloat16 operands.
extern "C" int hmlstm_cublas_batched_product(void *user_context, halide_buffer_t *a_buf, halide_buffer_t *b_buf, int k,
                                             int a_k_inner, int b_k_inner, int a_chunk, int b_chunk, int seq_len,
                                             halide_buffer_t *out) {
    const Operand a{a_buf, a_k_inner != 0, a_chunk}, b{b_buf, b_k_inner != 0, b_chunk};
    const Result result{{out, 0}};
    // A bounds query passes every operand as a query buffer of its own; an input's comes with the input's
    // addresses, so that only out tells the query apart.
    if (out->is_bounds_query() || a_buf->is_bounds_query() || b_buf->is_bounds_query()) {
        a.require(k, result.m0(), result.m(), result.batch(), seq_len);
        b.require(k, result.n0(), result.n(), result.batch(), seq_len);
        return 0;
    }
    ProductCall pc{};
    std::unique_ptr<ScopedContext> scoped;
    if (int r = begin(user_context, pc, scoped)) return r;
    return product(pc, a, b, k, result, seq_len, 0.0f);
}

// out(m, t, bh) = a1 b1 + a2 b2, token-major (t = c * chunk + n, the last chunk ending at seq_len), float32: two
// products of the layouts above, the second added to the first's result in place (beta = 1), so that no pass over
// out sums them. b1 and b2 are one stored buffer b(k, which, n, c, bh), which = 0 and 1, both k-inner. k1, k2: the
// sums' lengths.
extern "C" int hmlstm_cublas_sum_of_products(void *user_context, halide_buffer_t *a1_buf, halide_buffer_t *a2_buf,
                                             halide_buffer_t *b_buf, int k1, int k2, int a1_k_inner, int a2_k_inner,
                                             int a1_chunk, int a2_chunk, int chunk, int seq_len,
                                             halide_buffer_t *out) {
    halide_dimension_t dims1[4], dims2[4];
    halide_buffer_t b1_buf = slice(b_buf, 1, 0, dims1), b2_buf = slice(b_buf, 1, 1, dims2);
    const Operand a1{a1_buf, a1_k_inner != 0, a1_chunk}, b1{&b1_buf, true, 0};
    const Operand a2{a2_buf, a2_k_inner != 0, a2_chunk}, b2{&b2_buf, true, 0};
    const Result result{{out, chunk}};
    if (out->is_bounds_query() || a1_buf->is_bounds_query() || a2_buf->is_bounds_query() || b_buf->is_bounds_query()) {
        const Batch batch = result.batch();
        a1.require(k1, result.m0(), result.m(), batch, seq_len);
        b1.require(k1, result.n0(), result.n(), batch, seq_len);
        a2.require(k2, result.m0(), result.m(), batch, seq_len);
        b2.require(k2, result.n0(), result.n(), batch, seq_len);
        // b's region: both slices' (they differ only along k), and both indices of `which`.
        b_buf->dim[0] = {0, std::max(k1, k2), b_buf->dim[0].stride, 0};
        b_buf->dim[1] = {0, 2, b_buf->dim[1].stride, 0};
        for (int d = 1; d < 4; d++) b_buf->dim[d + 1] = {dims1[d].min, dims1[d].extent, b_buf->dim[d + 1].stride, 0};
        return 0;
    }
    if (out->dim[1].min % chunk != 0) return fail(user_context, "a token-major result that starts inside a chunk");
    ProductCall pc{};
    std::unique_ptr<ScopedContext> scoped;
    if (int r = begin(user_context, pc, scoped)) return r;
    if (int r = product(pc, a1, b1, k1, result, seq_len, 0.0f)) return r;
    return product(pc, a2, b2, k2, result, seq_len, 1.0f);
}
