#include "subnormals.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HMLSTM_HAS_MXCSR 1
#endif

namespace hmlstm::detail {

#ifdef HMLSTM_HAS_MXCSR
namespace {
constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040, kExceptionFlags = 0x003f;
}
FlushSubnormals::FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
// The modes come back; the sticky exception flags keep what the work raised, as after any arithmetic.
FlushSubnormals::~FlushSubnormals() { _mm_setcsr((saved_ & ~kExceptionFlags) | (_mm_getcsr() & kExceptionFlags)); }
#else
FlushSubnormals::FlushSubnormals() = default;
FlushSubnormals::~FlushSubnormals() = default;
#endif

int flushing_do_task(void *user_context, halide_task_t task, int index, uint8_t *closure) {
    FlushSubnormals flush;
    return halide_default_do_task(user_context, task, index, closure);
}

int flushing_do_loop_task(void *user_context, halide_loop_task_t task, int min, int extent, uint8_t *closure,
                          void *task_parent) {
    FlushSubnormals flush;
    return halide_default_do_loop_task(user_context, task, min, extent, closure, task_parent);
}

}  // namespace hmlstm::detail
