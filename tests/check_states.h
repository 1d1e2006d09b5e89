// Catch checks of last (or new) states against the reference: C and n relative per slice, m in log space.
#pragma once

#include <catch2/catch.hpp>

#include "test_support.h"

namespace test {

inline void check_states(const hmlstm_ref::States &out, const hmlstm_ref::States &ref, const Shape &s,
                         double bound = 1e-5) {
    Comparison c = compare(out.c, ref.c, s.DHQK * s.DHV), n = compare(out.n, ref.n, s.DHQK);
    Comparison m = compare_max_state(out.m, ref.m);
    INFO("C: " << c.describe() << "; n: " << n.describe() << "; m: " << m.describe());
    CHECK(c.worst <= bound);
    CHECK(n.worst <= bound);
    CHECK(m.worst <= bound);
}

}  // namespace test
