// hmlstm_tune: times compiled chunkwise variants (chunk size, schedule) at the shapes it is given, on the CPU or on
// a CUDA device, and prints one JSON object per (shape, variant) on stdout. autotune/tune.py drives it over a grid.
//
//   hmlstm_tune --device cpu|cuda --dtype float32|bfloat16 [--min-ms 150] [--variants 16,64,64/vb1_rb8,0]
//               HEADS,S,DHQK,DHV [HEADS,S,DHQK,DHV ...]
//   hmlstm_tune --device cpu|cuda --schedules      (lists the compiled schedules)
// A variant is a chunk size, optionally with a schedule ("64/vb1_rb8"); default: every chunk size with every
// schedule ("L/simt" on CUDA: the SIMT product path). Variant 0 times what the library's tuning table picks (the
// dispatch itself) and reports its pick.
// The variants of a shape are timed interleaved (bench/interleaved.h): one call of each in turn, in a random order
// each round; each reports its median.
#include <hmlstm/hmlstm.h>

#include "interleaved.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifdef HMLSTM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

// On CUDA, the variants "L/simt" run the SIMT product path (cuda_products = simt); "L" runs on tensor cores.
const char *const kSimt = "simt";

struct Variant {
    int64_t chunk_size = 0;  // 0: the tuning table's choice
    std::string schedule;    // empty: the table's (variant 0) or the default one
    std::string key() const {
        return std::to_string(chunk_size) + (schedule.empty() || schedule == "default" ? "" : "/" + schedule);
    }
};

struct Options {
    hmlstm::Device device = hmlstm::Device::cpu;
    hmlstm::DType dtype = hmlstm::DType::float32;
    double min_ms = 150;  // each variant timed at least this long in all
    std::vector<Variant> variants;
    std::vector<hmlstm::Shape> shapes;
};

[[noreturn]] void usage(const std::string &why) {
    std::fprintf(stderr, "hmlstm_tune: %s\nusage: hmlstm_tune --device cpu|cuda --dtype float32|bfloat16 "
                         "[--min-ms MS] [--variants L[/SCHEDULE],...] HEADS,S,DHQK,DHV ...\n", why.c_str());
    std::exit(2);
}

// "16,64,64/vb1_rb8,0"
std::vector<Variant> variants(const std::string &text) {
    std::vector<Variant> out;
    std::stringstream items(text);
    for (std::string item; std::getline(items, item, ',');) {
        const size_t slash = item.find('/');
        char *end = nullptr;
        Variant v{std::strtoll(item.c_str(), &end, 10), slash == std::string::npos ? "" : item.substr(slash + 1)};
        if (end == item.c_str() || (*end != '\0' && *end != '/')) usage("not a variant: " + item);
        out.push_back(v);
    }
    return out;
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
    bool variants_given = false;
    for (int a = 1; a < argc; a++) {
        const std::string arg = argv[a];
        auto next = [&]() -> const char * {
            if (a + 1 >= argc) usage(arg + " needs a value");
            return argv[++a];
        };
        if (arg == "--version") {
            std::printf("%s\n", hmlstm::version());
            std::exit(0);
        } else if (arg == "--schedules") {  // after --device: the compiled schedules, one a line
            for (const std::string &name : hmlstm::compiled_chunkwise_schedules(o.device)) std::printf("%s\n", name.c_str());
            if (o.device == hmlstm::Device::cuda) std::printf("%s\n", kSimt);
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
        } else if (arg == "--variants") {
            o.variants = variants(next());
            variants_given = true;
        } else {
            std::vector<int64_t> d = numbers(arg.c_str());
            if (d.size() != 4) usage("a shape is HEADS,S,DHQK,DHV: " + arg);
            o.shapes.push_back({1, d[0], d[1], d[2], d[3]});
        }
    }
    if (o.shapes.empty()) usage("no shape given");
    if (!variants_given) {
        int count = 0;
        const int64_t *chunks = hmlstm::compiled_chunk_sizes(&count);
        for (int c = 0; c < count; c++) {
            for (const std::string &schedule : hmlstm::compiled_chunkwise_schedules(o.device)) {
                o.variants.push_back({chunks[c], schedule});
            }
        }
    }
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

void synchronize(const Options &o) {
#ifdef HMLSTM_WITH_CUDA
    if (o.device == hmlstm::Device::cuda) cudaDeviceSynchronize();
#endif
    (void)o;
}

}  // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    const char *dtype = o.dtype == hmlstm::DType::bfloat16 ? "bfloat16" : "float32";
    for (const hmlstm::Shape &s : o.shapes) {
        Buffers b(o, s);
        hmlstm::Error error;
        std::vector<std::function<void()>> runs;
        std::vector<std::string> picked;  // the variant each one runs (variant 0: the table's pick)
        for (const Variant &v : o.variants) {
            hmlstm::ChunkwiseOptions opt;
            opt.chunk_size = v.chunk_size;
            // A bare chunk size is the default schedule (the API would take the table's best at that size).
            opt.schedule = v.chunk_size != 0 && v.schedule.empty() ? "default" : v.schedule;
            if (o.device == hmlstm::Device::cuda && v.schedule == kSimt) {
                opt.cuda_products = hmlstm::CudaProducts::simt;
                opt.schedule.clear();
            }
            opt.check_finite = false;
            opt.device.kind = o.device;
            hmlstm::ChunkwiseVariant runs_as;
            if (error.ok()) error = hmlstm::chunkwise_variant(s, o.dtype, opt, &runs_as);
            const bool simt = opt.cuda_products == hmlstm::CudaProducts::simt;
            picked.push_back(Variant{runs_as.chunk_size, simt ? kSimt : runs_as.schedule}.key());
            runs.push_back([&, opt] {
                if (error.ok()) {
                    error = hmlstm::mlstm_chunkwise_fw(s, {b.q, b.k, b.v, o.dtype},
                                                       {static_cast<float *>(b.i), static_cast<float *>(b.f)}, b.h,
                                                       {}, {}, opt);
                }
            });
        }
        // Warm the machine up first (thread pool, page faults, clocks), so that the first variant timed is not
        // the one that pays for it.
        Options warm = o;
        warm.min_ms = std::max(100.0, o.min_ms / 2);
        auto sync = [&o] { synchronize(o); };
        bench::interleaved_medians({runs.front()}, warm.min_ms, sync);
        const std::vector<double> ms = bench::interleaved_medians(runs, o.min_ms, sync);
        if (!error.ok()) {
            std::fprintf(stderr, "hmlstm_tune: %s\n", error.message.c_str());
            return 1;
        }
        for (size_t v = 0; v < o.variants.size(); v++) {
            std::printf("{\"form\": \"chunkwise\", \"dtype\": \"%s\", \"heads\": %lld, \"S\": %lld, \"DHQK\": %lld, "
                        "\"DHV\": %lld, \"variant\": \"%s\", \"runs\": \"%s\", \"ms\": %.5f}\n",
                        dtype, (long long)(s.B * s.NH), (long long)s.S, (long long)s.DHQK, (long long)s.DHV,
                        o.variants[v].key().c_str(), picked[v].c_str(), ms[v]);
        }
        std::fflush(stdout);
    }
    return 0;
}
