# The variant matrix of generated kernels: one line per (form, dtype, knobs) below stamps out a static library
# compiled for every CPU target, chosen at run time by Halide's multitarget dispatch (first match wins).
set(HMLSTM_CPU_TARGETS
    x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake
    x86-64-linux-sse41-avx-f16c-fma-avx2
    x86-64-linux
    CACHE STRING "Halide targets of the CPU kernels, most specific first")

# The CUDA kernels: host code for baseline x86-64, device code as PTX for the highest compute capability Halide 21
# knows (8.6); the driver compiles it for the card at hand (sm_90 on an H100).
set(HMLSTM_CUDA_TARGET x86-64-linux-cuda-cuda_capability_86 CACHE STRING "Halide target of the CUDA kernels")

set(HMLSTM_CHUNK_SIZES 16 32 64 128 256 CACHE STRING "Chunk sizes compiled for the chunkwise kernels")

# Schedule variants of the CPU chunkwise forward besides the default, for the autotuner to time at every chunk
# size: NAME:VECTOR_BLOCKS:ROW_BLOCK, the register-block shape of its products (schedules/cpu_common.h). The
# default block is 2 vectors x 8 rows with AVX-512, 2 x 4 otherwise.
set(HMLSTM_CPU_SCHEDULES "vb4_rb4:4:4;vb3_rb8:3:8" CACHE STRING "Extra schedules of the CPU chunkwise forward")

# Every kernel library; filled by hmlstm_add_kernel.
set_property(GLOBAL PROPERTY HMLSTM_KERNELS "")

add_halide_runtime(hmlstm_halide_runtime TARGETS ${HMLSTM_CPU_TARGETS})

# hmlstm_add_kernel(<name> GENERATOR <generator> DTYPE <float32|bfloat16> [CUDA] [TYPED ...] [PARAMS ...])
# The dtype is that of the generator's TYPED inputs and outputs (default q, k, v, h); gates and states are always
# float32. CUDA builds the device variant.
# The shared runtime gathers every library's target, so it carries the CUDA runtime once a CUDA kernel links it.
function(hmlstm_add_kernel NAME)
    cmake_parse_arguments(ARG "CUDA" "GENERATOR;DTYPE" "TYPED;PARAMS" ${ARGN})
    if (NOT ARG_TYPED)
        set(ARG_TYPED q k v h)
    endif ()
    set(types "")
    foreach (io IN LISTS ARG_TYPED)
        list(APPEND types ${io}.type=${ARG_DTYPE})
    endforeach ()
    set(targets ${HMLSTM_CPU_TARGETS})
    if (ARG_CUDA)
        set(targets ${HMLSTM_CUDA_TARGET})
    endif ()
    add_halide_library(${NAME}
                       FROM hmlstm_generators
                       GENERATOR ${ARG_GENERATOR}
                       FUNCTION_NAME ${NAME}
                       USE_RUNTIME hmlstm_halide_runtime
                       TARGETS ${targets}
                       FEATURES user_context
                       PARAMS ${types} ${ARG_PARAMS})
    set_property(GLOBAL APPEND PROPERTY HMLSTM_KERNELS ${NAME})
endfunction()
