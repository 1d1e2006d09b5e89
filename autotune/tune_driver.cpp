// hmlstm_tune: times every compiled chunkwise variant at the shapes it is given, on the CPU or on a CUDA device,
// and prints one JSON object per (shape, variant) on stdout. autotune/tune.py drives it over a grid.
//
//   hmlstm_tune --device cpu|cuda --dtype float32|bfloat16 [--min-ms 200] [--rounds 1] [--chunks 16,32,...]
//               HEADS,S,DHQK,DHV [HEADS,S,DHQK,DHV ...]
// Chunk size 0 in --chunks times what the library's tuning table picks (the dispatch itself).
#include <hmlstm/hmlstm.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#ifdef HMLSTM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

struct Options {
    hmlstm::Device device = hmlstm::Device::cpu;
    hmlstm::DType dtype = hmlstm::DType::float32;
    double min_ms = 200;
    int rounds = 1;  // passes over the chunk sizes; each reports its best median over the passes
    std::vector<int64_t> chunks;
    std::vector<hmlstm::Shape> shapes;
};

[[noreturn]] void usage(const std::string &why) {
    std::fprintf(stderr, "hmlstm_tune: %s\nusage: hmlstm_tune --device cpu|cuda --dtype float32|bfloat16 "
                         "[--min-ms MS] [--chunks L,L,...] HEADS,S,DHQK,DHV ...\n", why.c_str());
    std::exit(2);
}

std::vector<int64_t> numbers(const char *text) {
    std::vector<int64_t> out;
    for (const char *p = text; *p;) {
        char *end = nullptr;
        out.push_back(std::strtoll(p, &end, 10));
        if (end == p) usage(std::string("not a list of numbers: ") + text);
        p = *end == ',' ? end + 1 : end;
    }
    return out;
}

Options parse(int argc, char **argv) {
    Options o;
    int count = 0;
    const int64_t *compiled = hmlstm::compiled_chunk_sizes(&count);
    o.chunks.assign(compiled, compiled + count);
    for (int a = 1; a < argc; a++) {
        const std::string arg = argv[a];
        auto next = [&]() -> const char * {
            if (a + 1 >= argc) usage(arg + " needs a value");
            return argv[++a];
        };
        if (arg == "--version") {
            std::printf("%s\n", hmlstm::version());
            std::exit(0);
        } else if (arg == "--device") {
            const std::string d = next();
            if (d != "cpu" && d != "cuda") usage("--device is cpu or cuda");
            o.device = d == "cuda" ? hmlstm::Device::cuda : hmlstm::Device::cpu;
        } else if (arg == "--dtype") {
            const std::string d = next();
            if (d != "float32" && d != "bfloat16") usage("--dtype is float32 or bfloat16");
            o.dtype = d == "bfloat16" ? hmlstm::DType::bfloat16 : hmlstm::DType::float32;
        } else if (arg == "--min-ms") {
            o.min_ms = std::atof(next());
        } else if (arg == "--rounds") {
            o.rounds = std::max(1, std::atoi(next()));
        } else if (arg == "--chunks") {
            o.chunks = numbers(next());
        } else {
            std::vector<int64_t> d = numbers(arg.c_str());
            if (d.size() != 4) usage("a shape is HEADS,S,DHQK,DHV: " + arg);
            o.shapes.push_back({1, d[0], d[1], d[2], d[3]});
        }
    }
    if (o.shapes.empty()) usage("no shape given");
    return o;
}

// Memory for one problem, on the host or the device, filled with random data.
class Buffers {
public:
    Buffers(const Options &o, const hmlstm::Shape &s) : device_(o.device == hmlstm::Device::cuda) {
        const bool bf16 = o.dtype == hmlstm::DType::bfloat16;
        const size_t elem = bf16 ? 2 : 4, bh = size_t(s.B * s.NH);
        q = make(bh * s.S * s.DHQK * elem, false, bf16);
        k = make(bh * s.S * s.DHQK * elem, false, bf16);
        v = make(bh * s.S * s.DHV * elem, false, bf16);
        h = make(bh * s.S * s.DHV * elem, false, bf16);
        i = make(bh * s.S * 4, true);
        f = make(bh * s.S * 4, true);
    }
    ~Buffers() {
        for (void *p : owned_) {
#ifdef HMLSTM_WITH_CUDA
            if (device_) {
                cudaFree(p);
                continue;
            }
#endif
            std::free(p);
        }
    }
    void *q, *k, *v, *h, *i, *f;

private:
    bool device_;
    std::vector<void *> owned_;
    std::mt19937 rng_{7};

    // Random normal data: float32, or the upper halves of float32 values for bfloat16 (q, k, v, h; gates are
    // float32 always). Never raw bytes: those would be denormals, infinities and NaNs.
    void *make(size_t bytes, bool gate = false, bool bf16 = false) {
        const size_t count = bytes / (bf16 ? 2 : 4);
        std::vector<float> values(count);
        std::normal_distribution<float> d(gate ? 1.0f : 0.0f, 1.0f);
        for (float &x : values) x = d(rng_);
        std::vector<uint8_t> host(bytes);
        for (size_t e = 0; e < count; e++) {
            if (bf16) {
                uint32_t bits;
                std::memcpy(&bits, &values[e], 4);
                const uint16_t top = uint16_t(bits >> 16);
                std::memcpy(&host[2 * e], &top, 2);
            } else {
                std::memcpy(&host[4 * e], &values[e], 4);
            }
        }
        void *p = nullptr;
#ifdef HMLSTM_WITH_CUDA
        if (device_) {
            if (cudaMalloc(&p, bytes) != cudaSuccess) usage("cudaMalloc failed");
            cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice);
            owned_.push_back(p);
            return p;
        }
#endif
        p = std::malloc(bytes);
        std::memcpy(p, host.data(), bytes);
        owned_.push_back(p);
        return p;
    }
};

// Median milliseconds of `run` after two warm-up calls, at least 3 calls and `min_ms` in total.
double median_ms(const std::function<void()> &run, const Options &o) {
    auto sync = [&] {
#ifdef HMLSTM_WITH_CUDA
        if (o.device == hmlstm::Device::cuda) cudaDeviceSynchronize();
#endif
    };
    run();
    run();
    sync();
    std::vector<double> ms;
    double total = 0;
    while ((ms.size() < 3 || total < o.min_ms) && ms.size() < 200) {
        const auto start = std::chrono::steady_clock::now();
        run();
        sync();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        total += ms.back();
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    const char *dtype = o.dtype == hmlstm::DType::bfloat16 ? "bfloat16" : "float32";
    for (const hmlstm::Shape &s : o.shapes) {
        Buffers b(o, s);
        auto call = [&](int64_t chunk, hmlstm::Error *error) {
            hmlstm::ChunkwiseOptions opt;
            opt.chunk_size = chunk;
            opt.check_finite = false;
            opt.device.kind = o.device;
            if (error->ok()) {
                *error = hmlstm::mlstm_chunkwise_fw(s, {b.q, b.k, b.v, o.dtype},
                                                    {static_cast<float *>(b.i), static_cast<float *>(b.f)}, b.h, {}, {},
                                                    opt);
            }
        };
        // Warm the machine up first (thread pool, page faults, clocks), so that the first variant timed is not
        // the one that pays for it.
        hmlstm::Error error;
        Options warm = o;
        warm.min_ms = std::max(100.0, o.min_ms / 2);
        median_ms([&] { call(o.chunks.front(), &error); }, warm);
        std::vector<double> best(o.chunks.size(), 1e300);
        for (int round = 0; round < o.rounds; round++) {
            for (size_t c = 0; c < o.chunks.size(); c++) {
                best[c] = std::min(best[c], median_ms([&] { call(o.chunks[c], &error); }, o));
            }
        }
        if (!error.ok()) {
            std::fprintf(stderr, "hmlstm_tune: %s\n", error.message.c_str());
            return 1;
        }
        for (size_t c = 0; c < o.chunks.size(); c++) {
            std::printf("{\"form\": \"chunkwise\", \"dtype\": \"%s\", \"heads\": %lld, \"S\": %lld, \"DHQK\": %lld, "
                        "\"DHV\": %lld, \"chunk_size\": %lld, \"ms\": %.5f}\n",
                        dtype, (long long)(s.B * s.NH), (long long)s.S, (long long)s.DHQK, (long long)s.DHV,
                        (long long)o.chunks[c], best[c]);
        }
        std::fflush(stdout);
    }
    return 0;
}
