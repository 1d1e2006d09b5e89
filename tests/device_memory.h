// Where the tests call the API: the caller's host memory, or (HMLSTM_TEST_DEVICE=cuda) CUDA device memory on a
// stream of the tests' own, so that every test case runs unchanged on both.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hmlstm/hmlstm.h"

namespace test {

bool on_cuda();                            // HMLSTM_TEST_DEVICE=cuda
bool cuda_device_present();                // a CUDA device can be used from this process
hmlstm::DeviceOptions device_options();    // what every API call of the tests passes

// A host buffer as the API sees it: the buffer itself on the CPU; on CUDA a device copy of it, made on
// construction, whose contents back() copies to the host buffer (after the tests' stream has finished).
class Mirror {
public:
    Mirror(void *host, size_t bytes);
    template <typename Vector>
    explicit Mirror(Vector &v) : Mirror(v.data(), v.size() * sizeof(v[0])) {}
    Mirror(const Mirror &) = delete;
    ~Mirror();
    void *api() const { return device_ ? device_ : host_; }
    template <typename T>
    T *as() const { return static_cast<T *>(api()); }
    void back();

private:
    void *host_;
    size_t bytes_;
    void *device_ = nullptr;
};

// Raw device memory of the tests' context (GPU-only tests).
void *device_alloc(size_t bytes);
void device_free(void *p);
void copy_to_device(void *device, const void *host, size_t bytes, void *stream);
void copy_to_host(void *host, const void *device, size_t bytes, void *stream);
void *new_stream();
void sync_stream(void *stream);

}  // namespace test
