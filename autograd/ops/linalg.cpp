// Matrix products.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  Backend& be = backend_of("matmul", {&a_in, &b_in});
  MG_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul", "0-d operands: shapes {} and {}", str(a_in.shape()),
           str(b_in.shape()));
  MG_CHECK(a_in.dtype() == b_in.dtype(), "matmul", "dtype mismatch: {} {} and {} {}", to_string(a_in.dtype()),
           str(a_in.shape()), to_string(b_in.dtype()), str(b_in.shape()));
  check_float(a_in.dtype(), "matmul");
  // numpy's rules for 1-d operands: a vector on the left is a row, on the right a column
  if (a_in.dim() == 1 && b_in.dim() == 1) return reshape(matmul(unsqueeze(a_in, 0), unsqueeze(b_in, 1)), {});
  if (a_in.dim() == 1) return squeeze(matmul(unsqueeze(a_in, 0), b_in), -2);
  if (b_in.dim() == 1) return squeeze(matmul(a_in, unsqueeze(b_in, 1)), -1);
  const Tensor &a = a_in, &b = b_in;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  MG_CHECK(b.size(-2) == K, "matmul", "shapes {} and {} cannot be multiplied", str(a.shape()), str(b.shape()));
  Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                 Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  Tensor ea = alias(a, sa, broadcast_strides(a.shape(), a.strides(), sa, "matmul"), a.offset());
  Tensor eb = alias(b, sb, broadcast_strides(b.shape(), b.strides(), sb, "matmul"), b.offset());
  Tensor out = empty(so, a.dtype(), a.device());
  be.matmul(ea, eb, out);

  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor sva = need_b ? saved(a) : Tensor(), svb = need_a ? saved(b) : Tensor();
  Shape shape_a = a.shape(), shape_b = b.shape();
  int64_t rows = 1;  // of a, all dims but the last (not numel / K: K may be 0)
  for (size_t d = 0; d + 1 < shape_a.size(); ++d) rows *= shape_a[d];
  return finish("matmul", {a, b}, out, [=](const Tensor& g) {  // g [..., M, N]
    Tensor ga, gb;
    if (need_a) ga = sum_to(matmul(g, transpose(svb, -1, -2)), shape_a);  // [..., M, K]
    if (need_b) {
      if (shape_b.size() == 2 && shape_a.size() > 2)  // a shared weight: one [K, rows] x [rows, N] product
        gb = matmul(transpose(reshape(sva, {rows, K}), 0, 1), reshape(g, {rows, N}));  // [K, rows] x [rows, N]
      else
        gb = sum_to(matmul(transpose(sva, -1, -2), g), shape_b);  // [..., K, N]
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace memgrad
