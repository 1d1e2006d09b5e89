#include "device_memory.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef HMLSTM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace test {

bool on_cuda() {
    static const bool cuda = [] {
        const char *d = std::getenv("HMLSTM_TEST_DEVICE");
        return d && std::strcmp(d, "cuda") == 0;
    }();
    return cuda;
}

#ifdef HMLSTM_WITH_CUDA
namespace {
void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
cudaStream_t test_stream() {
    static cudaStream_t s = [] {
        cudaStream_t s = nullptr;
        check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
        return s;
    }();
    return s;
}
}  // namespace

bool cuda_device_present() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

hmlstm::DeviceOptions device_options() {
    if (!on_cuda()) return {};
    return {hmlstm::Device::cuda, test_stream(), nullptr};
}

Mirror::Mirror(void *host, size_t bytes) : host_(host), bytes_(bytes) {
    if (!on_cuda()) return;
    device_ = device_alloc(bytes_ ? bytes_ : 1);
    copy_to_device(device_, host_, bytes_, test_stream());
}

Mirror::~Mirror() {
    if (device_) device_free(device_);
}

void Mirror::back() {
    if (device_) copy_to_host(host_, device_, bytes_, test_stream());
}

void *device_alloc(size_t bytes) {
    void *p = nullptr;
    check(cudaMalloc(&p, bytes), "cudaMalloc");
    return p;
}
void device_free(void *p) { cudaFree(p); }
void copy_to_device(void *device, const void *host, size_t bytes, void *stream) {
    check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)), "H2D");
    sync_stream(stream);
}
void copy_to_host(void *host, const void *device, size_t bytes, void *stream) {
    check(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream)), "D2H");
    sync_stream(stream);
}
void *new_stream() {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    return s;
}
void sync_stream(void *stream) { check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "sync"); }

#else  // a build without CUDA: only host memory

bool cuda_device_present() { return false; }
hmlstm::DeviceOptions device_options() { return {}; }
Mirror::Mirror(void *host, size_t bytes) : host_(host), bytes_(bytes) {}
Mirror::~Mirror() = default;
void Mirror::back() {}
void *device_alloc(size_t) { throw std::runtime_error("built without CUDA"); }
void device_free(void *) {}
void copy_to_device(void *, const void *, size_t, void *) { throw std::runtime_error("built without CUDA"); }
void copy_to_host(void *, const void *, size_t, void *) { throw std::runtime_error("built without CUDA"); }
void *new_stream() { throw std::runtime_error("built without CUDA"); }
void sync_stream(void *) {}

#endif

}  // namespace test
