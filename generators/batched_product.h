// Batched matrix products of the chunkwise form, as one of two definitions of the same math:
//   out(m, n, c, bh) = sum_{k < K} a(.., c, bh) * b(.., c, bh)
// either an RDom reduction (any target, scheduled like every other Func), or an extern stage that runs the product
// on the GPU's tensor cores through cuBLAS (runtime/src/cublas_products.cpp): bfloat16 operands, or float32
// operands multiplied in TF32, float32 results.
#pragma once

#include <stdexcept>

#include "mlstm_math.h"

namespace hmlstm {

// An operand and its layout: a(k, x, c, bh) when k_inner, else a(x, k, c, bh), x being m (for a) or n (for b).
// With `chunk` (the chunk size) set, the operand is the generator input `input` itself, token-major (feature, t, bh)
// with t = c * chunk + position, which the product reads in place (in_place): position is x when k_inner, else k.
// A partial last chunk's positions past the input's end are then neither read nor multiplied, and the product's
// entries there are 0.
struct ProductOperand {
    Func f;
    bool k_inner;
    Halide::ExternFuncArgument input = {};
    int chunk = 0;
};

// The pipeline's user context, which the extern stage needs for the call's CUDA context and stream. One Expr for
// every stage: each user_context_value() call makes a new parameter, and Halide wants exactly one.
inline Expr pipeline_user_context() {
    static const Expr context = Halide::user_context_value();
    return context;
}

// An operand as the tensor cores take it: bfloat16 bits when the inputs (of type `qkv_type`) are bfloat16, else
// float32 as is (multiplied in TF32).
inline Expr product_operand(const Expr &x, const Halide::Type &qkv_type) {
    return qkv_type.is_bfloat() ? Halide::reinterpret<uint16_t>(narrow(x, qkv_type)) : x;
}

// A generator input as an operand, read in place (see ProductOperand).
inline ProductOperand in_place(const Halide::ExternFuncArgument &input, int chunk, bool k_inner) {
    if (input.arg_type == Halide::ExternFuncArgument::UndefinedArg) {
        throw std::invalid_argument("tensor-core products: an input to read in place was not given");
    }
    return {Func(), k_inner, input, chunk};
}

// seq_len: the number of tokens of the inputs that operands read in place. `bf16_result` (bfloat16 operands only):
// the product stores its result as bfloat16 bits instead of float32, half the bytes written and read back, for
// products whose result only reaches an output of the inputs' 16-bit type; read its entries with product_entry.
inline Func tensor_core_product(const std::string &name, const ProductOperand &a, const ProductOperand &b,
                                const Expr &k, const Expr &seq_len, bool bf16_result = false) {
    Func out(name);
    auto buffer = [](const ProductOperand &x) { return x.chunk ? x.input : Halide::ExternFuncArgument(x.f); };
    std::vector<Halide::ExternFuncArgument> args{pipeline_user_context(), buffer(a), buffer(b), Halide::cast<int>(k),
                                                 Expr(int(a.k_inner)), Expr(int(b.k_inner)), Expr(a.chunk),
                                                 Expr(b.chunk), Halide::cast<int>(seq_len)};
    out.define_extern("hmlstm_cublas_batched_product", args, bf16_result ? Halide::UInt(16) : Halide::Float(32), 4,
                      Halide::NameMangling::C, Halide::DeviceAPI::CUDA);
    return out;
}

// out(m, t, bh) = sum_{k < k1} a1 b1 + sum_{k < k2} a2 b2 in float32, token-major: t = c * chunk + n for the
// products' (n, c), the last chunk ending at seq_len. cuBLAS writes the first product into out and adds the second
// to it (runtime/src/cublas_products.cpp), so that out, a generator output, needs no pass of its own. b1 and b2 are
// one stored Func b(k, which, n, c, bh), which = 0 and 1 (k-inner both), so that one stage may store them together.
inline Func tensor_core_product_sum(const std::string &name, const ProductOperand &a1, const ProductOperand &a2,
                                    const Func &b, const Expr &k1, const Expr &k2, int chunk, const Expr &seq_len) {
    Func out(name);
    auto buffer = [](const ProductOperand &x) { return x.chunk ? x.input : Halide::ExternFuncArgument(x.f); };
    std::vector<Halide::ExternFuncArgument> args{pipeline_user_context(), buffer(a1), buffer(a2), b,
                                                 Halide::cast<int>(k1), Halide::cast<int>(k2), Expr(int(a1.k_inner)),
                                                 Expr(int(a2.k_inner)), Expr(a1.chunk), Expr(a2.chunk), Expr(chunk),
                                                 Halide::cast<int>(seq_len)};
    out.define_extern("hmlstm_cublas_sum_of_products", args, Halide::Float(32), 3, Halide::NameMangling::C,
                      Halide::DeviceAPI::CUDA);
    return out;
}

// An entry of a product as float32, whether it stores float32 or bfloat16 bits (exact: a bfloat16 is the upper half
// of a float32).
inline Expr product_entry(const Expr &x) {
    if (x.type() != Halide::UInt(16)) return x;
    return Halide::reinterpret<float>(Halide::cast<uint32_t>(x) << 16);
}

}  // namespace hmlstm
