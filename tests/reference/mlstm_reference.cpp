// Float64 reference, one plain loop nest per formula of the spec.
#include "mlstm_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hmlstm_ref {

namespace {
const double kNegInf = -std::numeric_limits<double>::infinity();

// Accumulates h_t = num / den term by term, with the magnitudes that give kappa_t (see the header).
struct TokenSums {
    std::vector<double> num, num_abs;
    double den_dot = 0, den_abs = 0;
    explicit TokenSums(int64_t DHV) : num(DHV, 0.0), num_abs(1, 0.0) {}
    // A term w * row (row of DHV values) of the numerator and w * x of the denominator dot. `w_magnitude` >= |w| is
    // the size of what forms w: |w| itself, or s sum_a |q_a k_a| D for a weight that is itself a dot product q . k.
    void add(double w, double w_magnitude, const double *row, double x) {
        double row_norm = 0;
        for (size_t b = 0; b < num.size(); b++) {
            num[b] += w * row[b];
            row_norm += row[b] * row[b];
        }
        num_abs[0] += w_magnitude * std::sqrt(row_norm);
        den_dot += w * x;
        den_abs += w_magnitude * std::fabs(x);
    }
    // h = num / den into `h`; returns kappa.
    double finish(double den, double *h) const {
        double num_norm = 0;
        for (size_t b = 0; b < num.size(); b++) {
            h[b] = num[b] / den;
            num_norm += num[b] * num[b];
        }
        num_norm = std::sqrt(num_norm);
        const double num_condition = num_norm > 0 ? num_abs[0] / num_norm : 1.0;
        return std::max(den_abs / den, num_condition);
    }
};
// Rounds gate quantities when the gate arithmetic is float32.
struct GateRound {
    bool f32;
    double operator()(double x) const { return f32 ? double(float(x)) : x; }
};
}  // namespace

double log_sigmoid(double f) {
    return std::min(f, 0.0) - std::log1p(std::exp(-std::fabs(f)));
}

States States::zeros(const Shape &s) {
    States st;
    st.c.assign(s.heads() * s.DHQK * s.DHV, 0.0);
    st.n.assign(s.heads() * s.DHQK, 0.0);
    st.m.assign(s.heads(), 0.0);
    return st;
}

// Spec, "Recurrent step", for one (batch, head): C (DHQK x DHV), n (DHQK), m; writes h (DHV).
static void step_one_head(int64_t DHQK, int64_t DHV, const double *q, const double *k, const double *v, double i,
                          double f, double *C, double *n, double &m, double *h, double eps,
                          double *condition, GateRound g) {
    const double s = 1.0 / std::sqrt(double(DHQK));
    const double lf = g(log_sigmoid(f));
    const double m_new = std::max(g(lf + m), i);
    const double fp = std::exp(g(g(lf + m) - m_new)), ip = std::exp(g(i - m_new));
    for (int64_t a = 0; a < DHQK; a++) {
        for (int64_t b = 0; b < DHV; b++) C[a * DHV + b] = fp * C[a * DHV + b] + ip * k[a] * v[b];
        n[a] = fp * n[a] + ip * k[a];
    }
    m = m_new;
    TokenSums sums(DHV);
    for (int64_t a = 0; a < DHQK; a++) sums.add(s * q[a], std::fabs(s * q[a]), &C[a * DHV], n[a]);
    const double den = std::max(std::fabs(sums.den_dot), std::exp(-m)) + eps;
    const double kappa = sums.finish(den, h);
    if (condition) *condition = kappa;
}

std::vector<double> recurrent_step(const Shape &sh, const Inputs &x, States &st, double eps,
                                   std::vector<double> *condition, GateArithmetic gates) {
    std::vector<double> h(sh.heads() * sh.DHV);
    if (condition) condition->assign(sh.heads(), 0.0);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        step_one_head(sh.DHQK, sh.DHV, &x.q[bh * sh.DHQK], &x.k[bh * sh.DHQK], &x.v[bh * sh.DHV], x.i[bh], x.f[bh],
                      &st.c[bh * sh.DHQK * sh.DHV], &st.n[bh * sh.DHQK], st.m[bh], &h[bh * sh.DHV], eps,
                      condition ? &(*condition)[bh] : nullptr, {gates == GateArithmetic::float32});
    }
    return h;
}

std::vector<double> recurrent_sequence(const Shape &sh, const Inputs &x, const States *initial, States *last,
                                       double eps, std::vector<double> *condition, GateArithmetic gates) {
    States st = initial ? *initial : States::zeros(sh);
    std::vector<double> h(sh.heads() * sh.S * sh.DHV);
    if (condition) condition->assign(sh.heads() * sh.S, 0.0);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        for (int64_t t = 0; t < sh.S; t++) {
            const int64_t tok = bh * sh.S + t;
            step_one_head(sh.DHQK, sh.DHV, &x.q[tok * sh.DHQK], &x.k[tok * sh.DHQK], &x.v[tok * sh.DHV], x.i[tok],
                          x.f[tok], &st.c[bh * sh.DHQK * sh.DHV], &st.n[bh * sh.DHQK], st.m[bh], &h[tok * sh.DHV],
                          eps, condition ? &(*condition)[tok] : nullptr, {gates == GateArithmetic::float32});
        }
    }
    if (last) *last = st;
    return h;
}

std::vector<double> attention(const Shape &sh, const Inputs &x, const std::vector<uint8_t> *mask,
                              AttentionActivation activation, bool qk_swish, double theta,
                              std::vector<double> *condition) {
    const int64_t S = sh.S, D = sh.DHQK, DHV = sh.DHV;
    const double scale = 1.0 / std::sqrt(double(D));
    std::vector<double> h(sh.heads() * S * DHV, 0.0), q(S * D), k(S * D), logit(S), logit_abs(S);
    if (condition) condition->assign(sh.heads() * S, 1.0);
    // Swish, then the rotation of each feature pair by the token's angle.
    auto prepare = [&](const double *in, std::vector<double> &out) {
        for (int64_t t = 0; t < S; t++) {
            for (int64_t p = 0; p < D / 2; p++) {
                double re = in[t * D + 2 * p], im = in[t * D + 2 * p + 1];
                if (qk_swish) {
                    re = re / (1.0 + std::exp(-re));
                    im = im / (1.0 + std::exp(-im));
                }
                const double angle = double(t) * std::pow(theta, -2.0 * double(p) / double(D));
                out[t * D + 2 * p] = re * std::cos(angle) - im * std::sin(angle);
                out[t * D + 2 * p + 1] = re * std::sin(angle) + im * std::cos(angle);
            }
        }
    };
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        prepare(&x.q[bh * S * D], q);
        prepare(&x.k[bh * S * D], k);
        const double *v = &x.v[bh * S * DHV];
        for (int64_t t = 0; t < S; t++) {
            auto seen = [&](int64_t j) { return mask ? (*mask)[t * S + j] != 0 : j <= t; };
            double top = kNegInf;
            for (int64_t j = 0; j < S; j++) {
                double dot = 0, dot_abs = 0;
                for (int64_t a = 0; a < D; a++) {
                    dot += q[t * D + a] * k[j * D + a];
                    dot_abs += std::fabs(q[t * D + a] * k[j * D + a]);
                }
                logit[j] = dot * scale;
                logit_abs[j] = dot_abs * scale;
                if (seen(j)) top = std::max(top, logit[j]);
            }
            TokenSums sums(DHV);
            for (int64_t j = 0; j < S; j++) {
                if (!seen(j)) continue;
                double w = logit[j];
                if (activation == AttentionActivation::softmax) w = std::exp(logit[j] - top);
                if (activation == AttentionActivation::sigmoid) w = 1.0 / (1.0 + std::exp(std::log(double(S)) - logit[j]));
                // A logit's rounding moves an exponential's value by the same relative amount times the logit's size.
                const double magnitude = activation == AttentionActivation::none
                                             ? logit_abs[j]
                                             : std::fabs(w) * std::max(1.0, logit_abs[j]);
                sums.add(w, magnitude, &v[j * DHV], activation == AttentionActivation::softmax ? 1.0 : 0.0);
            }
            double den = activation == AttentionActivation::softmax ? sums.den_dot : 1.0;
            if (den == 0) continue;  // no key seen: h = 0
            const double kappa = sums.finish(den, &h[(bh * S + t) * DHV]);
            if (condition) (*condition)[bh * S + t] = kappa;
        }
    }
    return h;
}

std::vector<double> parallel(const Shape &sh, const Inputs &x, const std::vector<uint8_t> *mask, bool rowwise,
                             double eps, std::vector<double> *condition, GateArithmetic gates) {
    const GateRound g{gates == GateArithmetic::float32};
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV;
    const double s = 1.0 / std::sqrt(double(DHQK));
    std::vector<double> h(sh.heads() * S * DHV, 0.0);
    std::vector<double> logD(S * S), lf(S);
    if (condition) condition->assign(sh.heads() * S, 0.0);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        for (int64_t t = 0; t < S; t++) lf[t] = g(log_sigmoid(x.f[bh * S + t]));
        // LF(t, j) = sum_{l=j+1..t} lf_l, summed within the triangle for each column j.
        for (int64_t j = 0; j < S; j++) {
            double cum = 0;
            for (int64_t t = 0; t < S; t++) {
                if (t > j) cum = g(cum + lf[t]);
                const bool keep = t >= j && (!mask || (*mask)[t * S + j] != 0);
                logD[t * S + j] = keep ? g(cum + x.i[bh * S + j]) : kNegInf;
            }
        }
        double global_max = kNegInf;
        for (double d : logD) global_max = std::max(global_max, d);
        for (int64_t t = 0; t < S; t++) {
            double m = rowwise ? *std::max_element(&logD[t * S], &logD[t * S] + S) : global_max;
            if (m == kNegInf) m = 0;  // a fully masked row: h = 0 (API rule)
            TokenSums sums(DHV);
            for (int64_t j = 0; j < S; j++) {
                double qk = 0, qk_abs = 0;
                for (int64_t a = 0; a < DHQK; a++) {
                    qk += q[t * DHQK + a] * k[j * DHQK + a];
                    qk_abs += std::fabs(q[t * DHQK + a] * k[j * DHQK + a]);
                }
                const double d = s * std::exp(g(logD[t * S + j] - m));
                sums.add(qk * d, qk_abs * d, &v[j * DHV], 1.0);
            }
            const double den = std::max(std::fabs(sums.den_dot), std::exp(-m)) + eps;
            const double kappa = sums.finish(den, &h[(bh * S + t) * DHV]);
            if (condition) (*condition)[bh * S + t] = kappa;
        }
    }
    return h;
}

std::vector<double> chunkwise(const Shape &sh, const Inputs &x, const States *initial, States *last,
                              const ChunkwiseParams &p, std::vector<double> *condition, GateArithmetic gates,
                              ChunkwiseSaved *saved) {
    const GateRound g{gates == GateArithmetic::float32};
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV, L = p.chunk_size;
    const int64_t states = (S + L - 1) / L + 1;  // before every chunk, and after the last
    const double s = 1.0 / std::sqrt(double(DHQK));
    States st = initial ? *initial : States::zeros(sh);
    std::vector<double> h(sh.heads() * S * DHV);
    if (condition) condition->assign(sh.heads() * S, 0.0);
    if (saved) {
        *saved = {std::vector<double>(sh.heads() * states * DHQK * DHV), std::vector<double>(sh.heads() * states * DHQK),
                  std::vector<double>(sh.heads() * states), std::vector<double>(sh.heads() * S),
                  std::vector<double>(sh.heads() * S)};
    }
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        double *C = &st.c[bh * DHQK * DHV], *n = &st.n[bh * DHQK];
        double &m = st.m[bh];
        auto save_state = [&](int64_t index) {  // the state before chunk `index`
            if (!saved) return;
            const int64_t at = bh * states + index;
            std::copy(C, C + DHQK * DHV, &saved->c[at * DHQK * DHV]);
            std::copy(n, n + DHQK, &saved->n[at * DHQK]);
            saved->m[at] = m;
        };
        for (int64_t start = 0; start < S; start += L) {
            save_state(start / L);
            const int64_t len = std::min(L, S - start);
            std::vector<double> lf(len), ig(len), b(len), a(len);
            for (int64_t u = 0; u < len; u++) {
                lf[u] = g(log_sigmoid(x.f[bh * S + start + u]));
                ig[u] = x.i[bh * S + start + u];
            }
            // b_tau = sum_{l<=tau} lf_l; a_tau = sum_{l>tau} lf_l + i_tau (reverse cumulative sum).
            double acc = 0;
            for (int64_t u = 0; u < len; u++) b[u] = (acc = g(acc + lf[u]));
            const double total = acc;
            acc = 0;
            for (int64_t u = len - 1; u >= 0; u--) {
                a[u] = g(acc + ig[u]);
                acc = g(acc + lf[u]);
            }
            // Outputs from the state before the chunk (C_{k-1}, n_{k-1}, m_{k-1}).
            for (int64_t tau = 0; tau < len; tau++) {
                std::vector<double> logD(tau + 1);
                double mc = g(b[tau] + m), cum = 0;
                for (int64_t sg = tau; sg >= 0; sg--) {  // logD = sum_{l=sg+1..tau} lf_l + i_sg
                    logD[sg] = g(cum + ig[sg]);
                    cum = g(cum + lf[sg]);
                    mc = std::max(mc, logD[sg]);
                }
                const double inter = s * std::exp(g(g(b[tau] + m) - mc));
                const double *qt = &q[(start + tau) * DHQK];
                TokenSums sums(DHV);
                for (int64_t a2 = 0; a2 < DHQK; a2++)
                    sums.add(inter * qt[a2], std::fabs(inter * qt[a2]), &C[a2 * DHV], n[a2]);
                for (int64_t sg = 0; sg <= tau; sg++) {
                    double qk = 0, qk_abs = 0;
                    for (int64_t a2 = 0; a2 < DHQK; a2++) {
                        qk += qt[a2] * k[(start + sg) * DHQK + a2];
                        qk_abs += std::fabs(qt[a2] * k[(start + sg) * DHQK + a2]);
                    }
                    const double d = s * std::exp(g(logD[sg] - mc));
                    sums.add(qk * d, qk_abs * d, &v[(start + sg) * DHV], 1.0);
                }
                const double floor = p.stabilize_correctly ? p.norm_val * std::exp(-mc) : p.norm_val;
                const double den = std::max(std::fabs(sums.den_dot), floor) + p.eps;
                const double kappa = sums.finish(den, &h[((bh * S) + start + tau) * DHV]);
                if (condition) (*condition)[bh * S + start + tau] = kappa;
                if (saved) saved->normalizer[bh * S + start + tau] = den, saved->stabilizer[bh * S + start + tau] = mc;
            }
            // State recurrence to the end of the chunk.
            double m_new = g(total + m);
            for (int64_t u = 0; u < len; u++) m_new = std::max(m_new, a[u]);
            const double decay = std::exp(g(g(total + m) - m_new));
            std::vector<double> w(len);
            for (int64_t u = 0; u < len; u++) w[u] = std::exp(g(a[u] - m_new));
            for (int64_t a2 = 0; a2 < DHQK; a2++) {
                double *row = &C[a2 * DHV];
                for (int64_t bv = 0; bv < DHV; bv++) row[bv] *= decay;
                n[a2] *= decay;
                for (int64_t u = 0; u < len; u++) {
                    const double wk = w[u] * k[(start + u) * DHQK + a2];
                    const double *vu = &v[(start + u) * DHV];
                    for (int64_t bv = 0; bv < DHV; bv++) row[bv] += wk * vu[bv];
                    n[a2] += wk;
                }
            }
            m = m_new;
        }
        save_state(states - 1);
    }
    if (last) *last = st;
    return h;
}

}  // namespace hmlstm_ref
