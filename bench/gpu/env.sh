# Sourced by the scripts that run on the GPU machine: cuBLAS on the library path (the toolkit's, else the one the
# torch wheel brings), and the carried binaries unpacked into build/ (bench/gpu/pack.sh) unless they are there.
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
    [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
if [ -f .devcarry/bins.tar.xz ] && [ ! -x build/bench/bench_gpu ]; then tar -xJf .devcarry/bins.tar.xz; fi
