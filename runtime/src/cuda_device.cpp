#include "cuda_device.h"

#include <dlfcn.h>

#include <algorithm>

#include <mutex>
#include <vector>

namespace hmlstm::detail {

namespace {

// The few driver entry points used here, declared without cuda.h (the build may have no toolkit).
using CUresult = int;
using CUdeviceptr = unsigned long long;
constexpr int kAttributeContext = 1, kAttributeMemoryType = 2, kAttributeRangeStart = 11, kAttributeRangeSize = 12;
constexpr unsigned kMemoryTypeDevice = 2, kMemoryTypeUnified = 4;
constexpr int kPoolReleaseThreshold = 4;  // CU_MEMPOOL_ATTR_RELEASE_THRESHOLD

// CUmemPoolProps: pinned device memory (allocType 1, location type 1 = a device ordinal); the rest stays zero.
struct PoolProps {
    int alloc_type = 1, handle_types = 0, location_type = 1, device = 0;
    void *win32_security_attributes = nullptr;
    unsigned char rest[64] = {};  // maxSize, usage, reserved: 0 is the default
};

struct Driver {
    bool loaded = false;
    std::string why_not;
    CUresult (*cuInit)(unsigned);
    CUresult (*cuGetErrorName)(CUresult, const char **);
    CUresult (*cuCtxGetCurrent)(void **);
    CUresult (*cuCtxPushCurrent)(void *);
    CUresult (*cuCtxPopCurrent)(void **);
    CUresult (*cuStreamGetCtx)(void *, void **);
    CUresult (*cuPointerGetAttributes)(unsigned, int *, void **, CUdeviceptr);
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
    CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, void *);
    CUresult (*cuMemsetD2D32Async)(CUdeviceptr, size_t, unsigned, size_t, size_t, void *);
    CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, void *);
    // Stream-ordered memory pools (CUDA 11.2 and later); null when the driver lacks them.
    CUresult (*cuCtxGetDevice)(int *) = nullptr;
    CUresult (*cuMemPoolCreate)(void **, const PoolProps *) = nullptr;
    CUresult (*cuMemPoolSetAttribute)(void *, int, void *) = nullptr;
    CUresult (*cuMemPoolTrimTo)(void *, size_t) = nullptr;
    CUresult (*cuMemAllocFromPoolAsync)(CUdeviceptr *, size_t, void *, void *) = nullptr;
    CUresult (*cuMemFreeAsync)(CUdeviceptr, void *) = nullptr;

    std::string name(CUresult r) const {
        const char *n = nullptr;
        if (cuGetErrorName && cuGetErrorName(r, &n) == 0 && n) return n;
        return "CUDA error " + std::to_string(r);
    }
};

template <typename F>
bool bind(void *lib, F &fn, const char *symbol) {
    fn = reinterpret_cast<F>(dlsym(lib, symbol));
    return fn != nullptr;
}

const Driver &driver() {
    static Driver d = [] {
        Driver d{};
        void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            d.why_not = "the CUDA driver (libcuda.so.1) is not installed";
            return d;
        }
        const bool all = bind(lib, d.cuInit, "cuInit") && bind(lib, d.cuGetErrorName, "cuGetErrorName") &&
                         bind(lib, d.cuCtxGetCurrent, "cuCtxGetCurrent") &&
                         bind(lib, d.cuCtxPushCurrent, "cuCtxPushCurrent_v2") &&
                         bind(lib, d.cuCtxPopCurrent, "cuCtxPopCurrent_v2") &&
                         bind(lib, d.cuStreamGetCtx, "cuStreamGetCtx") &&
                         bind(lib, d.cuPointerGetAttributes, "cuPointerGetAttributes") &&
                         bind(lib, d.cuMemAlloc, "cuMemAlloc_v2") && bind(lib, d.cuMemsetD8, "cuMemsetD8_v2") &&
                         bind(lib, d.cuMemsetD8Async, "cuMemsetD8Async") &&
                         bind(lib, d.cuMemsetD2D32Async, "cuMemsetD2D32Async") &&
                         bind(lib, d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
        if (!bind(lib, d.cuCtxGetDevice, "cuCtxGetDevice") || !bind(lib, d.cuMemPoolCreate, "cuMemPoolCreate") ||
            !bind(lib, d.cuMemPoolSetAttribute, "cuMemPoolSetAttribute") ||
            !bind(lib, d.cuMemPoolTrimTo, "cuMemPoolTrimTo") ||
            !bind(lib, d.cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync") ||
            !bind(lib, d.cuMemFreeAsync, "cuMemFreeAsync")) {
            d.cuMemAllocFromPoolAsync = nullptr;
        }
        if (!all) {
            d.why_not = "the CUDA driver lacks an entry point hmlstm needs";
            return d;
        }
        const CUresult r = d.cuInit(0);
        if (r != 0) {
            d.why_not = "cuInit failed (" + d.name(r) + "): no usable CUDA device";
            return d;
        }
        d.loaded = true;
        return d;
    }();
    return d;
}

Error device_error(const char *function, const std::string &what) {
    return {Status::device_error, std::string(function) + ": " + what};
}

// One growing buffer per context.
struct ContextBuffer {
    void *context;
    CUdeviceptr ptr;
    int64_t bytes;
};

Error grow(const char *function, std::vector<ContextBuffer> &pool, void *context, int64_t bytes, bool zero,
           uint64_t *ptr) {
    static std::mutex lock;
    std::lock_guard<std::mutex> guard(lock);
    for (const ContextBuffer &b : pool) {
        if (b.context == context && b.bytes >= bytes) {
            *ptr = b.ptr;
            return {};
        }
    }
    const Driver &d = driver();
    const int64_t size = std::max<int64_t>(bytes, 1 << 16);
    CUresult r = d.cuCtxPushCurrent(context);
    if (r != 0) return device_error(function, "cuCtxPushCurrent failed (" + d.name(r) + ")");
    CUdeviceptr p = 0;
    r = d.cuMemAlloc(&p, static_cast<size_t>(size));
    if (r == 0 && zero) r = d.cuMemsetD8(p, 0, static_cast<size_t>(size));
    void *popped = nullptr;
    d.cuCtxPopCurrent(&popped);
    if (r != 0) {
        return {r == 2 ? Status::out_of_memory : Status::device_error,
                std::string(function) + ": allocating " + std::to_string(size) + " bytes of device memory failed (" +
                    d.name(r) + ")"};
    }
    pool.push_back({context, p, size});  // a smaller one it replaces stays allocated: queued kernels may read it
    *ptr = p;
    return {};
}

}  // namespace

Error resolve_cuda_placement(const char *function, const DeviceOptions &device, CudaPlacement *out) {
    const Driver &d = driver();
    if (!d.loaded) return device_error(function, d.why_not);
    void *context = device.cuda_context;
    if (!context && device.cuda_stream) {
        const CUresult r = d.cuStreamGetCtx(device.cuda_stream, &context);
        if (r != 0) return device_error(function, "device.cuda_stream is not a valid stream (" + d.name(r) + ")");
    }
    if (!context) {
        const CUresult r = d.cuCtxGetCurrent(&context);
        if (r != 0 || !context) {
            return device_error(function, "no CUDA context: pass device.cuda_context, or make one current "
                                          "(any CUDA runtime call does)");
        }
    }
    out->context = context;
    out->stream = device.cuda_stream;
    return {};
}

// One driver call for the four attributes (a step validates a dozen pointers per call, four calls each cost it
// about as much as its kernels at B = 1). For memory the driver does not know it succeeds with zeroed attributes.
std::string check_device_range(const void *p, int64_t bytes, void *context) {
    const Driver &d = driver();
    const CUdeviceptr ptr = reinterpret_cast<CUdeviceptr>(p);
    unsigned type = 0;
    void *owner = nullptr;
    CUdeviceptr start = 0;
    size_t size = 0;
    int attributes[] = {kAttributeMemoryType, kAttributeContext, kAttributeRangeStart, kAttributeRangeSize};
    void *values[] = {&type, &owner, &start, &size};
    if (d.cuPointerGetAttributes(4, attributes, values, ptr) != 0 ||
        (type != kMemoryTypeDevice && type != kMemoryTypeUnified)) {
        return "is not CUDA device memory";
    }
    if (owner && owner != context) return "is device memory of another CUDA context than the call's";
    if (size != 0 && ptr - start + static_cast<uint64_t>(bytes) > size) {
        return "points into an allocation of " + std::to_string(size - (ptr - start)) + " bytes from there, " +
               std::to_string(bytes) + " needed";
    }
    return {};
}

ScopedContext::ScopedContext(void *context) {
    const Driver &d = driver();
    ok_ = d.loaded && d.cuCtxPushCurrent(context) == 0;
}

ScopedContext::~ScopedContext() {
    void *popped = nullptr;
    if (ok_) driver().cuCtxPopCurrent(&popped);
}

Error device_zeros(const char *function, void *context, int64_t bytes, uint64_t *ptr) {
    static std::vector<ContextBuffer> pool;
    return grow(function, pool, context, bytes, true, ptr);
}

Error device_discard(const char *function, void *context, int64_t bytes, uint64_t *ptr) {
    static std::vector<ContextBuffer> pool;
    return grow(function, pool, context, bytes, false, ptr);
}

Error device_fill_zero(const char *function, const CudaPlacement &placement, void *ptr, int64_t bytes) {
    const Driver &d = driver();
    ScopedContext current(placement.context);
    if (!current.ok()) return device_error(function, "cannot make the call's CUDA context current");
    const CUresult r =
        d.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(ptr), 0, static_cast<size_t>(bytes), placement.stream);
    if (r != 0) return device_error(function, "cuMemsetD8Async failed (" + d.name(r) + ")");
    return {};
}

Error device_fill_zero_rows(const char *function, const CudaPlacement &placement, void *ptr, int64_t pitch_bytes,
                            int64_t words, int64_t rows) {
    const Driver &d = driver();
    ScopedContext current(placement.context);
    if (!current.ok()) return device_error(function, "cannot make the call's CUDA context current");
    const CUresult r = d.cuMemsetD2D32Async(reinterpret_cast<CUdeviceptr>(ptr), static_cast<size_t>(pitch_bytes), 0u,
                                            static_cast<size_t>(words), static_cast<size_t>(rows), placement.stream);
    if (r != 0) return device_error(function, "cuMemsetD2D32Async failed (" + d.name(r) + ")");
    return {};
}

Error device_upload(const char *function, const CudaPlacement &placement, void *dst, const void *src, int64_t bytes) {
    const Driver &d = driver();
    ScopedContext current(placement.context);
    if (!current.ok()) return device_error(function, "cannot make the call's CUDA context current");
    const CUresult r =
        d.cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(dst), src, static_cast<size_t>(bytes), placement.stream);
    if (r != 0) return device_error(function, "cuMemcpyHtoDAsync failed (" + d.name(r) + ")");
    return {};
}

namespace {

// hmlstm's memory pool per device. Its release threshold is unlimited, so memory freed into it stays reserved for
// the next call instead of going back to the driver at each synchronisation (the default pool's threshold is 0):
// a steady state of calls maps no new memory. release_cached_memory() hands the unused part back.
struct DevicePools {
    std::mutex lock;
    std::vector<std::pair<int, void *>> by_device;
};

DevicePools &device_pools() {
    static DevicePools pools;
    return pools;
}

// The pool of the current context's device, created on first use.
Error current_pool(const char *function, void **pool) {
    const Driver &d = driver();
    int device = 0;
    CUresult r = d.cuCtxGetDevice(&device);
    if (r != 0) return device_error(function, "cuCtxGetDevice failed (" + d.name(r) + ")");
    DevicePools &pools = device_pools();
    std::lock_guard<std::mutex> guard(pools.lock);
    for (const auto &entry : pools.by_device) {
        if (entry.first == device) {
            *pool = entry.second;
            return {};
        }
    }
    PoolProps props;
    props.device = device;
    r = d.cuMemPoolCreate(pool, &props);
    if (r != 0) return device_error(function, "cuMemPoolCreate failed (" + d.name(r) + ")");
    uint64_t keep_all = UINT64_MAX;
    r = d.cuMemPoolSetAttribute(*pool, kPoolReleaseThreshold, &keep_all);
    if (r != 0) return device_error(function, "cuMemPoolSetAttribute failed (" + d.name(r) + ")");
    pools.by_device.emplace_back(device, *pool);
    return {};
}

// Memory straight from the pool of the placement's device, allocated and freed in stream order.
Error allocate_from_pool(const char *function, const CudaPlacement &placement, size_t bytes, uint64_t *ptr) {
    const Driver &d = driver();
    if (!d.cuMemAllocFromPoolAsync) {
        return device_error(function, "the CUDA driver lacks stream-ordered memory pools (CUDA 11.2 or later)");
    }
    ScopedContext current(placement.context);
    if (!current.ok()) return device_error(function, "cannot make the call's CUDA context current");
    void *pool = nullptr;
    Error e = current_pool(function, &pool);
    if (!e.ok()) return e;
    CUdeviceptr p = 0;
    const CUresult r = d.cuMemAllocFromPoolAsync(&p, std::max<size_t>(bytes, 4), pool, placement.stream);
    if (r != 0) {
        return {r == 2 ? Status::out_of_memory : Status::device_error,
                std::string(function) + ": allocating " + std::to_string(bytes) + " bytes of device scratch failed (" +
                    d.name(r) + ")"};
    }
    *ptr = p;
    return {};
}

void free_to_pool(const CudaPlacement &placement, uint64_t ptr) {
    ScopedContext current(placement.context);
    driver().cuMemFreeAsync(ptr, placement.stream);
}

// Small blocks (the decode step's intermediates and pointer tables: a few KiB) skip even the pool: a driver call
// costs microseconds, as much as the step's kernels, so the last kMaxKept freed wait here, per context and stream,
// for the next call. Reuse on the stream that freed a block is safe without an event: its next user is queued after
// its last one.
constexpr size_t kSmallBlock = size_t(1) << 20, kMaxKept = 64;

// A small block's size class (a power of two from 256 bytes), so that calls of nearby shapes share blocks; 0 for a
// large block, which goes to the pool as it is.
size_t small_class(int64_t bytes) {
    if (bytes > int64_t(kSmallBlock)) return 0;
    size_t c = 256;
    while (int64_t(c) < bytes) c *= 2;
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
    for (auto b = k.blocks.begin(); b != k.blocks.end(); ++b) {
        if (b->bytes == bytes && b->placement.context == placement.context &&
            b->placement.stream == placement.stream) {
            const uint64_t ptr = b->ptr;
            k.blocks.erase(b);
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
    if (oldest.ptr) free_to_pool(oldest.placement, oldest.ptr);
}

void release_kept_blocks() {
    std::vector<KeptBlock> blocks;
    {
        KeptBlocks &k = kept();
        std::lock_guard<std::mutex> guard(k.lock);
        blocks.swap(k.blocks);
    }
    for (const KeptBlock &b : blocks) free_to_pool(b.placement, b.ptr);
}

}  // namespace

Error pool_allocate(const char *function, const CudaPlacement &placement, int64_t bytes, uint64_t *ptr) {
    const size_t small = small_class(bytes);
    if (small && (*ptr = take_kept(placement, small))) return {};
    return allocate_from_pool(function, placement, small ? small : size_t(bytes), ptr);
}

void pool_free(const CudaPlacement &placement, uint64_t ptr, int64_t bytes) {
    if (!ptr) return;
    if (const size_t small = small_class(bytes)) {
        keep(placement, small, ptr);
    } else {
        free_to_pool(placement, ptr);
    }
}

Error trim_device_pools() {
    release_kept_blocks();
    const Driver &d = driver();
    if (!d.loaded || !d.cuMemAllocFromPoolAsync) return {};
    DevicePools &pools = device_pools();
    std::lock_guard<std::mutex> guard(pools.lock);
    for (const auto &entry : pools.by_device) {
        const CUresult r = d.cuMemPoolTrimTo(entry.second, 0);
        if (r != 0) return device_error("release_cached_memory", "cuMemPoolTrimTo failed (" + d.name(r) + ")");
    }
    return {};
}

Error DeviceScratch::allocate(const char *function, const CudaPlacement &placement, int64_t bytes) {
    Error e = pool_allocate(function, placement, bytes, &ptr_);
    if (e.ok()) placement_ = placement, bytes_ = bytes;
    return e;
}

DeviceScratch::~DeviceScratch() { pool_free(placement_, ptr_, bytes_); }

}  // namespace hmlstm::detail
