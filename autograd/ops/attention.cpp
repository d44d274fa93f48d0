// attention(): validation, masks, and the three kinds. vanilla is composed from primitive ops;
// chunked and topk are single autograd nodes over backend kernels.
#include "autograd/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/attention_visibility.h"
#include "backends/backend.h"
#include "core/escape.h"

namespace memgrad {

std::string to_string(AttentionKind k) {
  switch (k) {
    case AttentionKind::vanilla: return "vanilla";
    case AttentionKind::chunked: return "chunked";
    case AttentionKind::topk: return "topk";
  }
  return "unknown";
}

AttentionKind parse_attention_kind(const std::string& s) {
  if (s == "vanilla") return AttentionKind::vanilla;
  if (s == "chunked") return AttentionKind::chunked;
  if (s == "topk") return AttentionKind::topk;
  fail("attention", "unknown attention kind '{}' (expected vanilla, chunked or topk)", s);
}

std::string to_string(CausalAlign a) { return a == CausalAlign::top_left ? "top_left" : "bottom_right"; }

CausalAlign parse_causal_align(const std::string& s) {
  if (s == "bottom_right") return CausalAlign::bottom_right;
  if (s == "top_left") return CausalAlign::top_left;
  fail("attention", "unknown causal alignment '{}' (expected bottom_right or top_left)", escape_bytes(s, 40));
}

namespace {

struct Dims {
  int64_t B, H, Nq, Nk, D, Dv;
};

Dims validate(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  backend_of("attention", {&q, &k, &v, &o.key_padding_mask, &o.key_lengths});
  auto shapes = [&] { return fmt::format("q {}, k {}, v {}", str(q.shape()), str(k.shape()), str(v.shape())); };
  MG_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention", "expected [B, H, N, D] tensors, got {}",
           shapes());
  MG_CHECK(q.dtype() == k.dtype() && k.dtype() == v.dtype(), "attention", "dtype mismatch: {} {} {} ({})",
           to_string(q.dtype()), to_string(k.dtype()), to_string(v.dtype()), shapes());
  check_float(q.dtype(), "attention");
  Dims d{q.size(0), q.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
  MG_CHECK(k.size(0) == d.B && v.size(0) == d.B && k.size(1) == d.H && v.size(1) == d.H, "attention",
           "batch and head dims differ: {}", shapes());
  MG_CHECK(k.size(3) == d.D, "attention", "q and k head dims differ: {}", shapes());
  MG_CHECK(v.size(2) == d.Nk, "attention", "k and v lengths differ: {}", shapes());
  MG_CHECK(!o.q_chunk || *o.q_chunk > 0, "attention", "q_chunk must be positive, got {}", o.q_chunk.value_or(0));
  MG_CHECK(!o.k_chunk || *o.k_chunk > 0, "attention", "k_chunk must be positive, got {}", o.k_chunk.value_or(0));
  MG_CHECK(o.top_k > 0, "attention", "top_k must be positive, got {}", o.top_k);
  MG_CHECK(!o.scale || (std::isfinite(*o.scale) && *o.scale > 0), "attention", "scale must be positive, got {}",
           o.scale.value_or(0));
  return d;
}

// The keys masked for each query: bool, broadcast to the scores [B, H, Nq, Nk], true = ignore;
// undefined when nothing is masked.
Tensor masked_pairs(const Tensor& valid, const Visibility& vis, const Dims& d, Device dev) {
  NoGradGuard ng;
  Tensor masked;
  if (valid.defined()) masked = reshape(logical_not(valid), {d.B, 1, 1, d.Nk});
  if (vis.causal) {
    std::vector<int64_t> last(static_cast<size_t>(d.Nq));
    for (int64_t i = 0; i < d.Nq; ++i) last[static_cast<size_t>(i)] = vis.last_key(i);
    Tensor last_key = from_vector(last, {d.Nq, 1}, dev);                // [Nq, 1]
    Tensor j = reshape(arange(d.Nk, DType::int64, dev), {1, d.Nk});    // [1, Nk]
    Tensor after = gt(j, last_key);                                     // [Nq, Nk]
    masked = masked.defined() ? logical_or(masked, after) : after;
  }
  return masked;
}

// Vanilla over visible pairs only, for inputs that hold NaN or inf under a mask: a dense product
// would let 0 * NaN from masked pairs through. Padded keys' k and v rows are replaced by zeros
// (where(): they get no gradient) and, when causal, each query row multiplies only the keys it
// may see. One small graph per query row: this path is for broken inputs, not for speed.
Tensor vanilla_visible_only(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid, double scale,
                            const Visibility& vis, const Dims& d) {
  Tensor kz = k, vz = v, pad;  // pad: bool [B, 1, 1, Nk], true = padding
  if (valid.defined()) {
    Tensor zero;
    {
      NoGradGuard ng;
      pad = reshape(logical_not(valid), {d.B, 1, 1, d.Nk});
      zero = zeros({}, q.dtype(), q.device());
    }
    Tensor pad_rows = reshape(pad, {d.B, 1, d.Nk, 1});
    kz = where(pad_rows, zero, k);
    vz = where(pad_rows, zero, v);
  }
  auto attend = [&](const Tensor& qs, int64_t n) {  // queries qs [B, H, r, D] against keys 0.. n - 1
    Tensor s = matmul(qs, transpose(narrow(kz, 2, 0, n), -1, -2)) * scale;  // [B, H, r, n]
    if (pad.defined()) s = masked_fill(s, narrow(pad, 3, 0, n), -INFINITY);
    return matmul(softmax(s, -1), narrow(vz, 2, 0, n));  // [B, H, r, Dv]
  };
  if (!vis.causal) return attend(q, d.Nk);
  std::vector<Tensor> rows;
  for (int64_t i = 0; i < d.Nq; ++i) {
    const int64_t n = vis.keys_seen(i);  // keys 0 .. last_key(i)
    rows.push_back(n > 0 ? attend(narrow(q, 2, i, 1), n) : zeros({d.B, d.H, 1, d.Dv}, q.dtype(), q.device()));
  }
  return rows.empty() ? zeros({d.B, d.H, 0, d.Dv}, q.dtype(), q.device()) : cat(rows, 2);
}

// The primitive-op baseline: autograd keeps the [B, H, Nq, Nk] probabilities for backward.
Tensor vanilla(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& valid, double scale,
               const Visibility& vis, const Dims& d) {
  const bool any_mask = valid.defined() || vis.causal;
  if (any_mask && !(all_finite(q) && all_finite(k) && all_finite(v)))
    return vanilla_visible_only(q, k, v, valid, scale, vis, d);
  Tensor s = matmul(q, transpose(k, -1, -2)) * scale;  // [B, H, Nq, Nk]
  Tensor masked = masked_pairs(valid, vis, d, q.device());
  if (masked.defined()) s = masked_fill(s, masked, -INFINITY);
  Tensor p = softmax(s, -1);  // a fully masked row is all zeros; a row with NaN or +inf all NaN
  Tensor out = matmul(p, v);  // [B, H, Nq, Dv]
  // A NaN row of p (scores overflowing to inf) makes its output row NaN: only then, redo the
  // product with the row's masked pairs at 0, so that they carry nothing (to dv either).
  if (masked.defined() && !all_finite(out)) out = matmul(masked_fill(p, masked, 0.0), v);
  return out;
}

// A view the kernels read in place (backend.h, "Attention input layout"), else a copy made here,
// once, through autograd: backward then reads the saved copy and its gradient flows to t.
Tensor kernel_input(const Tensor& t) { return attention_layout_ok(t) ? t : clone(t); }

Tensor chunked(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& valid,
               const AttentionParams& p, const Dims& d) {
  Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  Backend& be = backend_for(q.device());
  Tensor out = empty({d.B, d.H, d.Nq, d.Dv}, q.dtype(), q.device());
  Tensor lse = empty({d.B, d.H, d.Nq}, q.dtype(), q.device());  // one logsumexp per query row
  be.attention_chunked_forward(q, k, v, valid, p, out, lse);
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), so = saved(out), sl = saved(lse), sm = saved(valid);
  return finish("attention_chunked", {q, k, v}, out, [=](const Tensor& g) {
    Tensor dq = zeros(sq.shape(), sq.dtype(), sq.device()), dk = zeros(sk.shape(), sk.dtype(), sk.device()),
           dv = zeros(sv.shape(), sv.dtype(), sv.device());
    backend_for(sq.device()).attention_chunked_backward(sq, sk, sv, sm, so, sl, g, p, dq, dk, dv);
    return std::vector<Tensor>{dq, dk, dv};
  });
}

Tensor topk(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& valid, const AttentionParams& p,
            const Dims& d) {
  Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  const int64_t kk = std::min(p.top_k, d.Nk);
  Tensor out = empty({d.B, d.H, d.Nq, d.Dv}, q.dtype(), q.device());
  Tensor idx = empty({d.B, d.H, d.Nq, kk}, DType::int32, q.device());
  Tensor probs = empty({d.B, d.H, d.Nq, kk}, q.dtype(), q.device());
  backend_for(q.device()).attention_topk_forward(q, k, v, valid, p, out, idx, probs);
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), si = saved(idx), sp = saved(probs);
  return finish("attention_topk", {q, k, v}, out, [=](const Tensor& g) {
    Tensor dq = zeros(sq.shape(), sq.dtype(), sq.device()), dk = zeros(sk.shape(), sk.dtype(), sk.device()),
           dv = zeros(sv.shape(), sv.dtype(), sv.device());
    backend_for(sq.device()).attention_topk_backward(sq, sk, sv, si, sp, g, p, dq, dk, dv);
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace

Tensor key_valid_mask(const Tensor& key_padding_mask, const Tensor& key_lengths, int64_t B, int64_t Nk, Device device,
                      const char* op) {
  MG_CHECK(!(key_padding_mask.defined() && key_lengths.defined()), op,
           "give key_padding_mask or key_lengths, not both");
  NoGradGuard ng;
  // masks given on another device (e.g. lengths from the host for GPU inputs) are moved to `device`
  if (key_padding_mask.defined()) {
    MG_CHECK(key_padding_mask.dtype() == DType::boolean && key_padding_mask.shape() == Shape({B, Nk}), op,
             "key_padding_mask must be bool [B, Nk] = [{}, {}], got {} {}", B, Nk,
             to_string(key_padding_mask.dtype()), str(key_padding_mask.shape()));
    return contiguous(logical_not(to(key_padding_mask, device)));
  }
  if (!key_lengths.defined()) return Tensor();
  MG_CHECK(is_integral(key_lengths.dtype()) && key_lengths.shape() == Shape({B}), op,
           "key_lengths must be int [B] = [{}], got {} {}", B, to_string(key_lengths.dtype()),
           str(key_lengths.shape()));
  const std::vector<int64_t> len = dispatch_index(key_lengths.dtype(), op, [&]<class I>() {
    std::vector<int64_t> out;
    for (I v : key_lengths.to_vector<I>()) out.push_back(v);
    return out;
  });
  for (size_t b = 0; b < len.size(); ++b)
    MG_CHECK(len[b] >= 0 && len[b] <= Nk, op, "key_lengths[{}] = {} is out of range: a length must be in [0, Nk = {}]",
             b, len[b], Nk);
  Tensor pos = reshape(arange(Nk, key_lengths.dtype(), device), {1, Nk});
  return contiguous(lt(pos, reshape(to(key_lengths, device), {B, 1})));
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts) {
  const Dims d = validate(q, k, v, opts);
  const double scale = opts.scale.value_or(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(d.D, 1))));
  Tensor valid = key_valid_mask(opts.key_padding_mask, opts.key_lengths, d.B, d.Nk, q.device());
  if (opts.kind == AttentionKind::vanilla)
    return vanilla(q, k, v, valid, scale, Visibility{d.Nq, d.Nk, opts.causal, opts.causal_align}, d);
  AttentionParams p{.scale = scale,
                    .causal = opts.causal,
                    .causal_align = opts.causal_align,
                    .q_chunk = opts.q_chunk.value_or(opts.kind == AttentionKind::topk ? kDefaultTopkQChunk
                                                                                      : kDefaultQChunk),
                    .k_chunk = opts.k_chunk.value_or(kDefaultKChunk),
                    .top_k = opts.top_k,
                    .fused = opts.fused};
  if (opts.kind == AttentionKind::chunked) return chunked(q, k, v, valid, p, d);
  return topk(q, k, v, valid, p, d);
}

}  // namespace memgrad
