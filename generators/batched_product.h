// Batched matrix products of the chunkwise form, as one of two definitions of the same math:
//   out(m, n, c, bh) = sum_{k < K} a(.., c, bh) * b(.., c, bh)
// either an RDom reduction (any target, scheduled like every other Func), or an extern stage that runs the product
// on the GPU's tensor cores through cuBLAS (runtime/src/cublas_products.cpp): bfloat16 operands, or float32
// operands multiplied in TF32, float32 results.
#pragma once

#include "mlstm_math.h"

namespace hmlstm {

// An operand and its layout: a(k, x, c, bh) when k_inner, else a(x, k, c, bh), x being m (for a) or n (for b).
struct ProductOperand {
    Func f;
    bool k_inner;
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

inline Func tensor_core_product(const std::string &name, const ProductOperand &a, const ProductOperand &b,
                                const Expr &k) {
    Func out(name);
    std::vector<Halide::ExternFuncArgument> args{pipeline_user_context(), a.f, b.f, Halide::cast<int>(k),
                                                 Expr(int(a.k_inner)), Expr(int(b.k_inner))};
    out.define_extern("hmlstm_cublas_batched_product", args, Halide::Float(32), 4, Halide::NameMangling::C,
                      Halide::DeviceAPI::CUDA);
    return out;
}

}  // namespace hmlstm
