// Creation, copies and element-wise ops on the GPU: the checks and dtype dispatch of
// CpuBackend's versions (cpu_elementwise.cpp), kernels in cuda_elementwise.cu.
#include <cuda_runtime_api.h>

#include <type_traits>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/elementwise_kernels.h"
#include "backends/cuda/strided_args.h"
#include "backends/scalar_checks.h"
#include "backends/scalar_math.h"

namespace memgrad::cuda {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// True when some element of x (any view) is a non-finite float (float types) or a zero (integer
// types), or with I an integer type, a float that I cannot hold. Waits for the GPU: the answer
// comes back to the host.
template <class T, class I = void>
bool any_flagged(const Tensor& x, const char* op) {
  const int64_t n = x.numel();
  if (n == 0) return false;
  Tensor flag = empty({1}, DType::int32, x.device());
  MG_CUDA_CHECK(op, cudaMemsetAsync(flag.raw_data(), 0, sizeof(int32_t), 0));
  const auto args = strided_args<1>(op, x.shape(), {&x});
  if constexpr (!std::is_void_v<I>)
    launch_flag_unfit<I, T>(ptr<T>(x), args, n, ptr<int32_t>(flag));
  else if constexpr (std::is_floating_point_v<T>)
    launch_flag_nonfinite<T>(ptr<T>(x), args, n, ptr<int32_t>(flag));
  else
    launch_flag_zero<T>(ptr<T>(x), args, n, ptr<int32_t>(flag));
  check_launch(op);
  int32_t hit = 0;
  MG_CUDA_CHECK(op, cudaMemcpy(&hit, flag.raw_data(), sizeof(int32_t), cudaMemcpyDeviceToHost));
  return hit != 0;
}

}  // namespace

void CudaBackend::fill(Tensor& out, double value) {
  check_fill_value(value, out.dtype());
  dispatch_all(out.dtype(), "fill", [&]<class T>() {
    const int64_t n = out.numel();
    if (n == 0) return;
    // write-only over out's own strides: out may be a view
    launch_fill<T>(ptr<T>(out), strided_args<1>("fill", out.shape(), {&out}), n, static_cast<T>(value));
    check_launch("fill");
  });
}

void CudaBackend::arange(Tensor& out, double start, double step) {
  check_arange_values(start, step, out.numel(), out.dtype());
  dispatch_numeric(out.dtype(), "arange", [&]<class T>() {
    const int64_t n = out.numel();
    if (n == 0) return;
    launch_arange<T>(ptr<T>(out), n, start, step);
    check_launch("arange");
  });
}

void CudaBackend::random(Tensor& out, RandomKind kind, double a, double b, uint64_t seed, uint64_t offset) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  check_random_dtype(out.dtype(), kind, a, b);
  dispatch_all(out.dtype(), "random", [&]<class T>() {
    const int64_t n = out.numel();
    if (n == 0) return;
    launch_random<T>(ptr<T>(out), n, kind, a, b, k0, k1, offset);
    check_launch("random");
  });
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  dispatch_all(dst.dtype(), "copy", [&]<class D>() {
    dispatch_all(src.dtype(), "copy", [&]<class S>() {
      const int64_t n = dst.numel();
      if (n == 0) return;
      if constexpr (std::is_floating_point_v<S> && is_wrapping_int<D>)  // float -> int: every value must fit
        if (any_flagged<S, D>(src, "to")) check_integer_conversion(src, dst.dtype(), "to");
      launch_copy<D, S>(ptr<D>(dst), ptr<S>(src), strided_args<2>("copy", dst.shape(), {&dst, &src}), n);
      check_launch("copy");
    });
  });
}

void CudaBackend::copy_across(const Tensor& src, Tensor& dst) {
  MG_CHECK(src.is_contiguous() && dst.is_contiguous(), "to_device", "needs contiguous tensors, got strides {} and {}",
           str(src.strides()), str(dst.strides()));
  MG_CHECK(src.dtype() == dst.dtype() && src.numel() == dst.numel(), "to_device",
           "cannot copy {} {} into {} {}", to_string(src.dtype()), str(src.shape()), to_string(dst.dtype()),
           str(dst.shape()));
  if (src.nbytes() == 0) return;
  // unified addressing: the runtime tells host from device pointers; synchronous towards the host
  MG_CUDA_CHECK("to_device", cudaMemcpy(dst.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyDefault));
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, Tensor& out, double scalar) {
  dispatch_numeric(x.dtype(), "unary", [&]<class T>() {
    const bool integer_op = op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu;
    if (!std::is_floating_point_v<T> && !integer_op)
      fail("unary", "{} is not defined for dtype {}", op_name(op), to_string(x.dtype()));
    const int64_t n = out.numel();
    if (n == 0) return;
    launch_unary<T>(op, ptr<T>(x), ptr<T>(out), strided_args<2>("unary", out.shape(), {&out, &x}), n, scalar);
    check_launch("unary");
  });
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& grad, Tensor& out,
                                 double scalar) {
  dispatch_float(x.dtype(), "unary_backward", [&]<class T>() {
    const Tensor* in = &x;  // what the derivative is written in: y for these, x for the rest
    switch (op) {
      case UnaryOp::exp:
      case UnaryOp::sqrt:
      case UnaryOp::tanh:
      case UnaryOp::sigmoid: in = &y; break;
      case UnaryOp::relu:
      case UnaryOp::abs:
      case UnaryOp::log:
      case UnaryOp::gelu:
      case UnaryOp::pow_scalar: break;
      default: fail("unary_backward", "{} has no backward kernel", op_name(op));
    }
    const int64_t n = out.numel();
    if (n == 0) return;
    launch_unary_backward<T>(op, ptr<T>(*in), ptr<T>(grad), ptr<T>(out),
                             strided_args<3>("unary_backward", out.shape(), {&out, in, &grad}), n, scalar);
    check_launch("unary_backward");
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (op == BinaryOp::logical_and || op == BinaryOp::logical_or) {
    MG_CHECK(a.dtype() == DType::boolean, "logical", "needs bool tensors, got {}", to_string(a.dtype()));
    if (n == 0) return;
    launch_compare<bool>(op, ptr<bool>(a), ptr<bool>(b), ptr<bool>(out),
                         strided_args<3>("logical", out.shape(), {&out, &a, &b}), n);
    check_launch("logical");
    return;
  }
  if (a.dtype() == DType::boolean && is_comparison(op)) {  // bools compare as 0 < 1 (logical_not is eq)
    if (n == 0) return;
    launch_compare<bool>(op, ptr<bool>(a), ptr<bool>(b), ptr<bool>(out),
                         strided_args<3>("binary", out.shape(), {&out, &a, &b}), n);
    check_launch("binary");
    return;
  }
  dispatch_numeric(a.dtype(), "binary", [&]<class T>() {
    if (op == BinaryOp::div && std::is_integral_v<T>)
      MG_CHECK(!any_flagged<T>(b, "div"), "div", "integer division by zero");
    if (n == 0) return;
    const auto args = strided_args<3>("binary", out.shape(), {&out, &a, &b});
    if (is_comparison(op))
      launch_compare<T>(op, ptr<T>(a), ptr<T>(b), ptr<bool>(out), args, n);
    else
      launch_binary<T>(op, ptr<T>(a), ptr<T>(b), ptr<T>(out), args, n);
    check_launch("binary");
  });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_all(a.dtype(), "where", [&]<class T>() {
    const int64_t n = out.numel();
    if (n == 0) return;
    launch_where<T>(ptr<bool>(cond), ptr<T>(a), ptr<T>(b), ptr<T>(out),
                    strided_args<4>("where", out.shape(), {&out, &cond, &a, &b}), n);
    check_launch("where");
  });
}

bool CudaBackend::all_finite(const Tensor& x) {
  if (!is_floating(x.dtype())) return true;
  return dispatch_float(x.dtype(), "all_finite", [&]<class T>() { return !any_flagged<T>(x, "all_finite"); });
}

// The fused linear's epilogues: CpuBackend's contract (backend.h, cpu_linear.cpp); the column sum
// of grad_pre is a second kernel here.
void CudaBackend::linear_epilogue(Activation act, Tensor& y, const Tensor& bias, Tensor& out) {
  dispatch_float(y.dtype(), "linear", [&]<class T>() {
    const int64_t C = y.dim() == 0 ? 1 : y.shape().back(), n = y.numel();
    if (n == 0) return;
    launch_linear_epilogue<T>(act, ptr<T>(y), bias.defined() ? ptr<T>(bias) : nullptr, ptr<T>(out), n / C, C);
    check_launch("linear");
  });
}

void CudaBackend::linear_epilogue_backward(Activation act, const Tensor& saved, const Tensor& grad, Tensor& grad_pre,
                                           Tensor& grad_bias, Tensor& act_out) {
  dispatch_float(grad.dtype(), "linear", [&]<class T>() {
    const int64_t C = grad.dim() == 0 ? 1 : grad.shape().back(), n = grad.numel();
    if (act != Activation::none && n > 0) {
      launch_linear_act_grad<T>(act, ptr<T>(saved), ptr<T>(grad), ptr<T>(grad_pre),
                                act_out.defined() ? ptr<T>(act_out) : nullptr, n);
      check_launch("linear");
    }
    if (grad_bias.defined() && C > 0) {
      launch_column_sum<T>(ptr<T>(act == Activation::none ? grad : grad_pre), ptr<T>(grad_bias), n / C, C);
      check_launch("linear");
    }
  });
}

}  // namespace memgrad::cuda
