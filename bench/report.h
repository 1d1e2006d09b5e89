// What every benchmark prints: a table on stdout and the same rows as JSON.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct Row {
    std::string name, shape;
    double ms = 0, flop_rate = 0, byte_rate = 0;  // in the report's units; 0 where the row has none
    double fraction = 0;                          // of the ceiling that applies
    std::string ceiling;
};

// Units of the rates: names for the table, keys for the JSON.
struct Units {
    const char *flops, *bytes, *flops_key, *bytes_key;
};

void print_table(const std::vector<Row> &rows, const Units &units);

// Writes {"library", "date", <header: JSON members, each followed by a comma>, "rows"}; false if it cannot.
bool write_json(const char *path, const std::string &header, const std::vector<Row> &rows, const Units &units);

}  // namespace bench
