#pragma once
// The op table's references: plain loops in double over the row-major values of contiguous inputs.
// None of them calls the op it checks (only vals() to read values).
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

#include "op_table.h"
#include "ops_test_util.h"

namespace memgrad::optable::ref {

using optest::bcast_index;
using optest::bshape;
using optest::unravel;
using optest::vals;
using Index = std::vector<int64_t>;

inline int64_t wrap(int64_t d, size_t n) { return d < 0 ? d + static_cast<int64_t>(n) : d; }

// Row-major linear index of idx in shape s.
inline int64_t ravel(const Index& idx, const Shape& s) {
  int64_t lin = 0;
  for (size_t d = 0; d < s.size(); ++d) lin = lin * s[d] + idx[d];
  return lin;
}

// out[i] = in[map(index of i)] for every element of out_shape: the reference of every view op.
inline Vec remap(const Tensor& in, const Shape& out_shape, const std::function<Index(const Index&)>& map) {
  Vec v = vals(in), out;
  for (int64_t i = 0; i < numel(out_shape); ++i) out.push_back(v[ravel(map(unravel(i, out_shape)), in.shape())]);
  return out;
}

inline Expect same(const Tensor& x, Vec v) { return {x.shape(), x.dtype(), std::move(v)}; }

inline Ref unary(std::function<double(double)> f) {
  return [f](const std::vector<Tensor>& in) { return std::vector<Expect>{same(in[0], optest::ref_unary(in[0], f))}; };
}
// Broadcasting binary op; out_dtype: bool for comparisons, else the inputs'.
inline Ref binary(std::function<double(double, double)> f, bool to_bool = false) {
  return [f, to_bool](const std::vector<Tensor>& in) {
    return std::vector<Expect>{{bshape(in[0].shape(), in[1].shape()), to_bool ? DType::boolean : in[0].dtype(),
                                optest::ref_binary(in[0], in[1], f)}};
  };
}

// ---- reductions ----

inline std::vector<int64_t> norm_dims(std::vector<int64_t> dims, size_t n) {
  if (dims.empty())
    for (size_t d = 0; d < n; ++d) dims.push_back(static_cast<int64_t>(d));
  for (auto& d : dims) d = wrap(d, n);
  return dims;
}

inline Shape reduced_shape(const Shape& s, const std::vector<int64_t>& dims_in, bool keepdim) {
  std::vector<int64_t> dims = norm_dims(dims_in, s.size());
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool red = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!red) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// op: 's' sum, 'a' mean, 'M' max, 'm' min. Values in the row-major order of the kept shape.
inline Vec reduce(const Tensor& x, const std::vector<int64_t>& dims_in, char op) {
  const Shape& s = x.shape();
  std::vector<int64_t> dims = norm_dims(dims_in, s.size());
  Shape ks = s;
  int64_t count = 1;
  for (int64_t d : dims) ks[d] = 1, count *= s[d];
  double init = op == 'M' ? -INFINITY : op == 'm' ? INFINITY : 0.0;
  Vec v = vals(x), out(static_cast<size_t>(numel(ks)), init);
  for (int64_t i = 0; i < numel(s); ++i) {
    double& o = out[bcast_index(unravel(i, s), ks)];
    o = op == 'M' ? std::max(o, v[i]) : op == 'm' ? std::min(o, v[i]) : o + v[i];
  }
  if (op == 'a')
    for (double& o : out) o /= static_cast<double>(count);
  return out;
}

// max/min over one dim: values and the index of the first extreme.
inline std::vector<Expect> arg_extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const Shape& s = x.shape();
  Shape ks = s;
  int64_t d = s.empty() ? 0 : wrap(dim, s.size());
  if (!s.empty()) ks[d] = 1;
  Vec v = vals(x), rv(numel(ks)), ri(numel(ks));
  for (int64_t k = 0; k < numel(ks); ++k) {
    Index idx = unravel(k, ks);
    int64_t n = s.empty() ? 1 : s[d];
    for (int64_t j = 0; j < n; ++j) {
      if (!s.empty()) idx[d] = j;
      double e = v[ravel(idx, s)];
      if (j == 0 || (is_max ? e > rv[k] : e < rv[k])) rv[k] = e, ri[k] = static_cast<double>(j);
    }
  }
  Shape os = s.empty() ? Shape{} : reduced_shape(s, {d}, keepdim);
  return {{os, x.dtype(), rv}, {os, DType::int64, ri}};
}

// ---- linear algebra ----

// numpy matmul by a triple loop: 1-d operands, broadcast batch dims.
inline Expect matmul(const Tensor& at, const Tensor& bt) {
  Shape sa = at.shape(), sb = bt.shape();
  bool vec_a = sa.size() == 1, vec_b = sb.size() == 1;
  if (vec_a) sa = {1, sa[0]};
  if (vec_b) sb = {sb[0], 1};
  int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = bshape(ba, bb);
  Vec a = vals(at), b = vals(bt), out;
  for (int64_t i = 0; i < numel(batch); ++i) {
    Index idx = unravel(i, batch);
    int64_t oa = bcast_index(idx, ba) * M * K, ob = bcast_index(idx, bb) * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a[oa + m * K + k] * b[ob + k * N + n];
        out.push_back(s);
      }
  }
  Shape os = batch;
  if (!vec_a) os.push_back(M);
  if (!vec_b) os.push_back(N);
  return {os, at.dtype(), out};
}

// ---- nn ----

inline Vec softmax(const Tensor& x, int64_t dim_in, bool log) {
  const Shape& s = x.shape();
  Vec v = vals(x), out(v.size());
  if (s.empty()) return Vec(v.size(), log ? 0.0 : 1.0);
  int64_t dim = wrap(dim_in, s.size());
  Shape ks = s;
  ks[dim] = 1;
  for (int64_t k = 0; k < numel(ks); ++k) {
    Index idx = unravel(k, ks);
    std::vector<int64_t> lin(s[dim]);
    double m = -INFINITY, z = 0;
    for (int64_t j = 0; j < s[dim]; ++j) {
      idx[dim] = j;
      lin[j] = ravel(idx, s);
      m = std::max(m, v[lin[j]]);
    }
    for (int64_t j = 0; j < s[dim]; ++j) z += std::exp(v[lin[j]] - m);
    for (int64_t j = 0; j < s[dim]; ++j) out[lin[j]] = log ? v[lin[j]] - m - std::log(z) : std::exp(v[lin[j]] - m) / z;
  }
  return out;
}

// cond ? a : b with broadcasting.
inline Expect where(const Tensor& c, const Tensor& a, const Tensor& b) {
  Shape s = bshape(bshape(c.shape(), a.shape()), b.shape());
  Vec vc = vals(c), va = vals(a), vb = vals(b), out;
  for (int64_t i = 0; i < numel(s); ++i) {
    Index idx = unravel(i, s);
    out.push_back(vc[bcast_index(idx, c.shape())] != 0 ? va[bcast_index(idx, a.shape())] : vb[bcast_index(idx, b.shape())]);
  }
  return {s, a.dtype(), out};
}

// Over the last dim; w, b undefined: 1 and 0.
inline Vec layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const int64_t C = x.shape().back();
  Vec xv = vals(x), wv = w.defined() ? vals(w) : Vec(C, 1.0), bv = b.defined() ? vals(b) : Vec(C, 0.0), out;
  for (int64_t r = 0; r < (C == 0 ? 0 : x.numel() / C); ++r) {
    double mu = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mu += xv[r * C + c] / C;
    for (int64_t c = 0; c < C; ++c) var += (xv[r * C + c] - mu) * (xv[r * C + c] - mu) / C;
    for (int64_t c = 0; c < C; ++c) out.push_back((xv[r * C + c] - mu) / std::sqrt(var + eps) * wv[c] + bv[c]);
  }
  return out;
}

inline Expect index_select(const Tensor& t, int64_t dim_in, const Tensor& index) {
  int64_t dim = wrap(dim_in, t.dim());
  Vec ix = vals(index);
  Shape os = t.shape();
  os[dim] = index.numel();
  return {os, t.dtype(), remap(t, os, [&](Index m) {
            m[dim] = static_cast<int64_t>(ix[m[dim]]);
            return m;
          })};
}

inline Expect gather(const Tensor& t, int64_t dim_in, const Tensor& index) {
  int64_t dim = wrap(dim_in, t.dim());
  Vec ix = vals(index);
  return {index.shape(), t.dtype(), remap(t, index.shape(), [&](Index m) {
            m[dim] = static_cast<int64_t>(ix[ravel(m, index.shape())]);
            return m;
          })};
}

// Per-row losses (0 where ignored), their sum, and the mean over rows not ignored (0 when none).
struct CrossEntropy {
  Vec losses;
  double sum = 0, mean = 0;
};
inline CrossEntropy cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore, double ls) {
  const bool single = logits.dim() == 1;
  const int64_t C = logits.shape().back(), N = single ? 1 : logits.shape()[0];
  Vec x = vals(logits), t = vals(target);
  CrossEntropy r;
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t tn = static_cast<int64_t>(t[n]);
    if (tn == ignore) {
      r.losses.push_back(0);
      continue;
    }
    double m = -INFINITY, z = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, x[n * C + c]);
    for (int64_t c = 0; c < C; ++c) z += std::exp(x[n * C + c] - m);
    double lse = m + std::log(z), loss = 0;
    for (int64_t c = 0; c < C; ++c) loss -= ((c == tn ? 1 - ls : 0) + ls / C) * (x[n * C + c] - lse);
    r.losses.push_back(loss);
    r.sum += loss;
    ++count;
  }
  r.mean = count > 0 ? r.sum / count : 0;
  return r;
}

// Attention by loops: valid [B * Nk] (1 = may attend; empty = all), causal with bottom-right
// alignment (query i sees keys j <= i + Nk - Nq) or, top_left, j <= i; top_k > 0: only the top_k
// largest allowed scores (ties: the earlier key) take part. A query with no key gets 0.
inline Vec attention(const Tensor& qt, const Tensor& kt, const Tensor& vt, double scale, bool causal, const Vec& valid,
                     int64_t top_k, bool top_left = false) {
  const int64_t B = qt.shape()[0], H = qt.shape()[1], Nq = qt.shape()[2], D = qt.shape()[3];
  const int64_t Nk = kt.shape()[2], Dv = vt.shape()[3];
  Vec q = vals(qt), k = vals(kt), v = vals(vt), out;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Nq; ++i) {
        std::vector<std::pair<double, int64_t>> allowed;  // (score, key)
        for (int64_t j = 0; j < Nk; ++j) {
          if (!valid.empty() && valid[b * Nk + j] == 0) continue;
          if (causal && j > i + (top_left ? 0 : Nk - Nq)) continue;
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[((b * H + h) * Nq + i) * D + d] * k[((b * H + h) * Nk + j) * D + d];
          allowed.push_back({s * scale, j});
        }
        if (top_k > 0 && static_cast<int64_t>(allowed.size()) > top_k) {
          std::stable_sort(allowed.begin(), allowed.end(), [](auto& x, auto& y) { return x.first > y.first; });
          allowed.resize(top_k);
        }
        double m = -INFINITY, z = 0;
        for (auto& [s, j] : allowed) m = std::max(m, s);
        for (auto& [s, j] : allowed) z += std::exp(s - m);
        for (int64_t e = 0; e < Dv; ++e) {
          double o = 0;
          for (auto& [s, j] : allowed) o += std::exp(s - m) / z * v[((b * H + h) * Nk + j) * Dv + e];
          out.push_back(o);
        }
      }
  return out;
}

}  // namespace memgrad::optable::ref
