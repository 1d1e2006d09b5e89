#include "tuning_table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "json.h"
#include "kernels.h"

namespace hmlstm::detail {

// The built-in tables, generated from autotune/tables/*.json at build time (empty when there is none).
extern const char *const kBuiltinCpuTable;
extern const char *const kBuiltinCudaTable;

namespace {

// How many of the nearest table entries a call's choice is averaged over.
constexpr size_t kNeighbours = 4;

struct Entry {
    DType dtype;
    double heads, S, DHQK, DHV;
    TunedChoice choice;
    std::map<std::string, double> relative;  // each timed variant's time over the entry's best time, by key
    std::map<std::string, double> factor;    // each CPU schedule's schedule_factor
};

// A variant's key in a table's "timings_ms": "64" for chunk 64 with the default schedule, "64/vb1_rb8" otherwise.
std::string variant_key(int64_t chunk, const std::string &schedule) {
    return schedule == kDefaultSchedule ? std::to_string(chunk) : std::to_string(chunk) + "/" + schedule;
}

struct Table {
    std::vector<Entry> entries;
    std::string origin = "none";
};

struct Tables {
    std::mutex lock;
    std::shared_ptr<const Table> cpu = std::make_shared<Table>(), cuda = std::make_shared<Table>();
};

bool is_compiled(int64_t chunk) {
    for (int i = 0; i < kNumChunkSizes; i++) {
        if (kChunkSizes[i] == chunk) return true;
    }
    return false;
}

// The schedules a table of a target may time: the compiled ones; on CUDA "simt" too, the SIMT product path, whose
// timings choose the chunk size of calls with cuda_products = simt (the path itself is the caller's choice).
const std::vector<std::string> &table_schedules(Device device) {
    static const std::vector<std::string> cuda{kDefaultSchedule, kSimtSchedule};
    return device == Device::cuda ? cuda : chunkwise_schedules(device);
}

bool is_compiled(const std::string &schedule, Device device) {
    const std::vector<std::string> &names = table_schedules(device);
    return std::find(names.begin(), names.end(), schedule) != names.end();
}

// Parses a "timings_ms" key ("L" or "L/schedule") into a compiled variant's chunk size and schedule.
bool parse_key(const std::string &key, Device device, int64_t *chunk, std::string *schedule) {
    const size_t slash = key.find('/');
    const std::string number = key.substr(0, slash);
    if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) return false;
    *chunk = std::atoll(number.c_str());
    *schedule = slash == std::string::npos ? kDefaultSchedule : key.substr(slash + 1);
    const bool canonical = slash == std::string::npos || *schedule != kDefaultSchedule;  // "64", not "64/default"
    return canonical && is_compiled(*chunk) && is_compiled(*schedule, device);
}

// How much faster or slower a schedule is than the default in an entry: the geometric mean of its time over the
// default's at the chunk sizes where the entry timed both (1 where it timed it nowhere). A schedule's effect comes
// from the head dims (what divides them), which the entry has, more than from the chunk size.
double schedule_factor(const Entry &e, const std::string &schedule) {
    double log_sum = 0;
    int count = 0;
    for (int c = 0; c < kNumChunkSizes; c++) {
        auto with = e.relative.find(variant_key(kChunkSizes[c], schedule));
        auto without = e.relative.find(variant_key(kChunkSizes[c], kDefaultSchedule));
        if (with == e.relative.end() || without == e.relative.end()) continue;
        log_sum += std::log(with->second / without->second);
        count++;
    }
    return count ? std::exp(log_sum / count) : 1.0;
}

// Parses and checks a table: any problem is an error that names the table and the entry.
Error parse_table(const std::string &text, const std::string &origin, Device *device, Table *table) {
    auto bad = [&](const std::string &why) {
        return Error{Status::invalid_argument, "tuning table " + origin + ": " + why};
    };
    Json doc;
    std::string why;
    if (!parse_json(text, &doc, &why)) return bad("not JSON (" + why + ")");
    const Json *format = doc.get("format"), *version = doc.get("version"), *target = doc.get("target");
    if (!format || format->string != "hmlstm-tuning-table") return bad("\"format\" is not \"hmlstm-tuning-table\"");
    // Version 1 tables time chunk sizes only; version 2 adds the schedules ("64/vb1_rb8").
    if (!version || version->kind != Json::Kind::number || (version->number != 1 && version->number != 2)) {
        return bad("\"version\" is not 1 or 2, the versions this library reads");
    }
    if (!target || (target->string != "cpu" && target->string != "cuda")) return bad("\"target\" is not cpu or cuda");
    *device = target->string == "cuda" ? Device::cuda : Device::cpu;
    const Json *entries = doc.get("entries");
    if (!entries || entries->kind != Json::Kind::array) return bad("no \"entries\" array");
    for (size_t idx = 0; idx < entries->array.size(); idx++) {
        const Json &e = entries->array[idx];
        const std::string where = "entry " + std::to_string(idx) + ": ";
        const Json *form = e.get("form"), *dtype = e.get("dtype"), *winner = e.get("winner");
        if (!form || form->string != "chunkwise") continue;  // forms a later version may tune
        if (!dtype || (dtype->string != "float32" && dtype->string != "bfloat16")) {
            return bad(where + "\"dtype\" is not float32 or bfloat16");
        }
        Entry entry{dtype->string == "bfloat16" ? DType::bfloat16 : DType::float32, 0, 0, 0, 0, {}};
        double *dims[] = {&entry.heads, &entry.S, &entry.DHQK, &entry.DHV};
        const char *names[] = {"heads", "S", "DHQK", "DHV"};
        for (int d = 0; d < 4; d++) {
            const Json *v = e.get(names[d]);
            if (!v || v->kind != Json::Kind::number || !(v->number >= 1)) {
                return bad(where + "\"" + names[d] + "\" is not a positive number");
            }
            *dims[d] = v->number;
        }
        const Json *chunk = winner ? winner->get("chunk_size") : nullptr;
        if (!chunk || chunk->kind != Json::Kind::number || !is_compiled(int64_t(chunk->number))) {
            return bad(where + "\"winner\".\"chunk_size\" is not a compiled chunk size");
        }
        entry.choice.chunk_size = int64_t(chunk->number);
        if (const Json *schedule = winner->get("schedule")) {
            if (!is_compiled(schedule->string, *device)) {
                return bad(where + "\"winner\".\"schedule\" \"" + schedule->string + "\" is not compiled in this build");
            }
            entry.choice.schedule = schedule->string;
        }
        if (const Json *timings = e.get("timings_ms"); timings && timings->kind == Json::Kind::object) {
            double best_of[2] = {0, 0};
            std::map<std::string, bool> simt;  // each key's product path
            for (const auto &[key, ms] : timings->object) {
                int64_t L = 0;
                std::string schedule;
                if (!parse_key(key, *device, &L, &schedule)) {
                    return bad(where + "\"timings_ms\" key \"" + key + "\" is not a variant compiled in this build");
                }
                if (ms.kind != Json::Kind::number || !(ms.number > 0)) {
                    return bad(where + "\"timings_ms\" \"" + key + "\" is not a positive time");
                }
                entry.relative[key] = ms.number;
                simt[key] = schedule == kSimtSchedule;
                double &best = best_of[simt[key]];
                best = best == 0 ? ms.number : std::min(best, ms.number);
            }
            // Relative to the best of the same product path (on CUDA tensor cores and SIMT are two choices).
            for (auto &[key, ms] : entry.relative) ms /= best_of[simt[key]];
            for (const std::string &schedule : chunkwise_schedules(*device)) {
                if (schedule != kDefaultSchedule) entry.factor[schedule] = schedule_factor(entry, schedule);
            }
        }
        table->entries.push_back(entry);
    }
    table->origin = origin;
    return {};
}

// The built-in table of a target (an empty one where none was built in).
std::shared_ptr<const Table> builtin(Device device) {
    const char *text = device == Device::cuda ? kBuiltinCudaTable : kBuiltinCpuTable;
    const char *name = device == Device::cuda ? "built-in autotune/tables/cuda.json" : "built-in autotune/tables/cpu.json";
    auto table = std::make_shared<Table>();
    Device target;
    if (text && *text && parse_table(text, name, &target, table.get()).ok() && target == device) return table;
    return std::make_shared<Table>();
}

Tables &tables() {
    static Tables *t = [] {
        auto *t = new Tables();
        t->cpu = builtin(Device::cpu);
        t->cuda = builtin(Device::cuda);
        // Then the environment's table (a bad one is reported once and ignored).
        if (const char *path = std::getenv("HMLSTM_TUNING_TABLE"); path && *path) {
            std::ifstream in(path);
            std::stringstream text;
            text << in.rdbuf();
            auto table = std::make_shared<Table>();
            Device device;
            Error e = in ? parse_table(text.str(), path, &device, table.get())
                         : Error{Status::invalid_argument, std::string("tuning table ") + path + ": cannot be read"};
            if (e.ok()) {
                (device == Device::cuda ? t->cuda : t->cpu) = table;
            } else {
                std::fprintf(stderr, "hmlstm: HMLSTM_TUNING_TABLE ignored, the built-in table stays: %s\n",
                             e.message.c_str());
            }
        }
        return t;
    }();
    return *t;
}

std::shared_ptr<const Table> table_for(Device device) {
    Tables &t = tables();
    std::lock_guard<std::mutex> guard(t.lock);
    return device == Device::cuda ? t.cuda : t.cpu;
}

}  // namespace

TunedChoice tuned_chunkwise(DType dtype, Device device, const Shape &s, int64_t fixed_chunk, CudaProducts products) {
    const std::shared_ptr<const Table> table = table_for(device);
    const double want[] = {std::log(double(s.B * s.NH)), std::log(double(s.S)), std::log(double(s.DHQK)),
                           std::log(double(s.DHV))};
    // The nearest entries of the call's dtype (distance in log space), nearest first.
    std::vector<std::pair<double, const Entry *>> near;
    for (const Entry &e : table->entries) {
        if (e.dtype != dtype) continue;
        const double have[] = {std::log(e.heads), std::log(e.S), std::log(e.DHQK), std::log(e.DHV)};
        double squared = 0;
        for (int d = 0; d < 4; d++) squared += (want[d] - have[d]) * (want[d] - have[d]);
        near.emplace_back(std::sqrt(squared), &e);
    }
    TunedChoice choice;
    if (fixed_chunk != 0) choice.chunk_size = fixed_chunk;
    if (near.empty()) return choice;
    const size_t k = std::min<size_t>(kNeighbours, near.size());
    std::partial_sort(near.begin(), near.begin() + k, near.end());
    // An entry's relative time of a variant: its timing; for a CPU schedule it did not time at that chunk size,
    // the default schedule's time there times the schedule's own factor in this entry (schedule_factor); without
    // either, 1 for its winner and 2 for anything else.
    auto relative = [](const Entry &e, int64_t L, const std::string &schedule) {
        if (auto it = e.relative.find(variant_key(L, schedule)); it != e.relative.end()) return it->second;
        if (auto it = e.relative.find(variant_key(L, kDefaultSchedule));
            it != e.relative.end() && schedule != kSimtSchedule) {
            auto factor = e.factor.find(schedule);
            return it->second * (factor != e.factor.end() ? factor->second : 1.0);
        }
        return e.choice.chunk_size == L && e.choice.schedule == schedule ? 1.0 : 2.0;
    };
    // Each variant's relative time, averaged over the k nearest entries weighted by closeness; the smallest wins.
    double best_score = 0;
    bool first = true;
    for (int c = 0; c < kNumChunkSizes; c++) {
        const int64_t L = kChunkSizes[c];
        if (fixed_chunk != 0 && L != fixed_chunk) continue;
        // On CUDA the one schedule of the call's product path.
        const std::vector<std::string> cuda{products == CudaProducts::simt ? kSimtSchedule : kDefaultSchedule};
        for (const std::string &schedule : device == Device::cuda ? cuda : chunkwise_schedules(device)) {
            double score = 0, weight = 0;
            for (size_t n = 0; n < k; n++) {
                const double w = 1.0 / (near[n].first + 0.05);
                score += w * relative(*near[n].second, L, schedule);
                weight += w;
            }
            score /= weight;
            if (first || score < best_score) best_score = score, choice = {L, schedule}, first = false;
        }
    }
    if (device == Device::cuda) choice.schedule = kDefaultSchedule;
    return choice;
}

Error install_table(const std::string &text, const std::string &origin) {
    auto table = std::make_shared<Table>();
    Device device;
    Error e = parse_table(text, origin, &device, table.get());
    if (!e.ok()) return e;
    Tables &t = tables();
    std::lock_guard<std::mutex> guard(t.lock);
    (device == Device::cuda ? t.cuda : t.cpu) = table;
    return {};
}

void reset_tables() {
    Tables &t = tables();
    std::lock_guard<std::mutex> guard(t.lock);
    t.cpu = builtin(Device::cpu);
    t.cuda = builtin(Device::cuda);
}

std::string table_origin(Device device) { return table_for(device)->origin; }

}  // namespace hmlstm::detail
