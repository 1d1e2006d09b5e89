// Prefill a prompt with the chunkwise kernel, then decode tokens one by one with the step kernel from the states it
// returned, and check both against the recurrent sequence over the whole text. The shape of a small xLSTM layer.
#include <hmlstm/hmlstm.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

const int64_t B = 1, NH = 4, DHQK = 64, DHV = 128, kPrompt = 300, kDecode = 20, kTotal = kPrompt + kDecode;

struct Text {  // q, k, v, i, f of every token, (B, NH, S, ...) row-major
    std::vector<float> q, k, v, i, f;
};

Text random_text(std::mt19937 &rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Text t;
    auto fill = [&](std::vector<float> &x, size_t n, float mean, float sd) {
        x.resize(n);
        for (float &e : x) e = mean + sd * normal(rng);
    };
    fill(t.q, B * NH * kTotal * DHQK, 0, 1);
    fill(t.k, B * NH * kTotal * DHQK, 0, 1);
    fill(t.v, B * NH * kTotal * DHV, 0, 1);
    fill(t.i, B * NH * kTotal, 0, 1);
    fill(t.f, B * NH * kTotal, 3, 1);
    return t;
}

// Tokens [from, from + len) of every head of a (B * NH, kTotal, width) tensor.
std::vector<float> tokens(const std::vector<float> &x, int64_t width, int64_t from, int64_t len) {
    std::vector<float> out;
    for (int64_t head = 0; head < B * NH; head++) {
        auto first = x.begin() + (head * kTotal + from) * width;
        out.insert(out.end(), first, first + len * width);
    }
    return out;
}

bool report(const hmlstm::Error &e) {
    if (!e.ok()) std::fprintf(stderr, "error: %s\n", e.message.c_str());
    return e.ok();
}

double relative_error(const std::vector<float> &a, const std::vector<float> &b) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); i++) {
        diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        norm += double(b[i]) * b[i];
    }
    return std::sqrt(diff / norm);
}

}  // namespace

int main() {
    std::mt19937 rng(2024);
    const Text text = random_text(rng);
    std::printf("hmlstm %s: B=%lld NH=%lld DHQK=%lld DHV=%lld, prompt %lld tokens, decode %lld tokens\n",
                hmlstm::version(), (long long)B, (long long)NH, (long long)DHQK, (long long)DHV, (long long)kPrompt,
                (long long)kDecode);

    // 1. Prefill: the chunkwise kernel over the prompt, keeping the last states.
    std::vector<float> q = tokens(text.q, DHQK, 0, kPrompt), k = tokens(text.k, DHQK, 0, kPrompt);
    std::vector<float> v = tokens(text.v, DHV, 0, kPrompt), i = tokens(text.i, 1, 0, kPrompt);
    std::vector<float> f = tokens(text.f, 1, 0, kPrompt), h_prompt(B * NH * kPrompt * DHV);
    std::vector<float> C(B * NH * DHQK * DHV), n(B * NH * DHQK), m(B * NH);
    hmlstm::ChunkwiseOptions prefill;
    prefill.chunk_size = 64;
    prefill.return_last_states = true;
    if (!report(hmlstm::mlstm_chunkwise_fw({B, NH, kPrompt, DHQK, DHV}, {q.data(), k.data(), v.data()},
                                           {i.data(), f.data()}, h_prompt.data(), {}, {C.data(), n.data(), m.data()},
                                           prefill)))
        return 1;

    // 2. Decode: one step per token, updating the states in place.
    std::vector<float> h_decode;
    for (int64_t t = kPrompt; t < kTotal; t++) {
        std::vector<float> qt = tokens(text.q, DHQK, t, 1), kt = tokens(text.k, DHQK, t, 1);
        std::vector<float> vt = tokens(text.v, DHV, t, 1), it = tokens(text.i, 1, t, 1), ft = tokens(text.f, 1, t, 1);
        std::vector<float> ht(B * NH * DHV);
        if (!report(hmlstm::recurrent_step_fw({B, NH, 1, DHQK, DHV}, {qt.data(), kt.data(), vt.data()},
                                              {it.data(), ft.data()}, ht.data(), {C.data(), n.data(), m.data()},
                                              {C.data(), n.data(), m.data()})))
            return 1;
        h_decode.insert(h_decode.end(), ht.begin(), ht.end());  // (token, head, DHV)
    }

    // 3. Check: the recurrent sequence over the whole text.
    std::vector<float> h_all(B * NH * kTotal * DHV);
    if (!report(hmlstm::recurrent_sequence_fw({B, NH, kTotal, DHQK, DHV}, {text.q.data(), text.k.data(), text.v.data()},
                                              {text.i.data(), text.f.data()}, h_all.data())))
        return 1;
    std::vector<float> want_decode;
    for (int64_t t = kPrompt; t < kTotal; t++) {
        std::vector<float> ht = tokens(h_all, DHV, t, 1);
        want_decode.insert(want_decode.end(), ht.begin(), ht.end());
    }
    const double prefill_error = relative_error(h_prompt, tokens(h_all, DHV, 0, kPrompt));
    const double decode_error = relative_error(h_decode, want_decode);
    // Three float32 kernels of the same function: each within 1e-5 of the float64 truth (tests/), so within 1e-4.
    const double bound = 1e-4;
    std::printf("prefill (chunkwise) vs recurrent sequence: relative error %.2e\n", prefill_error);
    std::printf("decode (step x %lld) vs recurrent sequence: relative error %.2e\n", (long long)kDecode, decode_error);
    const bool ok = prefill_error <= bound && decode_error <= bound;
    std::printf("%s (bound %.0e)\n", ok ? "OK" : "MISMATCH", bound);
    return ok ? 0 : 1;
}
