// The float64 backward of the reference against central finite differences of its forward. The loss is a per-row
// layer norm of h followed by a weighted sum of squares: it ignores the scale of each row h_t, and the normalizer
// and the stabilizer only scale whole rows, so holding them constant, as the backward does (spec: "Backward"),
// leaves this loss's gradient exact.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_support.h"

using namespace test;

namespace {

// L = sum_{t, d} w_{t,d} y_{t,d}^2, y_t = (h_t - mean(h_t)) / std(h_t).
struct RowScaleFreeLoss {
    Shape s;
    std::vector<double> w;

    double value(const std::vector<double> &h) const {
        double total = 0;
        for_rows(h, [&](int64_t row, const std::vector<double> &y, double) {
            for (int64_t d = 0; d < s.DHV; d++) total += w[row * s.DHV + d] * y[d] * y[d];
        });
        return total;
    }
    std::vector<double> gradient(const std::vector<double> &h) const {
        std::vector<double> dh(h.size());
        for_rows(h, [&](int64_t row, const std::vector<double> &y, double sigma) {
            double mean_dy = 0, mean_dy_y = 0;
            std::vector<double> dy(s.DHV);
            for (int64_t d = 0; d < s.DHV; d++) {
                dy[d] = 2 * w[row * s.DHV + d] * y[d];
                mean_dy += dy[d] / s.DHV;
                mean_dy_y += dy[d] * y[d] / s.DHV;
            }
            for (int64_t d = 0; d < s.DHV; d++) dh[row * s.DHV + d] = (dy[d] - mean_dy - y[d] * mean_dy_y) / sigma;
        });
        return dh;
    }
    template <typename Use>
    void for_rows(const std::vector<double> &h, Use use) const {
        for (int64_t row = 0; row < s.heads() * s.S; row++) {
            double mean = 0, var = 0;
            for (int64_t d = 0; d < s.DHV; d++) mean += h[row * s.DHV + d] / s.DHV;
            for (int64_t d = 0; d < s.DHV; d++) var += std::pow(h[row * s.DHV + d] - mean, 2) / s.DHV;
            const double sigma = std::sqrt(var);
            std::vector<double> y(s.DHV);
            for (int64_t d = 0; d < s.DHV; d++) y[d] = (h[row * s.DHV + d] - mean) / sigma;
            use(row, y, sigma);
        }
    }
};

// Relative error ||analytic - numeric|| / ||numeric|| of one input's gradient, the numeric one by central
// differences of loss(forward(x)).
template <typename Forward>
double against_differences(hmlstm_ref::Inputs x, std::vector<double> hmlstm_ref::Inputs::*tensor,
                           const std::vector<double> &analytic, const RowScaleFreeLoss &loss, Forward forward) {
    double err = 0, norm = 0;
    std::vector<double> &values = x.*tensor;
    for (size_t e = 0; e < values.size(); e++) {
        const double keep = values[e], step = 1e-5 * std::max(1.0, std::fabs(keep));
        values[e] = keep + step;
        const double up = loss.value(forward(x));
        values[e] = keep - step;
        const double down = loss.value(forward(x));
        values[e] = keep;
        const double numeric = (up - down) / (2 * step);
        err += std::pow(analytic[e] - numeric, 2);
        norm += numeric * numeric;
    }
    return std::sqrt(err / std::max(norm, 1e-300));
}

}  // namespace

TEST_CASE("the reference parallel backward equals finite differences of its forward", "[reference][cpu]") {
    std::mt19937_64 rng(test_seed() + 70);
    INFO("HMLSTM_TEST_SEED=" << test_seed());
    const Shape s{1, 2, 9, 5, 6};
    for (Gates gates : {Gates::typical, Gates::extreme}) {
        Problem p = random_problem(s, DType::float32, gates, rng);
        RowScaleFreeLoss loss{s, {}};
        std::normal_distribution<double> normal(0, 1);
        for (int64_t e = 0; e < s.heads() * s.S * s.DHV; e++) loss.w.push_back(normal(rng));
        auto forward = [&](const hmlstm_ref::Inputs &x) { return hmlstm_ref::parallel(s, x, nullptr); };
        const hmlstm_ref::Gradients g = hmlstm_ref::parallel_backward(s, p.in, loss.gradient(forward(p.in)));
        using I = hmlstm_ref::Inputs;
        const std::pair<std::vector<double> I::*, const std::vector<double> *> inputs[] = {
            {&I::q, &g.dq}, {&I::k, &g.dk}, {&I::v, &g.dv}, {&I::i, &g.di}, {&I::f, &g.df}};
        const char *names[] = {"dq", "dk", "dv", "di", "df"};
        for (int n = 0; n < 5; n++) {
            const double err = against_differences(p.in, inputs[n].first, *inputs[n].second, loss, forward);
            INFO("gates " << int(gates) << ", " << names[n] << ": relative error " << err);
            CHECK(err < 1e-6);
        }
    }
}
