// topk_linear and sparse_linear: the two halves of the top-k feed-forward layer (nn/layers.h;
// Gupta et al. 2021), each one autograd node over the sparse-row kernels of backends/backend.h.
// Neither ever holds a [rows, F] tensor beyond one chunk of scores: forward and backward cost
// O(rows * k * width) besides topk_linear's chunked score product.
#include <algorithm>
#include <climits>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/rows.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
using Grads = std::vector<Tensor>;
using rows::leading, rows::row_block, rows::rows_of, rows::with_last;
}  // namespace

ValuesIndices topk_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t k, int64_t chunk) {
  Backend& be = backend_of("topk_linear", {&x, &weight, &bias});
  auto shapes = [&] {
    return fmt::format("x {} {}, weight {} {}, bias {}", str(x.shape()), to_string(x.dtype()), str(weight.shape()),
                       to_string(weight.dtype()), bias.defined() ? str(bias.shape()) + " " + to_string(bias.dtype()) : "none");
  };
  check_float(x.dtype(), "topk_linear");
  MG_CHECK(x.dim() >= 1 && weight.dim() == 2 && weight.shape()[1] == x.shape().back(), "topk_linear",
           "expected x [..., in] and weight [F, in], got {}", shapes());
  MG_CHECK(weight.dtype() == x.dtype() && (!bias.defined() || bias.dtype() == x.dtype()), "topk_linear",
           "dtypes differ: {}", shapes());
  const int64_t F = weight.shape()[0], in = weight.shape()[1];
  MG_CHECK(!bias.defined() || bias.shape() == Shape{F}, "topk_linear", "bias must be [F] = [{}]: {}", F, shapes());
  MG_CHECK(k >= 1 && k <= F, "topk_linear", "k = {} is out of range for F = {} features (need 1 <= k <= F): {}", k, F,
           shapes());
  MG_CHECK(chunk >= 1, "topk_linear", "chunk must be >= 1, got {}", chunk);
  MG_CHECK(F <= INT32_MAX, "topk_linear", "F = {} features exceed the int32 column numbers of the selection", F);

  const Shape lead = leading(x.shape());
  const int64_t R = numel(lead);
  Tensor values = empty(with_last(lead, k), x.dtype(), x.device());  // [..., k]
  Tensor idx = empty(with_last(lead, k), DType::int64, x.device());  // [..., k]
  if (R > 0) {
    Tensor v2 = alias(values, {R, k}, {k, 1}, 0), i2 = alias(idx, {R, k}, {k, 1}, 0);  // [R, k]
    Tensor xr = rows_of(x, in);                                                        // [R, in]
    Tensor wt = transpose(contiguous(detach(weight)), 0, 1);                           // [in, F]
    Tensor bc = bias.defined() ? contiguous(detach(bias)) : Tensor();                  // [F]
    const int64_t C = std::min(chunk, R);
    Tensor S = empty({C, F}, x.dtype(), x.device());  // the one score workspace  [C, F]
    for (int64_t r0 = 0; r0 < R; r0 += C) {
      const int64_t n = std::min(C, R - r0);
      Tensor s = row_block(S, 0, n), vs = row_block(v2, r0, n), is = row_block(i2, r0, n);
      be.matmul(row_block(xr, r0, n), wt, s);  // s = x W^T  [n, F]
      be.row_topk(s, bc, vs, is);
    }
  }
  Tensor sx = saved(x), sw = saved(weight), si = saved(idx);
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  finish("topk_linear", {x, weight, bias}, std::vector<Tensor>{values}, [=](const Grads& g) {
    Backend& b = backend_for(sx.device());
    const int64_t rows = numel(leading(sx.shape()));
    Tensor gr = rows_of(g[0], k), ir = rows_of(si, k);  // [R, k]
    Tensor gx, gw, gb;
    if (need_x) {  // dx[t] = sum_j g[t, j] W[idx[t, j]]
      gx = empty(sx.shape(), sx.dtype(), sx.device());
      Tensor gx2 = alias(gx, {rows, in}, {in, 1}, 0);
      b.gather_rows_sum(contiguous(sw), ir, gr, gx2);
    }
    if (need_w) {  // dW[idx[t, j]] += g[t, j] x[t]
      gw = zeros(sw.shape(), sw.dtype(), sw.device());
      b.scatter_rows_add(gw, ir, gr, rows_of(sx, in));
    }
    if (need_b) {  // db[idx[t, j]] += g[t, j]
      gb = zeros({F}, sx.dtype(), sx.device());
      b.index_add(gb, 0, alias(ir, {rows * k}, {1}, ir.offset()), alias(gr, {rows * k}, {1}, gr.offset()));
    }
    return Grads{gx, gw, gb};
  });
  return {values, idx};
}

Tensor sparse_linear(const Tensor& values, const Tensor& indices, const Tensor& weight) {
  Backend& be = backend_of("sparse_linear", {&values, &indices, &weight});
  auto shapes = [&] {
    return fmt::format("values {} {}, indices {} {}, weight {} {}", str(values.shape()), to_string(values.dtype()),
                       str(indices.shape()), to_string(indices.dtype()), str(weight.shape()), to_string(weight.dtype()));
  };
  check_float(values.dtype(), "sparse_linear");
  MG_CHECK(indices.dtype() == DType::int32 || indices.dtype() == DType::int64, "sparse_linear",
           "indices must be int32 or int64: {}", shapes());
  MG_CHECK(values.dim() >= 1 && indices.shape() == values.shape() && weight.dim() == 2, "sparse_linear",
           "expected values [..., k], indices of the same shape and weight [out, F], got {}", shapes());
  MG_CHECK(weight.dtype() == values.dtype(), "sparse_linear", "dtypes differ: {}", shapes());
  const int64_t out_f = weight.shape()[0], F = weight.shape()[1], k = values.shape().back();
  const Shape lead = leading(values.shape());
  const int64_t R = numel(lead);
  Tensor ir = rows_of(indices.dtype() == DType::int64 ? indices : to(detach(indices), DType::int64), k);  // [R, k]
  if (ir.numel() > 0) {
    const int64_t lo = amin(ir).item<int64_t>(), hi = amax(ir).item<int64_t>();
    MG_CHECK(lo >= 0 && hi < F, "sparse_linear", "index {} is out of range for F = {} features: {}", lo < 0 ? lo : hi,
             F, shapes());
  }
  Tensor vr = rows_of(values, k);  // [R, k]
  Tensor y = empty(with_last(lead, out_f), values.dtype(), values.device());  // [..., out]
  {
    Tensor wt = contiguous(transpose(detach(weight), 0, 1));  // W^T [F, out]: each column of W one row
    Tensor y2 = alias(y, {R, out_f}, {out_f, 1}, 0);
    be.gather_rows_sum(wt, ir, vr, y2);  // y[t] = sum_j a[t, j] W[:, idx[t, j]]
  }
  Tensor sv = saved(values), si = saved(ir), sw = saved(weight);
  const bool need_v = values.requires_grad(), need_w = weight.requires_grad();
  return finish("sparse_linear", {values, indices, weight}, y, [=](const Tensor& g) {
    Backend& b = backend_for(sv.device());
    Tensor gr = rows_of(g, out_f);  // [R, out]
    Tensor gv, gw;
    if (need_v) {  // da[t, j] = gy[t] . W[:, idx[t, j]]
      gv = empty(sv.shape(), sv.dtype(), sv.device());
      Tensor gv2 = alias(gv, {R, k}, {k, 1}, 0);
      b.gather_rows_dot(contiguous(transpose(sw, 0, 1)), si, gr, gv2);
    }
    if (need_w) {  // dW[:, idx[t, j]] += a[t, j] gy[t], accumulated as dW^T [F, out]
      Tensor gwt = zeros({F, out_f}, sw.dtype(), sw.device());
      b.scatter_rows_add(gwt, si, rows_of(sv, k), gr);
      gw = transpose(gwt, 0, 1);  // [out, F], a view: no second weight-sized copy
    }
    return Grads{gv, Tensor(), gw};
  });
}

}  // namespace memgrad
