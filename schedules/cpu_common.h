// Scheduling helpers shared by the CPU schedules of every form.
#pragma once

#include "Halide.h"

namespace hmlstm {

// Register-block knobs of the small matrix products. Zero means "choose for the target".
struct CpuKnobs {
    int vector_blocks = 0;  // vectors along the contiguous (column) dimension of a register block
    int row_block = 0;      // rows of a register block
    int vector_width = 0;   // floats per vector
};

// Fills in the zero knobs for the target: the block must fit the register file (32 vector registers with
// AVX-512, 16 otherwise) with room for the loaded operands.
inline CpuKnobs resolve_knobs(CpuKnobs knobs, const Halide::Target &target) {
    const bool avx512 = target.has_feature(Halide::Target::AVX512);
    if (knobs.vector_width == 0) knobs.vector_width = target.natural_vector_size<float>();
    if (knobs.vector_blocks == 0) knobs.vector_blocks = 2;
    if (knobs.row_block == 0) knobs.row_block = avx512 ? 8 : 4;
    return knobs;
}

// An accumulator f(col, row, ...) = 0; f(col, row, ...) += ... over one or more updates, computed at a consumer's
// tile of (vector_blocks * vector_width) x row_block: every stage is vectorized along col and fully unrolled, and
// each update runs its reduction outside the block, so the block lives in registers.
inline void schedule_register_block(Halide::Func f, const Halide::Var &col, const Halide::Var &row,
                                    const CpuKnobs &knobs) {
    Halide::Var col_inner{col.name() + "_vi"};
    f.split(col, col, col_inner, knobs.vector_width).reorder(col_inner, col, row)
        .vectorize(col_inner).unroll(col).unroll(row);
    for (int i = 0; i < f.num_update_definitions(); i++) {
        Halide::Stage s = f.update(i);
        std::vector<Halide::VarOrRVar> order{col_inner, col, row};
        for (const auto &r : s.get_schedule().rvars()) order.emplace_back(Halide::RVar(r.var));
        s.split(col, col, col_inner, knobs.vector_width).reorder(order)
            .vectorize(col_inner).unroll(col).unroll(row);
    }
}

// `out` computed at `at` in (vector_blocks * vector_width) x row_block tiles along (x, y), each tile from a register
// block of `acc`, the product it reads. ShiftInwards tails: the math clamps every index it reads, so a last tile that
// overlaps the one before is harmless.
inline void tile_from_register_blocks(Halide::Func out, Halide::Func acc, const Halide::Var &x, const Halide::Var &y,
                                      const Halide::LoopLevel &at, const CpuKnobs &knobs) {
    Halide::Var x_o{x.name() + "_o"}, y_o{y.name() + "_o"}, x_i{x.name() + "_i"}, y_i{y.name() + "_i"};
    out.compute_at(at)
        .tile(x, y, x_o, y_o, x_i, y_i, knobs.vector_width * knobs.vector_blocks, knobs.row_block,
              Halide::TailStrategy::ShiftInwards)
        .vectorize(x_i, knobs.vector_width).unroll(y_i);
    acc.compute_at(out, x_o);
    schedule_register_block(acc, x, y, knobs);
}

// A scan's step, scan.update(update)(col, row, step, bh) = decay * previous + delta(col, row, step, bh): tiled into
// register blocks whose new state is written straight from the registers that accumulate the step's delta (no
// delta buffer). The blocks have constant extents also at the edges (bound_extent): an update's tiles are guarded
// there, as it cannot shift its last block inwards over the one before.
inline void schedule_scan_in_register_blocks(Halide::Func scan, int update, Halide::Func delta, const Halide::Var &col,
                                             const Halide::Var &row, const Halide::RVar &step, const Halide::Var &bh,
                                             const CpuKnobs &knobs) {
    const int cols = knobs.vector_width * knobs.vector_blocks;
    Halide::Var col_o{col.name() + "_o"}, col_i{col.name() + "_i"}, row_o{row.name() + "_o"}, row_i{row.name() + "_i"};
    scan.update(update).reorder(col, row, step, bh).parallel(bh)
        .tile(col, row, col_o, row_o, col_i, row_i, cols, knobs.row_block, Halide::TailStrategy::GuardWithIf)
        .vectorize(col_i, knobs.vector_width).unroll(row_i);
    delta.compute_at(scan, col_o).bound_extent(col, cols).bound_extent(row, knobs.row_block);
    schedule_register_block(delta, col, row, knobs);
}

// An output per token, out(col, t, bh), split into chunks of L tokens (loop `chunk`, parallel inside the parallel
// heads) and stored in (vector_blocks * vector_width) x row_block blocks straight from the registers of `sum`, the
// Func it divides or narrows, computed per block (store_block_sum). The blocks at the output's edges (a partial last
// chunk, features not a multiple of the block) guard their stores.
inline const Halide::Var &token_block() {
    static const Halide::Var block{"token_block"};
    return block;
}
inline void store_in_register_blocks(Halide::Stage out, const Halide::Var &col, const Halide::Var &t,
                                     const Halide::Var &chunk, const Halide::Var &bh, const Halide::Expr &L,
                                     const CpuKnobs &knobs) {
    const Halide::TailStrategy guard = Halide::TailStrategy::GuardWithIf;
    Halide::Var pos{"pos"}, col_o{col.name() + "_o"}, col_i{col.name() + "_i"}, t_i{"t_i"};
    out.split(t, chunk, pos, L, guard)
        .tile(col, pos, col_o, token_block(), col_i, t_i, knobs.vector_width * knobs.vector_blocks, knobs.row_block,
              guard)
        .reorder(col_i, t_i, token_block(), col_o, chunk, bh).parallel(chunk).parallel(bh)
        .vectorize(col_i, knobs.vector_width).unroll(t_i);
}
// The sum itself, per block of `out` (store_in_register_blocks): whole blocks also at the edges (its reads are
// clamped by the math), in registers.
inline void store_block_sum(Halide::Func out, Halide::Func sum, const Halide::Var &col, const Halide::Var &t,
                            const CpuKnobs &knobs) {
    sum.compute_at(out, token_block())
        .bound_extent(col, knobs.vector_width * knobs.vector_blocks).bound_extent(t, knobs.row_block);
    schedule_register_block(sum, col, t, knobs);
}

// A reduction per row (a sum or a max over an RDom for every row, in the pure definition's loops) computed for
// `vec` rows at a time: vectorized along the rows, the reductions outside them, so that each step is one vector
// operation (loads strided across rows become gathers) instead of a scalar chain waiting on every add's latency.
inline void vectorize_across_rows(Halide::Func f, const Halide::Var &row, int vec) {
    f.vectorize(row, vec, Halide::TailStrategy::GuardWithIf);
    for (int i = 0; i < f.num_update_definitions(); i++) {
        Halide::Stage s = f.update(i);
        std::vector<Halide::VarOrRVar> order{row};
        for (const auto &r : s.get_schedule().rvars()) order.emplace_back(Halide::RVar(r.var));
        s.reorder(order).vectorize(row, vec, Halide::TailStrategy::GuardWithIf);
    }
}

}  // namespace hmlstm
