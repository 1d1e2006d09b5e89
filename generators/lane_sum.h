// Per-position sums over features, and the order they are added in. In a GPU warp's order: 32 partial sums (partial
// u holds features u, u + 32, u + 64, ..., or in blocked order 4u .. 4u + 3 of each 128), then a butterfly of
// rotations, lane u adding lane (u + w) mod 32 for w = 16, 8, 4, 2, 1, after which every lane holds the whole sum.
// The same sum as an RDom reduction, in another order; the tensor-core paths use it for the per-position sums over
// rows that a warp reads coalesced (a schedule puts u on the lanes and the butterfly on register shuffles:
// schedules/chunkwise_cuda_stages.h, lane_sums). Halide 21 lowers an rfactor-ed atomic update across lanes only on
// Metal, so the butterfly is written out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mlstm_math.h"

namespace hmlstm {

struct LaneSum {
    static constexpr int lanes = 32;
    static constexpr int pass_group = 4;  // a lane's terms come in groups of this many (a head dim of 128: one)
    // Which features a lane sums. Interleaved: lane u takes u, u + 32, u + 64, ... (a pass over the lanes reads 32
    // consecutive features). Blocked: lane u takes the pass_group consecutive features from pass_group * u in each
    // span of 128, the features a lane holds when a stage stores 4 consecutive ones per lane (16-byte vectors).
    enum class Order { interleaved, blocked };
    Var u{"u"};
    Func partial;             // (u, args...): one update per range of terms
    std::vector<Func> steps;  // the butterfly; steps.back()(u, args...) is the whole sum at every u
    std::vector<Var> args;
    // Per range: in blocked order, its number of passes where known when defined (a schedule may unroll them all,
    // so that the terms' indices are constants), else 0.
    std::vector<int> pass_counts;
    Expr total() const {  // the sum, as lane 0 holds it
        std::vector<Expr> at{0};
        at.insert(at.end(), args.begin(), args.end());
        return steps.back()(at);
    }
};

// One range of summed terms: term(feature) for feature in [0, extent). `last`, where set, says that the terms past
// it are zero (a causal row: features up to the position itself): the warp order then skips every group of 32
// features that lies wholly past it, a branch the whole warp takes together (a warp sums one position). The RDom
// order sums every term.
struct LaneSumTerms {
    std::function<Expr(const Expr &)> term;
    Expr extent;
    Expr last = Expr();
};

inline LaneSum define_lane_sum(const std::string &name, const std::vector<Var> &args,
                               const std::vector<LaneSumTerms> &ranges,
                               LaneSum::Order order = LaneSum::Order::interleaved) {
    LaneSum s;
    s.args = args;
    s.partial = Func(name + "_lanes");
    auto at = [&](const Expr &lane) {
        std::vector<Expr> index{lane};
        index.insert(index.end(), args.begin(), args.end());
        return index;
    };
    s.partial(at(s.u)) = 0.0f;
    for (size_t k = 0; k < ranges.size(); k++) {
        const LaneSumTerms &range = ranges[k];
        // Passes over the lanes in whole groups of `pass_group` (features past the extent add zeros), so that a
        // schedule may unroll a group without a guard.
        const int group = LaneSum::pass_group, span = LaneSum::lanes * group;
        const bool blocked = order == LaneSum::Order::blocked;
        const auto known_extent = Halide::Internal::as_const_int(range.extent);
        s.pass_counts.push_back(blocked && known_extent ? int((*known_extent + span - 1) / span * group) : 0);
        RDom r(0, (range.extent + span - 1) / span * group, name + "_r" + std::to_string(k));
        // The first feature of pass r's 32 (interleaved), or of its span of 128 (blocked): the causal skip drops
        // the passes (the spans) that lie wholly past `last`.
        Expr first = blocked ? r / group * span : r * LaneSum::lanes;
        if (range.last.defined()) r.where(first <= range.last);
        Expr feature = blocked ? first + s.u * group + r % group : first + s.u;
        s.partial(at(s.u)) +=
            Halide::select(feature < range.extent, range.term(Halide::min(feature, range.extent - 1)), 0.0f);
    }
    Func previous = s.partial;
    for (int w = LaneSum::lanes / 2; w >= 1; w /= 2) {
        Func step(name + "_step" + std::to_string(w));
        step(at(s.u)) = previous(at(s.u)) + previous(at((s.u + w) % LaneSum::lanes));
        s.steps.push_back(step);
        previous = step;
    }
    return s;
}

// fn(args) = the sum of every range's terms: in a warp's order when `warp_order` (the returned LaneSum is what a
// schedule maps onto lanes; `order` says which features a lane takes), else one RDom reduction per range in feature
// order (the LaneSum's partial undefined).
inline LaneSum define_row_sum(Func fn, const std::vector<Var> &args, const std::vector<LaneSumTerms> &ranges,
                              bool warp_order, LaneSum::Order order = LaneSum::Order::interleaved) {
    const std::vector<Expr> at(args.begin(), args.end());
    if (warp_order) {
        LaneSum s = define_lane_sum(fn.name(), args, ranges, order);
        fn(at) = s.total();
        return s;
    }
    fn(at) = 0.0f;
    for (size_t k = 0; k < ranges.size(); k++) {
        RDom r(0, ranges[k].extent, fn.name() + "_r" + std::to_string(k));
        fn(at) += ranges[k].term(r);
    }
    return {};
}

}  // namespace hmlstm
