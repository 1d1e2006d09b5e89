// Subnormal floats as zeros inside the CPU kernels. With closing forget gates the state decays through the subnormal
// range (below 2^-126), where x86 arithmetic takes a microcode assist per operation: the chunkwise forward ran 3x
// slower at forget gate pre-activations around -3 (docs/precision.md, "Subnormals"). Flushing them moves no value by
// more than 2^-126 absolute.
#pragma once

#include "HalideRuntime.h"

namespace hmlstm::detail {

// Sets the flush-to-zero and denormals-are-zero modes of the calling thread (x86's MXCSR) for its lifetime and
// restores the caller's modes after; a no-op elsewhere.
class FlushSubnormals {
public:
    FlushSubnormals();
    ~FlushSubnormals();
    FlushSubnormals(const FlushSubnormals &) = delete;
    FlushSubnormals &operator=(const FlushSubnormals &) = delete;

private:
    unsigned saved_ = 0;
};

// Halide's task hooks that run each task of a parallel loop under FlushSubnormals (its worker threads keep whatever
// modes they started with).
int flushing_do_task(void *user_context, halide_task_t task, int index, uint8_t *closure);
int flushing_do_loop_task(void *user_context, halide_loop_task_t task, int min, int extent, uint8_t *closure,
                          void *task_parent);

}  // namespace hmlstm::detail
