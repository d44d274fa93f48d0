// The vanilla kind: attention composed from primitive ops, every option applied as an explicit
// dense [.., Nq, Nk] tensor. It is the O(N^2)-memory baseline and the reference the kernels are
// tested against, so it is written for plainness: the rules come from the same headers
// (backends/attention_visibility.h, backends/attention_scores.h), expanded into dense masks and
// biases here.
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/attention_internal.h"

namespace memgrad::attn {
namespace {

// Whether pair (b, h, i, j) is hidden: bool [B|1, H|1, Nq, Nk] broadcastable, or undefined when
// nothing is masked.
Tensor masked_pairs(const Prepared& pr, const DenseRule& rule, Device dev) {
  NoGradGuard ng;
  const Dims& d = pr.d;
  Tensor masked;
  auto join = [&](const Tensor& m) { masked = masked.defined() ? logical_or(masked, m) : m; };
  if (pr.p.visibility(d.Nq, d.Nk).limited() || pr.m.cu_seqlens_q.defined()) {
    std::vector<int32_t> hidden(rule.sees.size());
    for (size_t e = 0; e < hidden.size(); ++e) hidden[e] = !rule.sees[e];
    join(to(ne(from_vector(hidden, {1, 1, d.Nq, d.Nk}, Device::cpu()), zeros({}, DType::int32)), dev));
  }
  if (pr.m.key_valid.defined()) join(reshape(logical_not(pr.m.key_valid), {d.B, 1, 1, d.Nk}));
  if (pr.m.mask.defined()) join(logical_not(pr.m.mask));
  return masked;
}

// The position terms as a dense [1, H, Nq, Nk] tensor (the relative table's gradient flows
// through index_select), or undefined.
Tensor position_terms(const Prepared& pr, const DenseRule& rule, DType dt, Device dev) {
  const Dims& d = pr.d;
  Tensor t;
  if (pr.m.alibi_slopes.defined()) {
    NoGradGuard ng;
    std::vector<double> dist(rule.rel.size());
    for (size_t e = 0; e < dist.size(); ++e) dist[e] = static_cast<double>(std::llabs(rule.rel[e]));
    Tensor absrel = to(to(from_vector(dist, {1, 1, d.Nq, d.Nk}, Device::cpu()), dt), dev);
    t = neg(reshape(pr.m.alibi_slopes, {1, d.H, 1, 1}) * absrel);
  }
  if (pr.table.defined()) {
    std::vector<int64_t> bucket(rule.rel.size());
    const std::vector<int32_t> table = to(pr.m.rel_bucket, Device::cpu()).to_vector<int32_t>();
    const int64_t md = pr.m.rel_max_distance;
    for (size_t e = 0; e < bucket.size(); ++e) bucket[e] = table[std::clamp(rule.rel[e], -md, md) + md];
    Tensor idx = to(from_vector(bucket, {d.Nq * d.Nk}, Device::cpu()), dev);
    Tensor rel = reshape(index_select(pr.table, 1, idx), {1, d.H, d.Nq, d.Nk});
    t = t.defined() ? t + rel : rel;
  }
  return t;
}

// The dropout keep pattern scaled by 1 / (1 - p): [B, H, Nq, Nk], q's dtype.
Tensor dropout_factor(const Prepared& pr, DType dt, Device dev) {
  const Dims& d = pr.d;
  const DropoutRule& r = pr.p.dropout;
  std::vector<double> f(static_cast<size_t>(d.B * d.H * d.Nq * d.Nk));
  size_t e = 0;
  for (int64_t bh = 0; bh < d.B * d.H; ++bh)
    for (int64_t i = 0; i < d.Nq; ++i)
      for (int64_t j = 0; j < d.Nk; ++j) f[e++] = r.keep(bh, i, j) ? r.keep_scale : 0.0;
  NoGradGuard ng;
  return to(to(from_vector(f, {d.B, d.H, d.Nq, d.Nk}, Device::cpu()), dt), dev);
}

// x [B, H, N, E] as [B, Hkv, G * N, E] (query head h = hkv * G + g), and back.
Tensor group_heads(const Tensor& x, const Dims& d) {
  return reshape(x, {d.B, d.Hkv, (d.H / std::max<int64_t>(d.Hkv, 1)) * x.size(2), x.size(3)});
}
Tensor ungroup_heads(const Tensor& x, const Dims& d) { return reshape(x, {d.B, d.H, -1, x.size(3)}); }

// scale q k^T [B, H, Nq, Nk] and p v [B, H, Nq, Dv], key/value heads shared by query-head groups.
Tensor scores(const Tensor& q, const Tensor& k, double scale, const Dims& d) {
  if (d.H == d.Hkv) return matmul(q, transpose(k, -1, -2)) * scale;
  return reshape(matmul(group_heads(q, d), transpose(k, -1, -2)) * scale, {d.B, d.H, d.Nq, d.Nk});
}
Tensor weighted_values(const Tensor& p, const Tensor& v, const Dims& d) {
  if (d.H == d.Hkv) return matmul(p, v);
  return ungroup_heads(matmul(group_heads(p, d), v), d);
}

// Logsumexp of each row of the masked scores: +inf for a row with no visible key or all -inf.
Tensor row_lse(const Tensor& s) {
  NoGradGuard ng;
  Tensor m = amax(s, {-1}, true);
  Tensor none = eq(m, full({}, -INFINITY, s.dtype(), s.device()));
  Tensor safe_m = where(none, zeros({}, s.dtype(), s.device()), m);
  Tensor l = squeeze(log(sum(exp(s - safe_m), {-1}, true)) + safe_m, -1);
  return where(squeeze(none, -1), full({}, INFINITY, s.dtype(), s.device()), l);
}

// Vanilla over visible pairs only, for inputs holding NaN or inf where a pair is masked: a dense
// product would let 0 * NaN from masked pairs through. One small graph per (b, h, query row) over
// exactly its visible keys: this path is for broken inputs, not for speed.
Tensor vanilla_visible_only(const Tensor& q, const Tensor& k, const Tensor& v, const Prepared& pr,
                            const Tensor& masked, const Tensor& terms) {
  const Dims& d = pr.d;
  const int64_t G = d.H / std::max<int64_t>(d.Hkv, 1);
  Tensor hidden;
  {
    NoGradGuard ng;
    hidden = contiguous(to(expand(masked, {d.B, d.H, d.Nq, d.Nk}), Device::cpu()));
  }
  const std::vector<int32_t> hid = to(hidden, DType::int32).to_vector<int32_t>();
  Tensor factor = pr.p.dropout.on ? dropout_factor(pr, q.dtype(), q.device()) : Tensor();
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.Nq; ++i) {
        std::vector<int64_t> keys;
        for (int64_t j = 0; j < d.Nk; ++j)
          if (!hid[static_cast<size_t>(((b * d.H + h) * d.Nq + i) * d.Nk + j)]) keys.push_back(j);
        if (keys.empty()) {
          rows.push_back(zeros({d.Dv}, q.dtype(), q.device()));
          continue;
        }
        Tensor J = from_vector(keys, {static_cast<int64_t>(keys.size())}, q.device());
        Tensor kj = index_select(select(select(k, 0, b), 0, h / G), 0, J);  // [n, D]
        Tensor vj = index_select(select(select(v, 0, b), 0, h / G), 0, J);  // [n, Dv]
        Tensor qi = select(select(select(q, 0, b), 0, h), 0, i);            // [D]
        Tensor s = sum(unsqueeze(qi, 0) * kj, {1}) * pr.p.scale;             // [n]
        if (pr.bias4.defined())
          s = s + index_select(select(select(select(pr.bias4, 0, pr.bias4.size(0) == 1 ? 0 : b), 0,
                                             pr.bias4.size(1) == 1 ? 0 : h),
                                      0, pr.bias4.size(2) == 1 ? 0 : i),
                               0, pr.bias4.size(3) == 1 ? zeros({J.numel()}, DType::int64, q.device()) : J);
        if (terms.defined()) s = s + index_select(select(select(select(terms, 0, 0), 0, h), 0, i), 0, J);
        Tensor p = softmax(s, 0);
        if (factor.defined()) p = p * index_select(select(select(select(factor, 0, b), 0, h), 0, i), 0, J);
        rows.push_back(sum(unsqueeze(p, 1) * vj, {0}));
      }
  if (rows.empty()) return zeros({d.B, d.H, d.Nq, d.Dv}, q.dtype(), q.device());
  return reshape(stack(rows, 0), {d.B, d.H, d.Nq, d.Dv});
}

}  // namespace

VanillaOut vanilla(const Tensor& q, const Tensor& k, const Tensor& v, const Prepared& pr, bool want_stats) {
  const Dims& d = pr.d;
  const DenseRule rule = dense_rule(pr);
  Tensor masked = masked_pairs(pr, rule, q.device());
  Tensor terms = position_terms(pr, rule, q.dtype(), q.device());  // [1, H, Nq, Nk]
  VanillaOut r;
  Tensor s = scores(q, k, pr.p.scale, d);  // [B, H, Nq, Nk]
  if (pr.bias4.defined()) s = s + pr.bias4;
  if (terms.defined()) s = s + terms;
  if (masked.defined()) s = masked_fill(s, masked, -INFINITY);
  Tensor p = softmax(s, -1);  // a fully masked row is all zeros; a row with NaN or +inf all NaN
  if (want_stats) {
    r.probs = detach(p);
    r.lse = row_lse(detach(s));
  }
  const bool broken = masked.defined() && !(all_finite(q) && all_finite(k) && all_finite(v));
  if (broken) {
    r.out = vanilla_visible_only(q, k, v, pr, masked, terms);
    return r;
  }
  Tensor pd = pr.p.dropout.on ? p * dropout_factor(pr, q.dtype(), q.device()) : p;
  r.out = weighted_values(pd, v, d);  // [B, H, Nq, Dv]
  // A NaN row of p (scores overflowing to inf) makes its output row NaN: only then, redo the
  // product with the row's masked pairs at 0, so that they carry nothing (to dv either).
  if (masked.defined() && !all_finite(r.out)) r.out = weighted_values(masked_fill(pd, masked, 0.0), v, d);
  return r;
}

}  // namespace memgrad::attn
