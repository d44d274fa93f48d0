// Softmax and log-softmax over the last dim, and their backward (kernels in cuda_softmax.cu).
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/softmax_kernels.h"

namespace memgrad::cuda {

void CudaBackend::softmax(const Tensor& x_in, Tensor& out, bool log) {
  Tensor x = contiguous_copy(x_in);  // [rows, C]
  const int64_t C = x.dim() == 0 ? 1 : x.shape().back();
  const int64_t rows = C == 0 ? 0 : x.numel() / C;
  dispatch_float(x.dtype(), "softmax", [&]<class T>() {
    if (rows == 0) return;
    launch_softmax<T>(x.data<T>(), out.data<T>(), rows, C, log);
    check_launch(log ? "log_softmax" : "softmax");
  });
}

void CudaBackend::softmax_backward(const Tensor& y_in, const Tensor& g_in, Tensor& out, bool log) {
  Tensor y = contiguous_copy(y_in), g = contiguous_copy(g_in);  // [rows, C]
  const int64_t C = y.dim() == 0 ? 1 : y.shape().back();
  const int64_t rows = C == 0 ? 0 : y.numel() / C;
  dispatch_float(y.dtype(), "softmax_backward", [&]<class T>() {
    if (rows == 0) return;
    launch_softmax_backward<T>(y.data<T>(), g.data<T>(), out.data<T>(), rows, C, log);
    check_launch("softmax_backward");
  });
}

}  // namespace memgrad::cuda
