// attention(): validation, the per-pair inputs, and the three kinds. vanilla is composed from
// primitive ops (attention_vanilla.cpp); chunked and topk are single autograd nodes over backend
// kernels.
#include "autograd/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/attention_internal.h"
#include "backends/attention_scores.h"
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

std::string to_string(PositionBias p) {
  switch (p) {
    case PositionBias::none: return "none";
    case PositionBias::alibi: return "alibi";
    case PositionBias::relative: return "relative";
  }
  return "unknown";
}

PositionBias parse_position_bias(const std::string& s) {
  if (s == "none") return PositionBias::none;
  if (s == "alibi") return PositionBias::alibi;
  if (s == "relative") return PositionBias::relative;
  fail("attention", "unknown position bias '{}' (expected none, alibi or relative)", escape_bytes(s, 40));
}

namespace attn {
namespace {

Dims validate_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  backend_of("attention", {&q, &k, &v, &o.key_padding_mask, &o.key_lengths, &o.attn_mask, &o.bias, &o.alibi_slopes,
                           &o.relative_table});
  auto shapes = [&] { return fmt::format("q {}, k {}, v {}", str(q.shape()), str(k.shape()), str(v.shape())); };
  MG_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention", "expected [B, H, N, D] tensors, got {}",
           shapes());
  MG_CHECK(q.dtype() == k.dtype() && k.dtype() == v.dtype(), "attention", "dtype mismatch: {} {} {} ({})",
           to_string(q.dtype()), to_string(k.dtype()), to_string(v.dtype()), shapes());
  check_float(q.dtype(), "attention");
  Dims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
  MG_CHECK(k.size(0) == d.B && v.size(0) == d.B && v.size(1) == d.Hkv, "attention", "batch and head dims differ: {}",
           shapes());
  MG_CHECK(d.Hkv > 0 ? d.H % d.Hkv == 0 : d.H == 0, "attention",
           "the query heads ({}) must be a multiple of the key/value heads ({}): {}", d.H, d.Hkv, shapes());
  MG_CHECK(k.size(3) == d.D, "attention", "q and k head dims differ: {}", shapes());
  MG_CHECK(v.size(2) == d.Nk, "attention", "k and v lengths differ: {}", shapes());
  return d;
}

void validate_scalars(const AttentionOptions& o) {
  MG_CHECK(!o.q_chunk || *o.q_chunk > 0, "attention", "q_chunk must be positive, got {}", o.q_chunk.value_or(0));
  MG_CHECK(!o.k_chunk || *o.k_chunk > 0, "attention", "k_chunk must be positive, got {}", o.k_chunk.value_or(0));
  MG_CHECK(o.top_k > 0, "attention", "top_k must be positive, got {}", o.top_k);
  MG_CHECK(!o.scale || (std::isfinite(*o.scale) && *o.scale > 0), "attention", "scale must be positive, got {}",
           o.scale.value_or(0));
  MG_CHECK(o.window_left >= -1 && o.window_right >= -1, "attention",
           "window bounds must be >= 0, or -1 for unbounded; got window_left {}, window_right {}", o.window_left,
           o.window_right);
  MG_CHECK(o.dropout_p >= 0 && o.dropout_p <= 1, "attention", "dropout_p must be in [0, 1], got {}", o.dropout_p);
}

// t (bool attn_mask or float bias) as a 4-d view broadcastable to [B, H, Nq, Nk].
Tensor pairwise_4d(const Tensor& t, const char* name, const Dims& d) {
  MG_CHECK(t.dim() <= 4, "attention", "{} must broadcast to [B, H, Nq, Nk] = [{}, {}, {}, {}], got {}", name, d.B,
           d.H, d.Nq, d.Nk, str(t.shape()));
  Tensor t4 = t;
  while (t4.dim() < 4) t4 = unsqueeze(t4, 0);
  const int64_t want[4] = {d.B, d.H, d.Nq, d.Nk};
  for (int i = 0; i < 4; ++i)
    MG_CHECK(t4.size(i) == want[i] || t4.size(i) == 1, "attention",
             "{} must broadcast to [B, H, Nq, Nk] = [{}, {}, {}, {}], got {}", name, d.B, d.H, d.Nq, d.Nk,
             str(t.shape()));
  return t4;
}

std::vector<int64_t> host_ints(const Tensor& t) {
  return dispatch_index(t.dtype(), "attention", [&]<class I>() {
    std::vector<int64_t> out;
    for (I x : to(t, Device::cpu()).to_vector<I>()) out.push_back(x);
    return out;
  });
}

// cu_seqlens_q / cu_seqlens_k: int [S + 1], nondecreasing from 0 to the total length.
Tensor checked_cu_seqlens(const Tensor& t, const char* name, int64_t total) {
  MG_CHECK(is_integral(t.dtype()) && t.dim() == 1 && t.numel() >= 1, "attention",
           "{} must be int [S + 1], got {} {}", name, to_string(t.dtype()), str(t.shape()));
  std::vector<int64_t> c = host_ints(t);
  MG_CHECK(c.front() == 0 && c.back() == total, "attention", "{} must run from 0 to {} (the packed length), got {} .. {}",
           name, total, c.front(), c.back());
  for (size_t s = 0; s + 1 < c.size(); ++s)
    MG_CHECK(c[s] <= c[s + 1], "attention", "{} must be nondecreasing: [{}] = {} > [{}] = {}", name, s, c[s], s + 1,
             c[s + 1]);
  return from_vector(c, {static_cast<int64_t>(c.size())}, Device::cpu());
}

void prepare_varlen(const Tensor& q, const AttentionOptions& o, Prepared& pr) {
  const Dims& d = pr.d;
  MG_CHECK(o.cu_seqlens_q.defined() == o.cu_seqlens_k.defined(), "attention",
           "give cu_seqlens_q and cu_seqlens_k together");
  if (!o.cu_seqlens_q.defined()) return;
  MG_CHECK(d.B == 1, "attention", "packed sequences (cu_seqlens) take B = 1, got q {}", str(q.shape()));
  MG_CHECK(!o.key_padding_mask.defined() && !o.key_lengths.defined(), "attention",
           "packed sequences (cu_seqlens) have no padding: key_padding_mask and key_lengths are not taken with them");
  pr.m.cu_seqlens_q = checked_cu_seqlens(o.cu_seqlens_q, "cu_seqlens_q", d.Nq);
  pr.m.cu_seqlens_k = checked_cu_seqlens(o.cu_seqlens_k, "cu_seqlens_k", d.Nk);
  MG_CHECK(pr.m.cu_seqlens_q.numel() == pr.m.cu_seqlens_k.numel(), "attention",
           "cu_seqlens_q and cu_seqlens_k must list the same number of sequences, got {} and {}",
           pr.m.cu_seqlens_q.numel() - 1, pr.m.cu_seqlens_k.numel() - 1);
}

void prepare_position(const Tensor& q, const AttentionOptions& o, Prepared& pr) {
  const Dims& d = pr.d;
  MG_CHECK(!o.alibi_slopes.defined() || o.position == PositionBias::alibi, "attention",
           "alibi_slopes given but position is {}, not alibi", to_string(o.position));
  MG_CHECK(!o.relative_table.defined() || o.position == PositionBias::relative, "attention",
           "relative_table given but position is {}, not relative", to_string(o.position));
  NoGradGuard ng;
  if (o.position == PositionBias::alibi) {
    if (o.alibi_slopes.defined()) {
      MG_CHECK(o.alibi_slopes.shape() == Shape({d.H}) && o.alibi_slopes.dtype() == q.dtype(), "attention",
               "alibi_slopes must be {} [H] = [{}], got {} {}", to_string(q.dtype()), d.H,
               to_string(o.alibi_slopes.dtype()), str(o.alibi_slopes.shape()));
      pr.m.alibi_slopes = contiguous(detach(o.alibi_slopes));
    } else {
      std::vector<double> s;
      for (int64_t h = 0; h < d.H; ++h) s.push_back(alibi_default_slope(h, d.H));
      pr.m.alibi_slopes = to(to(from_vector(s, {d.H}, Device::cpu()), q.dtype()), q.device());
    }
  }
  if (o.position == PositionBias::relative) {
    MG_CHECK(o.relative_table.defined(), "attention", "position relative needs relative_table [H, buckets]");
    const Tensor& t = o.relative_table;
    MG_CHECK(t.dim() == 2 && t.size(0) == d.H && t.dtype() == q.dtype(), "attention",
             "relative_table must be {} [H, buckets] with H = {}, got {} {}", to_string(q.dtype()), d.H,
             to_string(t.dtype()), str(t.shape()));
    const bool bidir = !o.causal;
    const int64_t nb = t.size(1), max_exact = (bidir ? nb / 2 : nb) / 2;
    MG_CHECK(max_exact >= 1, "attention", "relative_table needs at least {} buckets {}, got {}", bidir ? 4 : 2,
             bidir ? "(bidirectional: not causal)" : "(causal)", nb);
    MG_CHECK(o.relative_max_distance > max_exact, "attention",
             "relative_max_distance must exceed the exact buckets ({}), got {}", max_exact, o.relative_max_distance);
    std::vector<int32_t> buckets;
    const int64_t md = o.relative_max_distance;
    for (int64_t r = -md; r <= md; ++r) buckets.push_back(t5_relative_bucket(r, nb, md, bidir));
    pr.m.rel_bucket = to(from_vector(buckets, {2 * md + 1}, Device::cpu()), q.device());
    pr.m.rel_max_distance = md;
  }
}

}  // namespace

Prepared prepare(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  Prepared pr;
  pr.d = validate_qkv(q, k, v, o);
  validate_scalars(o);
  const Dims& d = pr.d;
  prepare_varlen(q, o, pr);
  pr.m.key_valid = key_valid_mask(o.key_padding_mask, o.key_lengths, d.B, d.Nk, q.device());
  if (o.attn_mask.defined()) {
    MG_CHECK(o.attn_mask.dtype() == DType::boolean, "attention",
             "attn_mask must be bool (true = may attend), got {}; an additive float mask is `bias`",
             to_string(o.attn_mask.dtype()));
    NoGradGuard ng;
    pr.m.mask = pairwise_4d(o.attn_mask, "attn_mask", d);
  }
  if (o.bias.defined()) {
    MG_CHECK(o.bias.dtype() == q.dtype(), "attention", "bias must have q's dtype {}, got {}", to_string(q.dtype()),
             to_string(o.bias.dtype()));
    pr.bias4 = pairwise_4d(o.bias, "bias", d);  // through autograd: its gradient reaches o.bias
    pr.m.bias = detach(pr.bias4);
  }
  prepare_position(q, o, pr);
  if (o.position == PositionBias::relative) {
    pr.table = contiguous(o.relative_table);
    pr.m.rel_table = detach(pr.table);
  }
  const double scale = o.scale.value_or(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(d.D, 1))));
  pr.p = AttentionParams{.scale = scale,
                         .causal = o.causal,
                         .causal_align = o.causal_align,
                         .window_left = o.window_left,
                         .window_right = o.window_right,
                         .q_chunk = o.q_chunk.value_or(o.kind == AttentionKind::topk ? kDefaultTopkQChunk : kDefaultQChunk),
                         .k_chunk = o.k_chunk.value_or(kDefaultKChunk),
                         .top_k = o.top_k,
                         .fused = o.fused};
  if (o.dropout_p > 0) {
    Generator& g = o.generator ? *o.generator : default_generator();
    const uint64_t seed = g.seed(), offset = g.advance(4);
    pr.p.dropout = make_dropout_rule(o.dropout_p, seed, offset);
  }
  return pr;
}

DenseRule dense_rule(const Prepared& pr) {
  const Dims& d = pr.d;
  DenseRule r{std::vector<uint8_t>(static_cast<size_t>(d.Nq * d.Nk), 0),
              std::vector<int64_t>(static_cast<size_t>(d.Nq * d.Nk), 0)};
  std::vector<Segment> segs;
  if (pr.m.cu_seqlens_q.defined()) {
    const int64_t* cq = pr.m.cu_seqlens_q.data<int64_t>();
    const int64_t* ck = pr.m.cu_seqlens_k.data<int64_t>();
    for (int64_t s = 0; s + 1 < pr.m.cu_seqlens_q.numel(); ++s) segs.push_back(packed_segment(cq, ck, s));
  } else {
    segs.push_back(Segment{0, d.Nq, 0, d.Nk});
  }
  for (const Segment& sg : segs) {
    const Visibility vis = pr.p.visibility(sg.nq, sg.nk);
    for (int64_t i = 0; i < sg.nq; ++i)
      for (int64_t j = 0; j < sg.nk; ++j) {
        const size_t e = static_cast<size_t>((sg.q0 + i) * d.Nk + sg.k0 + j);
        r.sees[e] = vis.sees(i, j);
        r.rel[e] = j - (i + vis.offset());
      }
  }
  return r;
}

namespace {

// A view the kernels read in place (backend.h, "Attention input layout"), else a copy made here,
// once, through autograd: backward then reads the saved copy and its gradient flows to t.
Tensor kernel_input(const Tensor& t) { return attention_layout_ok(t) ? t : clone(t); }

// The node's inputs and the gradients the kernels produce for them: q, k, v, then bias4 and the
// relative table when they need a gradient.
struct GradSlots {
  std::vector<Tensor> inputs;
  bool bias = false, table = false;
};

GradSlots grad_slots(const Tensor& q, const Tensor& k, const Tensor& v, const Prepared& pr) {
  GradSlots s{{q, k, v}};
  if (pr.bias4.defined() && pr.bias4.requires_grad()) s.bias = true, s.inputs.push_back(pr.bias4);
  if (pr.table.defined() && pr.table.requires_grad()) s.table = true, s.inputs.push_back(pr.table);
  return s;
}

AttentionModGrads zeroed_mod_grads(const GradSlots& s, const AttentionMods& m) {
  AttentionModGrads g;
  if (s.bias) g.dbias = zeros(m.bias.shape(), m.bias.dtype(), m.bias.device());
  if (s.table) g.drel_table = zeros(m.rel_table.shape(), m.rel_table.dtype(), m.rel_table.device());
  return g;
}

std::vector<Tensor> grads_out(const GradSlots& s, Tensor dq, Tensor dk, Tensor dv, const AttentionModGrads& g) {
  std::vector<Tensor> r{dq, dk, dv};
  if (s.bias) r.push_back(g.dbias);
  if (s.table) r.push_back(g.drel_table);
  return r;
}

// The saved per-pair inputs: views without history (the bias and table are user tensors that
// autograd tracks; saved() records their versions).
AttentionMods saved_mods(const AttentionMods& m) {
  AttentionMods s = m;
  if (m.bias.defined()) s.bias = saved(m.bias);
  if (m.rel_table.defined()) s.rel_table = saved(m.rel_table);
  return s;
}

// The output [B, H, Nq, Dv] as a view of a [B, Nq, H, Dv] tensor: the merged heads' layout, so that
// MultiHeadAttention's merge to [B, Nq, H * Dv] is a view, not a copy that the output projection
// would save beside this output (the kernels write any view in the input layout: backend.h).
Tensor merged_layout_output(const Dims& d, DType dtype, Device device) {
  return transpose(empty({d.B, d.Nq, d.H, d.Dv}, dtype, device), 1, 2);  // [B, H, Nq, Dv]
}

Tensor chunked(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Prepared& pr, Tensor* lse_out) {
  const Dims& d = pr.d;
  Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  Tensor out = merged_layout_output(d, q.dtype(), q.device());  // [B, H, Nq, Dv]
  Tensor lse = empty({d.B, d.H, d.Nq}, q.dtype(), q.device());        // one logsumexp per query row
  backend_for(q.device()).attention_chunked_forward(q, k, v, pr.m, pr.p, out, lse);
  if (lse_out) *lse_out = lse;
  const GradSlots slots = grad_slots(q, k, v, pr);
  const AttentionParams p = pr.p;
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), so = saved(out), sl = saved(lse);
  const AttentionMods sm = saved_mods(pr.m);
  return finish("attention_chunked", slots.inputs, out, [=](const Tensor& g) {
    Tensor dq = zeros(sq.shape(), sq.dtype(), sq.device()), dk = zeros(sk.shape(), sk.dtype(), sk.device()),
           dv = zeros(sv.shape(), sv.dtype(), sv.device());
    AttentionModGrads mg = zeroed_mod_grads(slots, sm);
    backend_for(sq.device()).attention_chunked_backward(sq, sk, sv, sm, so, sl, g, p, dq, dk, dv, mg);
    return grads_out(slots, dq, dk, dv, mg);
  });
}

struct TopkOut {
  Tensor out, idx, probs, lse;
};

TopkOut topk(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Prepared& pr, bool want_lse) {
  const Dims& d = pr.d;
  Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  const int64_t kk = std::min(pr.p.top_k, d.Nk);
  TopkOut r;
  r.out = merged_layout_output(d, q.dtype(), q.device());          // [B, H, Nq, Dv]
  r.idx = empty({d.B, d.H, d.Nq, kk}, DType::int32, q.device());    // [B, H, Nq, kk]
  r.probs = empty({d.B, d.H, d.Nq, kk}, q.dtype(), q.device());     // [B, H, Nq, kk]
  if (want_lse) r.lse = empty({d.B, d.H, d.Nq}, q.dtype(), q.device());
  backend_for(q.device()).attention_topk_forward(q, k, v, pr.m, pr.p, r.out, r.idx, r.probs, r.lse);
  const GradSlots slots = grad_slots(q, k, v, pr);
  const AttentionParams p = pr.p;
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), si = saved(r.idx), sp = saved(r.probs);
  const AttentionMods sm = saved_mods(pr.m);
  r.out = finish("attention_topk", slots.inputs, r.out, [=](const Tensor& g) {
    Tensor dq = zeros(sq.shape(), sq.dtype(), sq.device()), dk = zeros(sk.shape(), sk.dtype(), sk.device()),
           dv = zeros(sv.shape(), sv.dtype(), sv.device());
    AttentionModGrads mg = zeroed_mod_grads(slots, sm);
    backend_for(sq.device()).attention_topk_backward(sq, sk, sv, sm, si, sp, g, p, dq, dk, dv, mg);
    return grads_out(slots, dq, dk, dv, mg);
  });
  return r;
}

// Dense [B, H, Nq, Nk] probabilities from topk's kept indices and weights.
Tensor scatter_topk_probs(const TopkOut& t, const Dims& d) {
  NoGradGuard ng;
  Tensor idx = to(t.idx, Device::cpu()), w = to(to(t.probs, Device::cpu()), DType::float64);
  std::vector<double> dense(static_cast<size_t>(d.B * d.H * d.Nq * d.Nk), 0.0);
  const std::vector<int32_t> iv = contiguous(idx).to_vector<int32_t>();
  const std::vector<double> wv = contiguous(w).to_vector<double>();
  const int64_t kk = idx.size(3);
  for (int64_t row = 0; row < d.B * d.H * d.Nq; ++row)
    for (int64_t s = 0; s < kk; ++s)
      if (iv[row * kk + s] >= 0) dense[row * d.Nk + iv[row * kk + s]] = wv[row * kk + s];
  return to(to(from_vector(dense, {d.B, d.H, d.Nq, d.Nk}, Device::cpu()), t.probs.dtype()), t.probs.device());
}

}  // namespace
}  // namespace attn

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

AttentionResult attention_outputs(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts,
                                  AttentionWant want) {
  const attn::Prepared pr = attn::prepare(q, k, v, opts);
  if (opts.context_parallel) {  // ring attention (attention_ring.cpp)
    MG_CHECK(!want.lse && !want.probs && !want.topk, "attention",
             "context_parallel gives the output only (no lse, probs or top-k outputs yet)");
    return AttentionResult{.out = attn::ring_chunked(q, k, v, pr, opts)};
  }
  MG_CHECK(!want.topk || opts.kind == AttentionKind::topk, "attention",
           "topk_indices and topk_weights come from the topk kind only, not {}", to_string(opts.kind));
  AttentionResult r;
  if (opts.kind == AttentionKind::vanilla) {
    attn::VanillaOut o = attn::vanilla(q, k, v, pr, want.lse || want.probs);
    r.out = o.out;
    if (want.lse) r.lse = o.lse;
    if (want.probs) r.probs = o.probs;
    return r;
  }
  if (opts.kind == AttentionKind::chunked) {
    r.out = attn::chunked(q, k, v, pr, want.lse ? &r.lse : nullptr);
    if (want.probs) {  // exp(s - lse) by the same rules: the vanilla composition's probabilities
      NoGradGuard ng;
      r.probs = attn::vanilla(detach(q), detach(k), detach(v), pr, true).probs;
    }
    return r;
  }
  attn::TopkOut t = attn::topk(q, k, v, pr, want.lse);
  r.out = t.out;
  r.lse = t.lse;
  if (want.topk) r.topk_indices = t.idx, r.topk_weights = t.probs;
  if (want.probs) r.probs = attn::scatter_topk_probs(t, pr.d);
  return r;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts) {
  return attention_outputs(q, k, v, opts, {}).out;
}

}  // namespace memgrad
