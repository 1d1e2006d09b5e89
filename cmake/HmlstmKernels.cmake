# The variant matrix of generated kernels: one line per (form, dtype, knobs) below stamps out a static library
# compiled for every CPU target, chosen at run time by Halide's multitarget dispatch (first match wins).
set(HMLSTM_CPU_TARGETS
    x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake
    x86-64-linux-sse41-avx-f16c-fma-avx2
    x86-64-linux
    CACHE STRING "Halide targets of the CPU kernels, most specific first")

set(HMLSTM_CHUNK_SIZES 16 32 64 128 256 CACHE STRING "Chunk sizes compiled for the chunkwise kernels")

# Every kernel library; filled by hmlstm_add_kernel.
set_property(GLOBAL PROPERTY HMLSTM_KERNELS "")

add_halide_runtime(hmlstm_halide_runtime TARGETS ${HMLSTM_CPU_TARGETS})

# hmlstm_add_kernel(<name> GENERATOR <generator> DTYPE <float32|bfloat16> [PARAMS ...])
# The dtype is that of q, k, v and h; gates and states are always float32.
function(hmlstm_add_kernel NAME)
    cmake_parse_arguments(ARG "" "GENERATOR;DTYPE" "PARAMS" ${ARGN})
    add_halide_library(${NAME}
                       FROM hmlstm_generators
                       GENERATOR ${ARG_GENERATOR}
                       FUNCTION_NAME ${NAME}
                       USE_RUNTIME hmlstm_halide_runtime
                       TARGETS ${HMLSTM_CPU_TARGETS}
                       FEATURES user_context
                       PARAMS q.type=${ARG_DTYPE} k.type=${ARG_DTYPE} v.type=${ARG_DTYPE} h.type=${ARG_DTYPE}
                              ${ARG_PARAMS})
    set_property(GLOBAL APPEND PROPERTY HMLSTM_KERNELS ${NAME})
endfunction()
