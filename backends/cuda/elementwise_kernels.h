#pragma once
// Launchers of the creation, copy and element-wise kernels (cuda_elementwise.cu). Plain C++: the
// host half (cuda_elementwise.cpp) checks, dispatches on dtype and calls check_launch after each.
// Every launcher runs on the default stream, needs n > 0, and takes StridedArgs whose operand 0
// is the output.
#include <cstdint>

#include "backends/cuda/kernel_args.h"
#include "backends/op_kinds.h"

namespace memgrad::cuda {

// out[i] = value (out may be a view).
template <class T>
void launch_fill(T* out, const StridedArgs<1>& args, int64_t n, T value);
// out[i] = start + step * i (out contiguous).
template <class T>
void launch_arange(T* out, int64_t n, double start, double step);
// CpuBackend::random's stream: 4 elements per Philox counter offset + i/4, key (k0, k1) from the seed.
template <class T>
void launch_random(T* out, int64_t n, RandomKind kind, double a, double b, uint32_t k0, uint32_t k1,
                   uint64_t offset);
// dst[i] = static_cast<D>(src[i]); args: {dst, src}. Float -> int: the caller has checked that every
// value fits (launch_flag_unfit).
template <class D, class S>
void launch_copy(D* dst, const S* src, const StridedArgs<2>& args, int64_t n);

// out = op(x); args: {out, x}. Integer types take neg, abs and relu only.
template <class T>
void launch_unary(UnaryOp op, const T* x, T* out, const StridedArgs<2>& args, int64_t n, double scalar);
// out = grad * op'(in); `in` is y = op(x) for exp, sqrt, tanh and sigmoid, else x. args: {out, in, grad}.
template <class T>
void launch_unary_backward(UnaryOp op, const T* in, const T* grad, T* out, const StridedArgs<3>& args, int64_t n,
                           double scalar);
// Arithmetic ops, add .. minimum (T out); args: {out, a, b}.
template <class T>
void launch_binary(BinaryOp op, const T* a, const T* b, T* out, const StridedArgs<3>& args, int64_t n);
// Comparisons (and logical_and / logical_or for bool), bool out; args: {out, a, b}.
template <class T>
void launch_compare(BinaryOp op, const T* a, const T* b, bool* out, const StridedArgs<3>& args, int64_t n);
// out = cond ? a : b; args: {out, cond, a, b}.
template <class T>
void launch_where(const bool* cond, const T* a, const T* b, T* out, const StridedArgs<4>& args, int64_t n);

// The fused linear's epilogues (backend.h), every array contiguous. y [R, C] += bias (null: none)
// on each row, then out = act(y); out may be y. R * C > 0.
template <class T>
void launch_linear_epilogue(Activation act, T* y, const T* bias, T* out, int64_t R, int64_t C);
// grad_pre = grad * act'(saved) over n > 0 elements (act gelu or relu); act_out (null: none) =
// act(saved), saved the pre-activation.
template <class T>
void launch_linear_act_grad(Activation act, const T* saved, const T* grad, T* grad_pre, T* act_out, int64_t n);
// out [C] = the column sums of src [R, C] (0 where R = 0); C > 0.
template <class T>
void launch_column_sum(const T* src, T* out, int64_t R, int64_t C);

// Sets *flag = 1 when some x[i] is not finite (float types), or is zero (integer types: the
// divide-by-zero check); leaves it alone otherwise. args: {x}.
template <class T>
void launch_flag_nonfinite(const T* x, const StridedArgs<1>& args, int64_t n, int32_t* flag);
template <class T>
void launch_flag_zero(const T* x, const StridedArgs<1>& args, int64_t n, int32_t* flag);
// Sets *flag = 1 when some float x[i] cannot be converted to the integer type I (NaN, infinite,
// or its truncation out of range: scalar_math.h's fits_integer).
template <class I, class F>
void launch_flag_unfit(const F* x, const StridedArgs<1>& args, int64_t n, int32_t* flag);

}  // namespace memgrad::cuda
