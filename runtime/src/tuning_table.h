// The tuning tables (autotune/): which compiled chunkwise variant serves a call whose options leave the choice to
// the table (chunk_size = 0). One table per target (cpu, cuda): a default compiled in from autotune/tables/, or
// one the user loads (load_tuning_table, or the HMLSTM_TUNING_TABLE environment variable at first use).
#pragma once

#include <string>

#include "hmlstm/hmlstm.h"

namespace hmlstm::detail {

struct TunedChoice {
    int64_t chunk_size = 64;  // without any entry: the xlstm_jax default
    std::string schedule = "default";
};

// The choice for a call: each compiled variant's (chunk size, schedule) time relative to the best, averaged over
// the 4 table entries nearest to the call's shape (distance in log space over B*NH, S, DHQK, DHV; weights
// 1 / (distance + 0.05)) among the entries for its dtype; the smallest average wins, the default schedule on ties.
// A schedule an entry did not time at a chunk size counts as the default there times the schedule's factor over
// the default at the chunk sizes where the entry timed both.
// A chunk_size other than 0 fixes the chunk size and leaves the schedule to the table. The default choice (at
// that chunk size) when the table has no entry. On CUDA the timings of the call's product path decide (keys "L"
// for tensor cores, "L/simt" for SIMT), and the schedule is the default.
TunedChoice tuned_chunkwise(DType dtype, Device device, const Shape &shape, int64_t chunk_size = 0,
                            CudaProducts products = CudaProducts::tensor_cores);

// Parses and checks a table; on success it replaces the table of its target. `origin` names it in messages.
Error install_table(const std::string &text, const std::string &origin);

// Back to the built-in tables.
void reset_tables();

// Where the table of a target came from: "built-in (...)", a path, or "none".
std::string table_origin(Device device);

}  // namespace hmlstm::detail
