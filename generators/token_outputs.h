// Glue shared by the generators whose outputs are per token.
#pragma once

#include "Halide.h"

namespace hmlstm {

// An output per token, (features, t, bh) or (t, bh), declared to cover exactly the inputs' tokens (and, where
// given, features) from 0, as the runtime passes it. With that known, Halide can prove a block of tokens to lie in
// one chunk and drop the clamps of the states' and inputs' reads in the schedules' loops over the output.
inline void covers_inputs_tokens(Halide::OutputImageParam out, const Halide::Expr &seq_len, const Halide::Expr &heads,
                                 const Halide::Expr &features = Halide::Expr()) {
    const int t = out.dimensions() - 2;
    if (features.defined()) out.dim(0).set_bounds(0, features);
    out.dim(t).set_bounds(0, seq_len);
    out.dim(t + 1).set_bounds(0, heads);
}

}  // namespace hmlstm
