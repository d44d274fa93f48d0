// memgrad.functional.attention: the three attention kinds with every option; runs without the GIL.
#include "autograd/attention.h"

#include "common.h"

namespace memgrad::python {

namespace {

std::optional<int64_t> opt_int(py::handle h) {
  if (h.is_none()) return std::nullopt;
  return h.cast<int64_t>();
}

}  // namespace

// AttentionOptions from keyword values (shared with nn.MultiHeadAttention and TransformerEncoder).
AttentionOptions attention_options(const std::string& kind, py::handle scale, bool causal, py::handle key_padding_mask,
                                   py::handle key_lengths, py::handle q_chunk, py::handle k_chunk, int64_t top_k) {
  AttentionOptions o;
  o.kind = parse_attention_kind(kind);
  if (!scale.is_none()) o.scale = scale.cast<double>();
  o.causal = causal;
  if (!key_padding_mask.is_none()) o.key_padding_mask = as_tensor(key_padding_mask);
  if (!key_lengths.is_none()) o.key_lengths = as_tensor(key_lengths);
  o.q_chunk = opt_int(q_chunk);
  o.k_chunk = opt_int(k_chunk);
  o.top_k = top_k;
  return o;
}

void bind_attention(py::module_& m) {
  py::module_ f = m.def_submodule("functional", "Functional ops: attention.");
  f.def("attention", [](const TensorArg& q, const TensorArg& k, const TensorArg& v, const std::string& kind, py::handle scale,
                        bool causal, py::handle key_padding_mask, py::handle key_lengths, py::handle q_chunk,
                        py::handle k_chunk, int64_t top_k, bool fused, const std::string& causal_alignment) {
    AttentionOptions o = attention_options(kind, scale, causal, key_padding_mask, key_lengths, q_chunk, k_chunk, top_k);
    o.fused = fused;
    o.causal_align = parse_causal_align(causal_alignment);
    py::gil_scoped_release release;
    return attention(q, k, v, o);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::kw_only(), py::arg("kind") = "chunked", py::arg("scale") = py::none(),
     py::arg("causal") = false, py::arg("key_padding_mask") = py::none(), py::arg("key_lengths") = py::none(),
     py::arg("q_chunk") = py::none(), py::arg("k_chunk") = py::none(), py::arg("top_k") = 64,
     py::arg("fused") = true, py::arg("causal_alignment") = "bottom_right",
     R"doc(Scaled dot-product attention: q [B, H, Nq, D], k [B, H, Nk, D], v [B, H, Nk, Dv] -> [B, H, Nq, Dv].

kind: "vanilla" (softmax(QK^T s) V from primitive ops; backward keeps the [Nq, Nk] probabilities),
"chunked" (the same values by online softmax over key chunks; saves O(Nq) per head) or "topk"
(each query softmaxes over its top_k largest scores). scale defaults to 1/sqrt(D). causal: query i
sees keys j <= i + (Nk - Nq) with causal_alignment="bottom_right" (the default: the queries are the
last Nq positions, as in FlashAttention and decoding), or j <= i with "top_left" (PyTorch's
is_causal). key_padding_mask: bool [B, Nk], True = ignored; or key_lengths:
int [B]. q_chunk, k_chunk: block sizes of chunked/topk. A query with no key left gets zeros.
On a GPU: fused=False forces the block-wise cuBLAS kernels instead of the fused ones.)doc");
  f.attr("ATTENTION_KINDS") = py::make_tuple("vanilla", "chunked", "topk");
  f.attr("DEFAULT_Q_CHUNK") = kDefaultQChunk;
  f.attr("DEFAULT_K_CHUNK") = kDefaultKChunk;
}

}  // namespace memgrad::python
