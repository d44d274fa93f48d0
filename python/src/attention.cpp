// memgrad.functional.attention: the three attention kinds with every option; runs without the GIL.
#include "autograd/attention.h"

#include "common.h"

namespace memgrad::python {

namespace {

std::optional<int64_t> opt_int(py::handle h, const char* what) {
  if (h.is_none()) return std::nullopt;
  return int_arg(h, "attention", what);
}

}  // namespace

// AttentionOptions from keyword values (shared with nn.MultiHeadAttention and TransformerEncoder).
AttentionOptions attention_options(const std::string& kind, py::handle scale, bool causal, py::handle key_padding_mask,
                                   py::handle key_lengths, py::handle q_chunk, py::handle k_chunk, int64_t top_k) {
  AttentionOptions o;
  o.kind = parse_attention_kind(kind);
  if (!scale.is_none()) o.scale = float_arg(scale, "attention", "scale");
  o.causal = causal;
  if (!key_padding_mask.is_none()) o.key_padding_mask = as_tensor(key_padding_mask);
  if (!key_lengths.is_none()) o.key_lengths = as_tensor(key_lengths);
  o.q_chunk = opt_int(q_chunk, "q_chunk");
  o.k_chunk = opt_int(k_chunk, "k_chunk");
  o.top_k = top_k;
  return o;
}

namespace {

// A float input other than a Tensor (a numpy array, a list) takes q's dtype, as the binary ops
// convert their array operands; a Tensor is taken as it is (attention() checks its dtype).
Tensor float_input(py::handle h, DType q_dtype) {
  if (h.is_none()) return Tensor();
  if (py::isinstance<Tensor>(h)) return h.cast<Tensor>();
  Tensor t = as_tensor(h);
  return is_floating(t.dtype()) ? as_tensor(h, q_dtype) : t;
}

// window=(left, right): keys i + o - left .. i + o + right; None or -1 leaves a side unbounded.
void set_window(AttentionOptions& o, py::handle window) {
  if (window.is_none()) return;
  const auto bad = [&] {
    fail("attention", "window must be (left, right), each an int >= 0 or None / -1 for unbounded, got {}",
         py::repr(window).cast<std::string>());
  };
  if (!py::isinstance<py::sequence>(window) || py::isinstance<py::str>(window) || py::len(window) != 2) bad();
  const auto side = [&](py::handle h) {
    if (h.is_none()) return int64_t{-1};
    if (py::isinstance<py::bool_>(h) || !py::hasattr(h, "__index__")) bad();  // no floats, no bools
    return h.cast<int64_t>();
  };
  py::sequence w = window.cast<py::sequence>();
  o.window_left = side(w[0]);
  o.window_right = side(w[1]);
}

// position ("none" | "alibi" | "relative") and its tensors; attention() checks their shapes.
void set_position(AttentionOptions& o, DType q_dtype, const std::string& position, py::handle alibi_slopes,
                  py::handle relative_table, int64_t relative_max_distance) {
  o.position = parse_position_bias(position);
  o.alibi_slopes = float_input(alibi_slopes, q_dtype);
  o.relative_table = float_input(relative_table, q_dtype);
  o.relative_max_distance = relative_max_distance;
}

// The pairwise inputs, packed sequences and dropout.
void set_pairs_varlen_dropout(AttentionOptions& o, DType q_dtype, py::handle attn_mask, py::handle bias,
                              py::handle cu_seqlens_q, py::handle cu_seqlens_k, double dropout_p, Generator* gen) {
  if (!attn_mask.is_none()) o.attn_mask = as_tensor(attn_mask);
  o.bias = float_input(bias, q_dtype);
  if (!cu_seqlens_q.is_none()) o.cu_seqlens_q = as_tensor(cu_seqlens_q);
  if (!cu_seqlens_k.is_none()) o.cu_seqlens_k = as_tensor(cu_seqlens_k);
  o.dropout_p = dropout_p;
  o.generator = gen;
}

// attention_outputs() as Python values: the output alone when nothing more was asked for, else a
// namedtuple AttentionOutputs(out, then lse, probs, topk_indices, topk_weights as asked, in this
// order). The namedtuple types are made once per field set and kept in functional._output_types.
py::object outputs_object(const AttentionResult& r, AttentionWant want) {
  if (!want.lse && !want.probs && !want.topk) return py::cast(r.out);
  std::vector<std::string> names{"out"};
  py::list values;
  values.append(r.out);
  auto add = [&](bool on, const char* name, const Tensor& t) {
    if (on) names.emplace_back(name), values.append(t);
  };
  add(want.lse, "lse", r.lse);
  add(want.probs, "probs", r.probs);
  add(want.topk, "topk_indices", r.topk_indices);
  add(want.topk, "topk_weights", r.topk_weights);
  py::dict types = py::module_::import("memgrad._C").attr("functional").attr("_output_types");
  py::tuple key = py::cast(names);
  if (!types.contains(key)) types[key] = py::module_::import("collections").attr("namedtuple")("AttentionOutputs", key);
  return types[key](*values);
}

constexpr const char* kAttentionDoc = R"doc(Scaled dot-product attention with every option of AttentionOptions.

q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv] -> [B, H, Nq, Dv]; Hkv divides H
(grouped-query attention: query head h reads key/value head h // (H // Hkv)).

kind: "vanilla" (softmax(QK^T s) V from primitive ops; backward keeps the [Nq, Nk] probabilities),
"chunked" (the same values by online softmax over key chunks; saves O(Nq) per head) or "topk"
(each query softmaxes over its top_k largest scores). scale defaults to 1/sqrt(D).
causal: query i sees keys j <= i + (Nk - Nq) with causal_alignment="bottom_right" (the default:
the queries are the last Nq positions, as in FlashAttention and decoding), or j <= i with
"top_left" (PyTorch's is_causal). window=(left, right): query i sees keys i+o-left .. i+o+right
(o the alignment's offset; None or -1 = unbounded on that side).
key_padding_mask: bool [B, Nk], True = ignored; or key_lengths: int [B].
attn_mask: bool, broadcastable to [B, H, Nq, Nk], True = may attend. bias: float, broadcastable to
[B, H, Nq, Nk], added to the scores (gets a gradient when it requires one; -inf masks).
position: "none", "alibi" (- slope[h] |j - i - o|; alibi_slopes [H], default the paper's) or
"relative" (+ relative_table[h, bucket(j - i - o)], T5's buckets up to relative_max_distance;
relative_table [H, buckets] gets a gradient).
cu_seqlens_q, cu_seqlens_k: int [S + 1], packed sequences in B = 1 (FlashAttention's varlen).
dropout_p: dropout on the probabilities, its keep pattern drawn from generator (default: the
default generator) and regenerated in backward.
return_lse / return_probs / return_topk: return a namedtuple (out, lse [B, H, Nq], probs
[B, H, Nq, Nk] before dropout, topk_indices / topk_weights [B, H, Nq, kk] for kind="topk"),
holding the fields asked for; none of them differentiable.
q_chunk, k_chunk: block sizes of chunked/topk. A query with no visible key gets zeros.
On a GPU: fused=False forces the block-wise cuBLAS kernels instead of the fused ones.)doc";

// The binding's body: options from the keyword values, then attention without the GIL.
py::object attention_py(const Tensor& q, const Tensor& k, const Tensor& v, AttentionOptions o, AttentionWant want) {
  AttentionResult r;
  {
    py::gil_scoped_release release;
    r = attention_outputs(q, k, v, o, want);
  }
  return outputs_object(r, want);
}

}  // namespace

void bind_attention(py::module_& m) {
  py::module_ f = m.def_submodule("functional", "Functional ops: attention.");
  f.attr("_output_types") = py::dict();
  f.def("attention", [](const TensorArg& q, const TensorArg& k, const TensorArg& v, const std::string& kind,
                        py::handle scale, bool causal, py::handle key_padding_mask, py::handle key_lengths,
                        py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool fused,
                        const std::string& causal_alignment, py::handle window, py::handle attn_mask, py::handle bias,
                        const std::string& position, py::handle alibi_slopes, py::handle relative_table,
                        int64_t relative_max_distance, py::handle cu_seqlens_q, py::handle cu_seqlens_k,
                        double dropout_p, Generator* generator, bool return_lse, bool return_probs, bool return_topk) {
    AttentionOptions o = attention_options(kind, scale, causal, key_padding_mask, key_lengths, q_chunk, k_chunk, top_k);
    o.fused = fused;
    o.causal_align = parse_causal_align(causal_alignment);
    set_window(o, window);
    set_position(o, q.dtype(), position, alibi_slopes, relative_table, relative_max_distance);
    set_pairs_varlen_dropout(o, q.dtype(), attn_mask, bias, cu_seqlens_q, cu_seqlens_k, dropout_p, generator);
    return attention_py(q, k, v, o, AttentionWant{.lse = return_lse, .probs = return_probs, .topk = return_topk});
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::kw_only(), py::arg("kind") = "chunked",
     py::arg("scale") = py::none(), py::arg("causal") = false, py::arg("key_padding_mask") = py::none(),
     py::arg("key_lengths") = py::none(), py::arg("q_chunk") = py::none(), py::arg("k_chunk") = py::none(),
     py::arg("top_k") = 64,
     py::arg("fused") = true, py::arg("causal_alignment") = "bottom_right", py::arg("window") = py::none(),
     py::arg("attn_mask") = py::none(), py::arg("bias") = py::none(), py::arg("position") = "none",
     py::arg("alibi_slopes") = py::none(), py::arg("relative_table") = py::none(),
     py::arg("relative_max_distance") = 128, py::arg("cu_seqlens_q") = py::none(),
     py::arg("cu_seqlens_k") = py::none(), py::arg("dropout_p") = 0.0, py::arg("generator") = nullptr,
     py::arg("return_lse") = false, py::arg("return_probs") = false, py::arg("return_topk") = false, kAttentionDoc);
  f.attr("ATTENTION_KINDS") = py::make_tuple("vanilla", "chunked", "topk");
  f.attr("POSITION_BIASES") = py::make_tuple("none", "alibi", "relative");
  f.attr("DEFAULT_Q_CHUNK") = kDefaultQChunk;
  f.attr("DEFAULT_K_CHUNK") = kDefaultKChunk;
}

}  // namespace memgrad::python
