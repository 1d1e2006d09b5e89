// Float64 backward of the parallel form, written from ../shared/spec/MLSTM.md ("Backward"): the normalizer and the
// stabilizer are constants, as in the reference system.
#include <algorithm>
#include <cmath>

#include "mlstm_reference.h"

namespace hmlstm_ref {

Gradients parallel_backward(const Shape &sh, const Inputs &x, const std::vector<double> &dh, double eps) {
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV;
    const double s = 1.0 / std::sqrt(double(DHQK));
    Gradients g{std::vector<double>(x.q.size(), 0.0), std::vector<double>(x.k.size(), 0.0),
                std::vector<double>(x.v.size(), 0.0), std::vector<double>(x.i.size(), 0.0),
                std::vector<double>(x.f.size(), 0.0)};
    std::vector<double> lf(S), logD(S * S), dlogD(S * S);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        const double *dht = &dh[bh * S * DHV];
        double *dq = &g.dq[bh * S * DHQK], *dk = &g.dk[bh * S * DHQK], *dv = &g.dv[bh * S * DHV];
        for (int64_t t = 0; t < S; t++) lf[t] = log_sigmoid(x.f[bh * S + t]);
        // logD(t, j) = sum_{l=j+1..t} lf_l + i_j for j <= t.
        for (int64_t j = 0; j < S; j++) {
            double cum = 0;
            for (int64_t t = j; t < S; t++) {
                if (t > j) cum += lf[t];
                logD[t * S + j] = cum + x.i[bh * S + j];
            }
        }
        std::fill(dlogD.begin(), dlogD.end(), 0.0);
        for (int64_t t = 0; t < S; t++) {
            double m = logD[t * S];
            for (int64_t j = 1; j <= t; j++) m = std::max(m, logD[t * S + j]);
            // h_t = sum_j W_tj v_j with W_tj = s (q_t . k_j) D_tj / den_t; den_t and m_t held constant.
            std::vector<double> qk(t + 1), D(t + 1);
            double den_dot = 0;
            for (int64_t j = 0; j <= t; j++) {
                qk[j] = 0;
                for (int64_t a = 0; a < DHQK; a++) qk[j] += q[t * DHQK + a] * k[j * DHQK + a];
                D[j] = std::exp(logD[t * S + j] - m);
                den_dot += s * qk[j] * D[j];
            }
            const double den = std::max(std::fabs(den_dot), std::exp(-m)) + eps;
            for (int64_t j = 0; j <= t; j++) {
                const double W = s * qk[j] * D[j] / den;
                double dW = 0;
                for (int64_t b = 0; b < DHV; b++) {
                    dW += dht[t * DHV + b] * v[j * DHV + b];
                    dv[j * DHV + b] += W * dht[t * DHV + b];
                }
                const double dqk = dW * s * D[j] / den;
                for (int64_t a = 0; a < DHQK; a++) {
                    dq[t * DHQK + a] += dqk * k[j * DHQK + a];
                    dk[j * DHQK + a] += dqk * q[t * DHQK + a];
                }
                dlogD[t * S + j] = dW * W;  // dW/dlogD = W
            }
        }
        // logD(t, j) depends on i_j and on lf_l for j < l <= t.
        for (int64_t j = 0; j < S; j++) {
            for (int64_t t = j; t < S; t++) g.di[bh * S + j] += dlogD[t * S + j];
        }
        for (int64_t l = 1; l < S; l++) {
            double dlf = 0;
            for (int64_t t = l; t < S; t++) {
                for (int64_t j = 0; j < l; j++) dlf += dlogD[t * S + j];
            }
            const double f = x.f[bh * S + l];
            g.df[bh * S + l] = dlf / (1.0 + std::exp(f));  // d logsigmoid(f) / df = sigmoid(-f)
        }
    }
    return g;
}

}  // namespace hmlstm_ref
