#include "report.h"

#include <hmlstm/hmlstm.h>

#include <cstdio>
#include <ctime>

namespace bench {

void print_table(const std::vector<Row> &rows, const Units &units) {
    std::printf("\n%-34s %-40s %10s %10s %10s %s\n", "kernel", "shape", "ms", units.flops, units.bytes, "of ceiling");
    for (const Row &r : rows) {
        std::printf("%-34s %-40s %10.4f %10.2f %10.3f %5.1f%% of %s\n", r.name.c_str(), r.shape.c_str(), r.ms,
                    r.flop_rate, r.byte_rate, 100 * r.fraction, r.ceiling.c_str());
    }
}

bool write_json(const char *path, const std::string &header, const std::vector<Row> &rows, const Units &units) {
    FILE *json = std::fopen(path, "w");
    if (!json) return false;
    std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::fprintf(json, "{\n  \"library\": \"hmlstm %s\",\n  \"date\": \"%s\",\n%s  \"rows\": [\n", hmlstm::version(),
                 date, header.c_str());
    for (size_t idx = 0; idx < rows.size(); idx++) {
        const Row &r = rows[idx];
        std::fprintf(json,
                     "    {\"kernel\": \"%s\", \"shape\": \"%s\", \"ms\": %.5f, \"%s\": %.4f, \"%s\": %.4f, "
                     "\"fraction_of_ceiling\": %.4f, \"ceiling\": \"%s\"}%s\n",
                     r.name.c_str(), r.shape.c_str(), r.ms, units.flops_key, r.flop_rate, units.bytes_key, r.byte_rate,
                     r.fraction, r.ceiling.c_str(), idx + 1 < rows.size() ? "," : "");
    }
    std::fprintf(json, "  ]\n}\n");
    std::fclose(json);
    std::printf("\nwrote %s\n", path);
    return true;
}

}  // namespace bench
