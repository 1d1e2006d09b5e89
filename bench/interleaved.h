// Timing several variants of one measurement against each other: one warm-up call each, then rounds of one call
// of each, in a fresh random order every round, so that a drift of the machine's speed touches all of them alike
// and no variant always follows the same one (whose data it would find in the caches, or not). Used by the
// benchmarks and the autotuner's driver.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

namespace bench {

// Median milliseconds of each of `runs`: rounds until every one has `min_ms` in total and at least 5 calls (3 for
// calls over 50 ms), at most 500 rounds. `sync` waits for the device after each call (a no-op on the CPU).
inline std::vector<double> interleaved_medians(const std::vector<std::function<void()>> &runs, double min_ms,
                                               const std::function<void()> &sync = [] {}) {
    for (const auto &run : runs) run();
    sync();
    std::vector<std::vector<double>> ms(runs.size());
    std::vector<double> total(runs.size(), 0.0);
    auto done = [&] {
        for (size_t r = 0; r < runs.size(); r++) {
            const size_t needed = !ms[r].empty() && ms[r][0] > 50.0 ? 3 : 5;
            if (ms[r].size() < needed || total[r] < min_ms) return false;
        }
        return true;
    };
    std::vector<size_t> order(runs.size());
    for (size_t r = 0; r < order.size(); r++) order[r] = r;
    std::mt19937 rng(11);
    for (int round = 0; round < 500 && !done(); round++) {
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t r : order) {
            const auto start = std::chrono::steady_clock::now();
            runs[r]();
            sync();
            ms[r].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
            total[r] += ms[r].back();
        }
    }
    std::vector<double> medians;
    for (auto &m : ms) {
        std::sort(m.begin(), m.end());
        medians.push_back(m[m.size() / 2]);
    }
    return medians;
}

}  // namespace bench
