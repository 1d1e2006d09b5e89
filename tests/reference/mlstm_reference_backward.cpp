// Float64 backward of the parallel, recurrent and chunkwise forms, written from ../shared/spec/MLSTM.md ("Backward"):
// the normalizer and the stabilizer are constants, as in the reference system (docs/backward.md).
#include <algorithm>
#include <cmath>

#include "mlstm_reference.h"

namespace hmlstm_ref {

namespace {
// Gradients of the shapes of `x`, all zero.
Gradients zero_gradients(const Inputs &x) {
    auto zeros = [](const std::vector<double> &like) { return std::vector<double>(like.size(), 0.0); };
    return {zeros(x.q), zeros(x.k), zeros(x.v), zeros(x.i), zeros(x.f)};
}

// The gradient of the last C of slice bh (dc_last, or none), where the backward through the states starts.
std::vector<double> last_state_gradient(const std::vector<double> *dc_last, int64_t bh, int64_t CS) {
    if (!dc_last) return std::vector<double>(CS, 0.0);
    return std::vector<double>(dc_last->begin() + bh * CS, dc_last->begin() + (bh + 1) * CS);
}

// G = dLoss/dC_0 of slice bh. The initial C enters every term scaled by exp(m_0) (the true state is C_0 exp(m_0)),
// so dLoss/dm_0 = <G, C_0>.
void finish_initial_gradients(const std::vector<double> &G, const double *C0, int64_t bh,
                              std::vector<double> *dc_initial, std::vector<double> *dm_initial) {
    const int64_t CS = static_cast<int64_t>(G.size());
    if (dc_initial) std::copy(G.begin(), G.end(), dc_initial->begin() + bh * CS);
    if (dm_initial) {
        for (int64_t e = 0; e < CS; e++) (*dm_initial)[bh] += G[e] * C0[e];
    }
}
}  // namespace

Gradients parallel_backward(const Shape &sh, const Inputs &x, const std::vector<double> &dh, double eps,
                            const std::vector<uint8_t> *mask, bool stabilize_rowwise) {
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV;
    const double s = 1.0 / std::sqrt(double(DHQK));
    Gradients g = zero_gradients(x);
    std::vector<double> lf(S), logD(S * S), dlogD(S * S);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        const double *dht = &dh[bh * S * DHV];
        double *dq = &g.dq[bh * S * DHQK], *dk = &g.dk[bh * S * DHQK], *dv = &g.dv[bh * S * DHV];
        for (int64_t t = 0; t < S; t++) lf[t] = log_sigmoid(x.f[bh * S + t]);
        // logD(t, j) = sum_{l=j+1..t} lf_l + i_j for j <= t where the mask keeps (t, j), else -inf.
        double global_max = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
            double cum = 0;
            for (int64_t t = j; t < S; t++) {
                if (t > j) cum += lf[t];
                const bool keep = !mask || (*mask)[t * S + j] != 0;
                logD[t * S + j] = keep ? cum + x.i[bh * S + j] : -INFINITY;
                global_max = std::max(global_max, logD[t * S + j]);
            }
        }
        std::fill(dlogD.begin(), dlogD.end(), 0.0);
        for (int64_t t = 0; t < S; t++) {
            double m = stabilize_rowwise ? logD[t * S] : global_max;
            for (int64_t j = 1; j <= t && stabilize_rowwise; j++) m = std::max(m, logD[t * S + j]);
            if (m == -INFINITY) m = 0;  // a fully masked row: h = 0
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


Gradients recurrent_backward(const Shape &sh, const Inputs &x, const States *initial, const std::vector<double> &dh,
                             std::vector<double> *dc_initial, double eps, const std::vector<double> *dc_last,
                             std::vector<double> *dm_initial) {
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV, CS = DHQK * DHV;
    const double s = 1.0 / std::sqrt(double(DHQK));
    Gradients g = zero_gradients(x);
    g.df_terms.assign(g.df.size(), 0.0);
    if (dc_initial) dc_initial->assign(sh.heads() * CS, 0.0);
    if (dm_initial) dm_initial->assign(sh.heads(), 0.0);
    const States start = initial ? *initial : States::zeros(sh);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        // Forward, keeping every state C_t (t = 0 the initial one), the gate factors and den_t.
        std::vector<double> C((S + 1) * CS), n(DHQK), decay(S), gain(S), den(S);
        std::copy(&start.c[bh * CS], &start.c[bh * CS] + CS, C.begin());
        std::copy(&start.n[bh * DHQK], &start.n[bh * DHQK] + DHQK, n.begin());
        double m = start.m[bh];
        for (int64_t t = 0; t < S; t++) {
            const double lf = log_sigmoid(x.f[bh * S + t]), ig = x.i[bh * S + t];
            const double m_new = std::max(lf + m, ig);
            decay[t] = std::exp(lf + m - m_new);
            gain[t] = std::exp(ig - m_new);
            m = m_new;
            double qn = 0;
            for (int64_t a = 0; a < DHQK; a++) {
                n[a] = decay[t] * n[a] + gain[t] * k[t * DHQK + a];
                qn += s * q[t * DHQK + a] * n[a];
                for (int64_t b = 0; b < DHV; b++) {
                    C[(t + 1) * CS + a * DHV + b] =
                        decay[t] * C[t * CS + a * DHV + b] + gain[t] * k[t * DHQK + a] * v[t * DHV + b];
                }
            }
            den[t] = std::max(std::fabs(qn), std::exp(-m)) + eps;
        }
        // Backward through time; G is dLoss/dC_t, the decay and gain factors and den_t held constant.
        std::vector<double> G = last_state_gradient(dc_last, bh, CS);
        for (int64_t t = S - 1; t >= 0; t--) {
            const double *dht = &dh[(bh * S + t) * DHV];
            const double *Ct = &C[(t + 1) * CS], *Cprev = &C[t * CS];
            double dgain = 0, ddecay = 0, ddecay_terms = 0;
            for (int64_t a = 0; a < DHQK; a++) {
                double dq = 0;
                for (int64_t b = 0; b < DHV; b++) {
                    G[a * DHV + b] += s * q[t * DHQK + a] * dht[b] / den[t];
                    dq += Ct[a * DHV + b] * dht[b];
                }
                g.dq[(bh * S + t) * DHQK + a] = s * dq / den[t];
            }
            for (int64_t a = 0; a < DHQK; a++) {
                for (int64_t b = 0; b < DHV; b++) {
                    const double Gab = G[a * DHV + b];
                    g.dk[(bh * S + t) * DHQK + a] += gain[t] * Gab * v[t * DHV + b];
                    g.dv[(bh * S + t) * DHV + b] += gain[t] * Gab * k[t * DHQK + a];
                    dgain += Gab * k[t * DHQK + a] * v[t * DHV + b];
                    ddecay += Gab * Cprev[a * DHV + b];
                    ddecay_terms += std::fabs(Gab * Cprev[a * DHV + b]);
                }
            }
            g.di[bh * S + t] = dgain * gain[t];                                     // gain = exp(i - m)
            g.df[bh * S + t] = ddecay * decay[t] / (1.0 + std::exp(x.f[bh * S + t]));  // decay = exp(lf + ...)
            g.df_terms[bh * S + t] = ddecay_terms * decay[t] / (1.0 + std::exp(x.f[bh * S + t]));
            for (double &e : G) e *= decay[t];
        }
        finish_initial_gradients(G, C.data(), bh, dc_initial, dm_initial);
    }
    return g;
}


Gradients chunkwise_backward(const Shape &sh, const Inputs &x, const States *initial, const std::vector<double> &dh,
                             const ChunkwiseParams &p, std::vector<double> *dc_initial,
                             const std::vector<double> *dc_last, std::vector<double> *dm_initial) {
    const int64_t S = sh.S, DHQK = sh.DHQK, DHV = sh.DHV, CS = DHQK * DHV, L = p.chunk_size;
    const int64_t K = (S + L - 1) / L;
    const double s = 1.0 / std::sqrt(double(DHQK));
    Gradients g = zero_gradients(x);
    if (dc_initial) dc_initial->assign(sh.heads() * CS, 0.0);
    if (dm_initial) dm_initial->assign(sh.heads(), 0.0);
    const States start = initial ? *initial : States::zeros(sh);
    for (int64_t bh = 0; bh < sh.heads(); bh++) {
        const double *q = &x.q[bh * S * DHQK], *k = &x.k[bh * S * DHQK], *v = &x.v[bh * S * DHV];
        // Forward: per chunk its b (cumulative log forget gates), the states before and after it (C, n, m), and per
        // token the output stabilizer mc and den.
        std::vector<double> b(S), C((K + 1) * CS), n((K + 1) * DHQK), m(K + 1), mc(S), den(S);
        std::copy(&start.c[bh * CS], &start.c[bh * CS] + CS, C.begin());
        std::copy(&start.n[bh * DHQK], &start.n[bh * DHQK] + DHQK, n.begin());
        m[0] = start.m[bh];
        auto chunk_of = [&](int64_t c, int64_t *first, int64_t *len) {
            *first = c * L;
            *len = std::min(L, S - *first);
        };
        for (int64_t c = 0; c < K; c++) {
            int64_t t0, len;
            chunk_of(c, &t0, &len);
            double cum = 0;
            for (int64_t u = 0; u < len; u++) b[t0 + u] = cum += log_sigmoid(x.f[bh * S + t0 + u]);
            const double gk = b[t0 + len - 1];
            double amax = -INFINITY;
            for (int64_t u = 0; u < len; u++) amax = std::max(amax, gk - b[t0 + u] + x.i[bh * S + t0 + u]);
            m[c + 1] = std::max(gk + m[c], amax);
            const double F = std::exp(gk + m[c] - m[c + 1]);
            for (int64_t e = 0; e < CS; e++) C[(c + 1) * CS + e] = F * C[c * CS + e];
            for (int64_t a = 0; a < DHQK; a++) n[(c + 1) * DHQK + a] = F * n[c * DHQK + a];
            for (int64_t u = 0; u < len; u++) {
                const int64_t t = t0 + u;
                const double A = std::exp(gk - b[t] + x.i[bh * S + t] - m[c + 1]);
                for (int64_t a = 0; a < DHQK; a++) {
                    n[(c + 1) * DHQK + a] += A * k[t * DHQK + a];
                    for (int64_t bb = 0; bb < DHV; bb++) C[(c + 1) * CS + a * DHV + bb] += A * k[t * DHQK + a] * v[t * DHV + bb];
                }
            }
            // Outputs of the chunk: only mc and den are needed (held constant in the backward).
            for (int64_t u = 0; u < len; u++) {
                const int64_t t = t0 + u;
                double mx = b[t] + m[c];
                for (int64_t w = 0; w <= u; w++) mx = std::max(mx, b[t] - b[t0 + w] + x.i[bh * S + t0 + w]);
                mc[t] = mx;
                const double E = std::exp(b[t] + m[c] - mx);
                double dot = 0;
                for (int64_t a = 0; a < DHQK; a++) dot += s * q[t * DHQK + a] * E * n[c * DHQK + a];
                for (int64_t w = 0; w <= u; w++) {
                    double qk = 0;
                    for (int64_t a = 0; a < DHQK; a++) qk += q[t * DHQK + a] * k[(t0 + w) * DHQK + a];
                    dot += s * qk * std::exp(b[t] - b[t0 + w] + x.i[bh * S + t0 + w] - mx);
                }
                const double floor = p.stabilize_correctly ? p.norm_val * std::exp(-mx) : p.norm_val;
                den[t] = std::max(std::fabs(dot), floor) + p.eps;
            }
        }
        // Backward, last chunk first. G = dLoss/dC after the chunk; db collects the gradients of b per token.
        std::vector<double> G = last_state_gradient(dc_last, bh, CS), Gprev(CS), db(S, 0.0);
        for (int64_t c = K - 1; c >= 0; c--) {
            int64_t t0, len;
            chunk_of(c, &t0, &len);
            const double *Cprev = &C[c * CS];
            const double gk = b[t0 + len - 1];
            std::fill(Gprev.begin(), Gprev.end(), 0.0);
            double dgk = 0;
            for (int64_t u = 0; u < len; u++) {
                const int64_t t = t0 + u;
                std::vector<double> dH(DHV);
                for (int64_t bb = 0; bb < DHV; bb++) dH[bb] = dh[(bh * S + t) * DHV + bb] / den[t];
                // Inter-chunk part: qbar^T C_prev, qbar = s q E.
                const double E = std::exp(b[t] + m[c] - mc[t]);
                double dE = 0;
                for (int64_t a = 0; a < DHQK; a++) {
                    double dqbar = 0;
                    for (int64_t bb = 0; bb < DHV; bb++) {
                        Gprev[a * DHV + bb] += s * q[t * DHQK + a] * E * dH[bb];
                        dqbar += Cprev[a * DHV + bb] * dH[bb];
                    }
                    g.dq[(bh * S + t) * DHQK + a] += s * E * dqbar;
                    dE += s * q[t * DHQK + a] * dqbar;
                }
                db[t] += dE * E;
                // Intra-chunk part: sum_w s (q_t . k_w) exp(logD - mc) v_w.
                for (int64_t w = 0; w <= u; w++) {
                    const int64_t j = t0 + w;
                    double qk = 0, dW = 0;
                    for (int64_t a = 0; a < DHQK; a++) qk += q[t * DHQK + a] * k[j * DHQK + a];
                    const double D = std::exp(b[t] - b[j] + x.i[bh * S + j] - mc[t]);
                    const double W = s * qk * D;
                    for (int64_t bb = 0; bb < DHV; bb++) {
                        dW += dH[bb] * v[j * DHV + bb];
                        g.dv[(bh * S + j) * DHV + bb] += W * dH[bb];
                    }
                    for (int64_t a = 0; a < DHQK; a++) {
                        g.dq[(bh * S + t) * DHQK + a] += dW * s * D * k[j * DHQK + a];
                        g.dk[(bh * S + j) * DHQK + a] += dW * s * D * q[t * DHQK + a];
                    }
                    const double dlogD = dW * W;
                    db[t] += dlogD;
                    db[j] -= dlogD;
                    g.di[bh * S + j] += dlogD;
                }
            }
            // The chunk's state update C = F C_prev + sum_u A_u k_u v_u^T.
            const double F = std::exp(gk + m[c] - m[c + 1]);
            double dF = 0;
            for (int64_t e = 0; e < CS; e++) {
                Gprev[e] += F * G[e];
                dF += G[e] * Cprev[e];
            }
            dgk += dF * F;
            for (int64_t u = 0; u < len; u++) {
                const int64_t t = t0 + u;
                const double A = std::exp(gk - b[t] + x.i[bh * S + t] - m[c + 1]);
                double dA = 0;
                for (int64_t a = 0; a < DHQK; a++) {
                    for (int64_t bb = 0; bb < DHV; bb++) {
                        const double Gab = G[a * DHV + bb];
                        g.dk[(bh * S + t) * DHQK + a] += A * Gab * v[t * DHV + bb];
                        g.dv[(bh * S + t) * DHV + bb] += A * Gab * k[t * DHQK + a];
                        dA += Gab * k[t * DHQK + a] * v[t * DHV + bb];
                    }
                }
                const double da = dA * A;  // a_u = g - b_u + i_u
                dgk += da;
                db[t] -= da;
                g.di[bh * S + t] += da;
            }
            db[t0 + len - 1] += dgk;  // g = b of the chunk's last token
            // b_u = sum_{w <= u} lf_w within the chunk.
            double suffix = 0;
            for (int64_t u = len - 1; u >= 0; u--) {
                suffix += db[t0 + u];
                g.df[bh * S + t0 + u] = suffix / (1.0 + std::exp(x.f[bh * S + t0 + u]));
            }
            G.swap(Gprev);
        }
        finish_initial_gradients(G, C.data(), bh, dc_initial, dm_initial);
    }
    return g;
}

}  // namespace hmlstm_ref
