// The CUDA driver, loaded at run time (libcuda.so.1), so that one libhmlstm serves machines with and without a GPU:
// resolving a call's context and stream, checking the caller's device pointers, and small per-context buffers.
#pragma once

#include <cstdint>
#include <string>

#include "hmlstm/hmlstm.h"

namespace hmlstm::detail {

// The context and stream every kernel of a call runs on.
struct CudaPlacement {
    void *context = nullptr;
    void *stream = nullptr;
};

// Loads the driver if needed and picks the call's context: the one given, else the stream's, else the calling
// thread's current one. Errors name `function`.
Error resolve_cuda_placement(const char *function, const DeviceOptions &device, CudaPlacement *out);

// Empty when [p, p + bytes) lies in one device allocation of `context`; else why not.
std::string check_device_range(const void *p, int64_t bytes, void *context);

// Device memory of `context` holding at least `bytes` zero bytes, never written by anyone (`zeros`), or at least
// `bytes` that kernels may overwrite with values nobody reads (`discard`). Each is allocated once per context and
// grown when a call needs more; memory a queued kernel may still use is never freed.
Error device_zeros(const char *function, void *context, int64_t bytes, uint64_t *ptr);
Error device_discard(const char *function, void *context, int64_t bytes, uint64_t *ptr);

// Stream-ordered device memory from hmlstm's pool of the context's device: allocated on the call's stream, and
// freed on it after every kernel queued before. The pool keeps what it has reserved (no release at
// synchronisation), so calls after the first map no memory; blocks up to 1 MiB are kept per context and stream
// without any driver call. pool_free takes the size the block was allocated with. trim_device_pools() gives the
// kept blocks and the pool's unused part back.
Error pool_allocate(const char *function, const CudaPlacement &placement, int64_t bytes, uint64_t *ptr);
void pool_free(const CudaPlacement &placement, uint64_t ptr, int64_t bytes);
Error trim_device_pools();

// Pool memory for one call's intermediate results, freed on the call's stream when the object goes.
class DeviceScratch {
public:
    DeviceScratch() = default;
    DeviceScratch(const DeviceScratch &) = delete;
    ~DeviceScratch();
    Error allocate(const char *function, const CudaPlacement &placement, int64_t bytes);
    float *get() const { return reinterpret_cast<float *>(ptr_); }

private:
    CudaPlacement placement_;
    uint64_t ptr_ = 0;
    int64_t bytes_ = 0;
};

// Queues a fill of [ptr, ptr + bytes) with zero bytes on the call's stream.
Error device_fill_zero(const char *function, const CudaPlacement &placement, void *ptr, int64_t bytes);
// The same for `rows` runs of `words` 4-byte words, each `pitch_bytes` after the one before.
Error device_fill_zero_rows(const char *function, const CudaPlacement &placement, void *ptr, int64_t pitch_bytes,
                            int64_t words, int64_t rows);

// Queues a copy of `bytes` bytes of pageable host memory to the device on the call's stream. The source may be
// reused once it returns: the driver stages pageable memory before it does.
Error device_upload(const char *function, const CudaPlacement &placement, void *dst, const void *src, int64_t bytes);

// Makes `context` current on this thread for the life of the object (the previous one comes back after).
class ScopedContext {
public:
    explicit ScopedContext(void *context);
    ~ScopedContext();
    bool ok() const { return ok_; }

private:
    bool ok_ = false;
};

}  // namespace hmlstm::detail
