// memgrad._C.nn: the C++ layers (Module tree, Linear ... TransformerEncoder, position encodings,
// heads), pooling, accuracy and init. The Python package wraps them in memgrad.nn classes that
// compose with Modules written in Python. forward() runs without the GIL.
#include "nn/heads.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/multi_head_attention.h"
#include "nn/positional.h"
#include "nn/transformer.h"

#include "common.h"

namespace memgrad::python {

namespace {

using namespace memgrad::nn;
using Release = py::call_guard<py::gil_scoped_release>;

py::object opt(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }
Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : as_tensor(h); }

ParamOptions popts(py::handle dtype, Generator* gen) {
  return ParamOptions{to_dtype_opt(dtype).value_or(DType::float32), gen};
}

Activation parse_activation(const std::string& s) {
  if (s == "gelu") return Activation::gelu;
  if (s == "relu") return Activation::relu;
  fail("nn", "activation must be 'gelu' or 'relu', got '{}'", s);
}

Pooling parse_pooling(const std::string& s) {
  if (s == "mean") return Pooling::mean;
  if (s == "cls") return Pooling::cls;
  fail("pool", "pooling must be 'mean' or 'cls', got '{}'", s);
}

py::list named(const NamedTensors& v) {
  py::list out;
  for (const auto& [n, t] : v) out.append(py::make_tuple(n, t));
  return out;
}

// Binds forward and __call__ to the same function.
template <class C, class F, class... Extra>
void forward(py::class_<C, Module, std::shared_ptr<C>>& cls, F f, const Extra&... extra) {
  cls.def("forward", f, extra...);
  cls.def("__call__", f, extra...);
}

py::dict config_dict(const TransformerConfig& c) {
  py::dict d;
  d["dim"] = c.dim, d["heads"] = c.heads, d["layers"] = c.layers, d["ff_hidden"] = c.ff_hidden;
  d["dropout"] = c.dropout, d["activation"] = c.activation == Activation::gelu ? "gelu" : "relu";
  d["kind"] = to_string(c.attention.kind), d["causal"] = c.attention.causal, d["top_k"] = c.attention.top_k;
  d["checkpoint"] = c.checkpoint, d["ff_top_k"] = c.ff_topk.top_k, d["ff_chunk"] = c.ff_topk.chunk;
  d["kv_heads"] = c.kv_heads, d["relative_buckets"] = c.relative_buckets;
  d["position"] = to_string(c.attention.position), d["causal_alignment"] = to_string(c.attention.causal_align);
  d["window_left"] = c.attention.window_left, d["window_right"] = c.attention.window_right;
  d["relative_max_distance"] = c.attention.relative_max_distance, d["attn_dropout"] = c.attention.dropout_p;
  return d;
}

// The attention options of issue 15 that the nn layers take as keywords (memgrad.nn documents them).
struct AttentionKw {
  std::string position = "none", causal_alignment = "bottom_right";
  int64_t window_left = -1, window_right = -1, relative_max_distance = 128;
  double attn_dropout = 0;

  void apply(AttentionOptions& o) const {
    o.position = parse_position_bias(position);
    o.causal_align = parse_causal_align(causal_alignment);
    o.window_left = window_left, o.window_right = window_right;
    o.relative_max_distance = relative_max_distance;
    o.dropout_p = attn_dropout;  // MultiHeadAttention applies it in training mode only
  }
};

#define MG_ATTENTION_KW_ARGS                                                                                \
  py::arg("position") = "none", py::arg("causal_alignment") = "bottom_right", py::arg("window_left") = -1, \
      py::arg("window_right") = -1, py::arg("relative_max_distance") = 128, py::arg("attn_dropout") = 0.0

TransformerConfig config_of(int64_t dim, int64_t heads, int64_t layers, int64_t ff_hidden, double dropout,
                            const std::string& activation, const std::string& kind, bool causal, py::handle scale,
                            py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool checkpoint, int64_t ff_top_k,
                            int64_t ff_chunk, int64_t kv_heads, int64_t relative_buckets, const AttentionKw& kw) {
  TransformerConfig c;
  c.ff_topk = {ff_top_k, ff_chunk};
  c.dim = dim, c.heads = heads, c.layers = layers, c.ff_hidden = ff_hidden, c.dropout = dropout;
  c.activation = parse_activation(activation);
  c.attention = attention_options(kind, scale, causal, py::none(), py::none(), q_chunk, k_chunk, top_k);
  kw.apply(c.attention);
  c.kv_heads = kv_heads, c.relative_buckets = relative_buckets;
  c.checkpoint = checkpoint;
  return c;
}

// The generator is argument 16 (self is 1): kept alive by the layers that hold it.
#define MG_CONFIG_ARGS                                                                                     \
  py::arg("dim") = 64, py::arg("heads") = 4, py::arg("layers") = 2, py::arg("ff_hidden") = 128,            \
      py::arg("dropout") = 0.1, py::arg("activation") = "gelu", py::arg("kind") = "chunked",               \
      py::arg("causal") = false, py::arg("scale") = py::none(), py::arg("q_chunk") = py::none(),           \
      py::arg("k_chunk") = py::none(), py::arg("top_k") = 64, py::arg("checkpoint") = false,               \
      py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("ff_top_k") = 0,              \
      py::arg("ff_chunk") = 1024, py::arg("kv_heads") = 0, py::arg("relative_buckets") = 32, MG_ATTENTION_KW_ARGS

// The per-call masks of the attention layers, from keyword arguments (None: not given).
AttentionMasks masks_of(py::handle key_padding_mask, py::handle key_lengths, py::handle attn_mask, py::handle bias,
                        py::handle cu_seqlens_q, py::handle cu_seqlens_k) {
  AttentionMasks m;
  m.key_padding_mask = opt_tensor(key_padding_mask), m.key_lengths = opt_tensor(key_lengths);
  m.attn_mask = opt_tensor(attn_mask), m.bias = opt_tensor(bias);
  m.cu_seqlens_q = opt_tensor(cu_seqlens_q);
  m.cu_seqlens_k = cu_seqlens_k.is_none() ? m.cu_seqlens_q : opt_tensor(cu_seqlens_k);
  return m;
}

// forward(x, key_padding_mask=None, key_lengths=None, *, attn_mask=None, bias=None, cu_seqlens=None)
// of the encoder layers (packed sequences: x [1, total, dim], the same offsets for queries and keys).
template <class C>
void encoder_forward(py::class_<C, Module, std::shared_ptr<C>>& cls) {
  forward(cls, [](const C& mod, const TensorArg& x, py::handle kpm, py::handle lengths, py::handle attn_mask,
                  py::handle bias, py::handle cu_seqlens) {
    AttentionMasks m = masks_of(kpm, lengths, attn_mask, bias, cu_seqlens, py::none());
    py::gil_scoped_release release;
    return mod.forward(x, m);
  }, py::arg("x"), py::arg("key_padding_mask") = py::none(), py::arg("key_lengths") = py::none(), py::kw_only(),
     py::arg("attn_mask") = py::none(), py::arg("bias") = py::none(), py::arg("cu_seqlens") = py::none());
}

void bind_module(py::module_& n) {
  py::class_<Module, std::shared_ptr<Module>>(n, "Module")
      .def("named_parameters", [](const Module& mod) { return named(mod.named_parameters()); })
      .def("parameters", &Module::parameters)
      .def("named_buffers", [](const Module& mod) { return named(mod.named_buffers()); })
      .def("num_parameters", &Module::num_parameters)
      .def("train", [](Module& mod, bool on) { mod.train(on); }, py::arg("mode") = true)
      .def("eval", &Module::eval)
      .def_property_readonly("training", &Module::is_training)
      .def("zero_grad", &Module::zero_grad)
      .def("state_dict", &Module::state_dict)
      .def("load_state_dict", [](Module& mod, py::dict state, bool strict) {
        std::map<std::string, Tensor> s;
        for (auto [k, v] : state) s[to_str(k, "load_state_dict", "a state dict key")] = as_tensor(v);
        mod.load_state_dict(s, strict);
      }, py::arg("state_dict"), py::arg("strict") = true)
      .def("to", [](Module& mod, py::handle what) {
        if (py::isinstance<py::str>(what) || py::isinstance<Device>(what)) {
          std::string s = py::str(what).cast<std::string>();
          if (s.rfind("cpu", 0) == 0 || s.rfind("cuda", 0) == 0) return mod.to(to_device(what));
        }
        mod.to(to_dtype(what));
      }, py::arg("dtype_or_device"));
}

void bind_layers(py::module_& n) {
  py::class_<Linear, Module, std::shared_ptr<Linear>> linear(n, "Linear");
  linear.def(py::init([](int64_t in, int64_t out, bool bias, py::handle dtype, Generator* gen) {
    return std::make_shared<Linear>(in, out, bias, popts(dtype, gen));
  }), py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true, py::arg("dtype") = py::none(),
     py::arg("generator") = nullptr)
      .def_property_readonly("weight", [](const Linear& l) { return l.weight; })
      .def_property_readonly("bias", [](const Linear& l) { return opt(l.bias); })
      .def_readonly("in_features", &Linear::in_features)
      .def_readonly("out_features", &Linear::out_features);
  forward(linear, [](const Linear& l, const TensorArg& x) { return l.forward(x); }, py::arg("x"), Release());

  py::class_<Embedding, Module, std::shared_ptr<Embedding>> emb(n, "Embedding");
  emb.def(py::init([](int64_t num, int64_t dim, py::handle dtype, Generator* gen) {
    return std::make_shared<Embedding>(num, dim, popts(dtype, gen));
  }), py::arg("num_embeddings"), py::arg("embedding_dim"), py::arg("dtype") = py::none(), py::arg("generator") = nullptr)
      .def_property_readonly("weight", [](const Embedding& e) { return e.weight; });
  forward(emb, [](const Embedding& e, py::handle ids) {
    Tensor i = as_tensor(ids);
    py::gil_scoped_release release;
    return e.forward(i);
  }, py::arg("ids"));

  py::class_<LayerNorm, Module, std::shared_ptr<LayerNorm>> ln(n, "LayerNorm");
  ln.def(py::init([](int64_t dim, double eps, py::handle dtype) {
    return std::make_shared<LayerNorm>(dim, eps, popts(dtype, nullptr));
  }), py::arg("dim"), py::arg("eps") = 1e-5, py::arg("dtype") = py::none())
      .def_property_readonly("weight", [](const LayerNorm& l) { return l.weight; })
      .def_property_readonly("bias", [](const LayerNorm& l) { return l.bias; })
      .def_readonly("eps", &LayerNorm::eps);
  forward(ln, [](const LayerNorm& l, const TensorArg& x) { return l.forward(x); }, py::arg("x"), Release());

  // Layers that keep the generator for dropout hold it alive (keep_alive on the argument).
  py::class_<Dropout, Module, std::shared_ptr<Dropout>> drop(n, "Dropout");
  drop.def(py::init([](double p, Generator* gen) { return std::make_shared<Dropout>(p, gen); }), py::arg("p") = 0.1,
           py::arg("generator") = nullptr, py::keep_alive<1, 3>())
      .def_readonly("p", &Dropout::p);
  forward(drop, [](const Dropout& d, const TensorArg& x) { return d.forward(x); }, py::arg("x"), Release());

  py::class_<FeedForward, Module, std::shared_ptr<FeedForward>> ff(n, "FeedForward");
  ff.def(py::init([](int64_t dim, int64_t hidden, double p, const std::string& act, py::handle dtype, Generator* gen,
                     int64_t top_k, int64_t chunk) {
    return std::make_shared<FeedForward>(dim, hidden, p, parse_activation(act), popts(dtype, gen),
                                         FeedForwardTopK{top_k, chunk});
  }), py::arg("dim"), py::arg("hidden"), py::arg("dropout") = 0.0, py::arg("activation") = "gelu",
     py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("top_k") = 0, py::arg("chunk") = 1024,
     py::keep_alive<1, 7>())
      // the top-k path (nn/layers.h): checked when forward runs, so a swap may set both in turn
      .def_property("top_k", [](const FeedForward& f) { return f.topk.top_k; },
                    [](FeedForward& f, int64_t k) { f.topk.top_k = k; })
      .def_property("chunk", [](const FeedForward& f) { return f.topk.chunk; },
                    [](FeedForward& f, int64_t c) { f.topk.chunk = c; })
      .def_readonly("fc1", &FeedForward::fc1)
      .def_readonly("fc2", &FeedForward::fc2)
      .def_readonly("drop", &FeedForward::drop);
  forward(ff, [](const FeedForward& f, const TensorArg& x) { return f.forward(x); }, py::arg("x"), Release());
}

void bind_positions_and_heads(py::module_& n) {
  py::class_<LearnedPositionalEncoding, Module, std::shared_ptr<LearnedPositionalEncoding>> lpe(n, "LearnedPositionalEncoding");
  lpe.def(py::init([](int64_t max_len, int64_t dim, py::handle dtype, Generator* gen) {
    return std::make_shared<LearnedPositionalEncoding>(max_len, dim, popts(dtype, gen));
  }), py::arg("max_len"), py::arg("dim"), py::arg("dtype") = py::none(), py::arg("generator") = nullptr)
      .def_property_readonly("table", [](const LearnedPositionalEncoding& p) { return p.table; });
  forward(lpe, [](const LearnedPositionalEncoding& p, const TensorArg& x) { return p.forward(x); }, py::arg("x"), Release());

  py::class_<SinusoidalPositionalEncoding, Module, std::shared_ptr<SinusoidalPositionalEncoding>> spe(
      n, "SinusoidalPositionalEncoding");
  spe.def(py::init([](int64_t max_len, int64_t dim, py::handle dtype) {
    return std::make_shared<SinusoidalPositionalEncoding>(max_len, dim, to_dtype_opt(dtype).value_or(DType::float32));
  }), py::arg("max_len"), py::arg("dim"), py::arg("dtype") = py::none())
      .def_property_readonly("table", [](const SinusoidalPositionalEncoding& p) { return p.table; });
  forward(spe, [](const SinusoidalPositionalEncoding& p, const TensorArg& x) { return p.forward(x); }, py::arg("x"),
          Release());

  py::class_<ClassificationHead, Module, std::shared_ptr<ClassificationHead>> ch(n, "ClassificationHead");
  ch.def(py::init([](int64_t dim, int64_t hidden, int64_t classes, py::handle dtype, Generator* gen) {
    return std::make_shared<ClassificationHead>(dim, hidden, classes, popts(dtype, gen));
  }), py::arg("dim"), py::arg("hidden"), py::arg("classes"), py::arg("dtype") = py::none(), py::arg("generator") = nullptr)
      .def_readonly("fc1", &ClassificationHead::fc1)
      .def_readonly("fc2", &ClassificationHead::fc2);
  forward(ch, [](const ClassificationHead& h, const TensorArg& x) { return h.forward(x); }, py::arg("pooled"), Release());

  py::class_<RetrievalHead, Module, std::shared_ptr<RetrievalHead>> rh(n, "RetrievalHead");
  rh.def(py::init([](int64_t dim, int64_t hidden, int64_t classes, py::handle dtype, Generator* gen) {
    return std::make_shared<RetrievalHead>(dim, hidden, classes, popts(dtype, gen));
  }), py::arg("dim"), py::arg("hidden"), py::arg("classes"), py::arg("dtype") = py::none(), py::arg("generator") = nullptr)
      .def_readonly("fc1", &RetrievalHead::fc1)
      .def_readonly("fc2", &RetrievalHead::fc2);
  forward(rh, [](const RetrievalHead& h, const TensorArg& u, const TensorArg& v) { return h.forward(u, v); }, py::arg("u"),
          py::arg("v"), Release());

  n.def("pool", [](const TensorArg& x, const std::string& how, py::handle mask, py::handle lengths) {
    Pooling p = parse_pooling(how);
    Tensor k = opt_tensor(mask), l = opt_tensor(lengths);
    py::gil_scoped_release release;
    return pool(x, p, k, l);
  }, py::arg("x"), py::arg("how") = "mean", py::arg("key_padding_mask") = py::none(), py::arg("key_lengths") = py::none());
  n.def("accuracy", [](const TensorArg& logits, py::handle target, int64_t ignore_index) {
    return accuracy(logits, as_tensor(target), ignore_index);
  }, py::arg("logits"), py::arg("target"), py::arg("ignore_index") = -100);
}

void bind_multi_head_attention(py::module_& n) {
  py::class_<MultiHeadAttention, Module, std::shared_ptr<MultiHeadAttention>> mha(n, "MultiHeadAttention");
  mha.def(py::init([](int64_t dim, int64_t heads, const std::string& kind, bool causal, py::handle scale,
                      py::handle q_chunk, py::handle k_chunk, int64_t top_k, py::handle dtype, Generator* gen,
                      int64_t kv_heads, int64_t context_dim, int64_t relative_buckets, const std::string& position,
                      const std::string& causal_alignment, int64_t window_left, int64_t window_right,
                      int64_t relative_max_distance, double attn_dropout) {
    auto o = attention_options(kind, scale, causal, py::none(), py::none(), q_chunk, k_chunk, top_k);
    AttentionKw{position, causal_alignment, window_left, window_right, relative_max_distance, attn_dropout}.apply(o);
    return std::make_shared<MultiHeadAttention>(
        dim, heads, o, popts(dtype, gen),
        MultiHeadAttentionConfig{.kv_heads = kv_heads, .context_dim = context_dim, .relative_buckets = relative_buckets});
  }), py::arg("dim"), py::arg("heads"), py::arg("kind") = "chunked", py::arg("causal") = false,
     py::arg("scale") = py::none(), py::arg("q_chunk") = py::none(), py::arg("k_chunk") = py::none(),
     py::arg("top_k") = 64, py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("kv_heads") = 0,
     py::arg("context_dim") = 0, py::arg("relative_buckets") = 32, MG_ATTENTION_KW_ARGS, py::keep_alive<1, 11>())
      .def_readonly("qkv", &MultiHeadAttention::qkv)
      .def_readonly("q", &MultiHeadAttention::q)
      .def_readonly("kv", &MultiHeadAttention::kv)
      .def_readonly("out", &MultiHeadAttention::out)
      .def_property_readonly("rel_table", [](const MultiHeadAttention& a) { return opt(a.rel_table); })
      .def_readonly("dim", &MultiHeadAttention::dim)
      .def_readonly("heads", &MultiHeadAttention::heads)
      .def_readonly("kv_heads", &MultiHeadAttention::kv_heads)
      .def_readonly("head_dim", &MultiHeadAttention::head_dim)
      .def_readonly("context_dim", &MultiHeadAttention::context_dim)
      .def_property_readonly("kind", [](const MultiHeadAttention& a) { return to_string(a.options.kind); })
      .def_property_readonly("position", [](const MultiHeadAttention& a) { return to_string(a.options.position); })
      .def_property_readonly("attn_dropout", [](const MultiHeadAttention& a) { return a.options.dropout_p; });
  forward(mha, [](const MultiHeadAttention& a, const TensorArg& x, py::handle context, py::handle kpm,
                  py::handle lengths, py::handle attn_mask, py::handle bias, py::handle cu_q, py::handle cu_k) {
    AttentionMasks m = masks_of(kpm, lengths, attn_mask, bias, cu_q, cu_k);
    Tensor c = opt_tensor(context);
    py::gil_scoped_release release;
    return a.forward(x, c, m);
  }, py::arg("x"), py::arg("context") = py::none(), py::arg("key_padding_mask") = py::none(),
     py::arg("key_lengths") = py::none(), py::kw_only(), py::arg("attn_mask") = py::none(), py::arg("bias") = py::none(),
     py::arg("cu_seqlens") = py::none(), py::arg("cu_seqlens_k") = py::none());
}

// TransformerEncoderLayer / TransformerEncoder from the keywords of MG_CONFIG_ARGS (in order).
template <class M>
std::shared_ptr<M> make_encoder(int64_t dim, int64_t heads, int64_t layers, int64_t ff_hidden, double dropout,
                                const std::string& act, const std::string& kind, bool causal, py::handle scale,
                                py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool ckpt, py::handle dtype,
                                Generator* gen, int64_t ff_top_k, int64_t ff_chunk, int64_t kv_heads,
                                int64_t relative_buckets, const std::string& position, const std::string& align,
                                int64_t wl, int64_t wr, int64_t max_distance, double attn_dropout) {
  auto c = config_of(dim, heads, layers, ff_hidden, dropout, act, kind, causal, scale, q_chunk, k_chunk, top_k, ckpt,
                     ff_top_k, ff_chunk, kv_heads, relative_buckets,
                     AttentionKw{position, align, wl, wr, max_distance, attn_dropout});
  return std::make_shared<M>(c, popts(dtype, gen));
}

void bind_transformer(py::module_& n) {
  py::class_<TransformerEncoderLayer, Module, std::shared_ptr<TransformerEncoderLayer>> layer(n, "TransformerEncoderLayer");
  layer.def(py::init(&make_encoder<TransformerEncoderLayer>), MG_CONFIG_ARGS, py::keep_alive<1, 16>())
      .def_readonly("ln1", &TransformerEncoderLayer::ln1)
      .def_readonly("ln2", &TransformerEncoderLayer::ln2)
      .def_readonly("attn", &TransformerEncoderLayer::attn)
      .def_readonly("ff", &TransformerEncoderLayer::ff);
  encoder_forward(layer);

  py::class_<TransformerEncoder, Module, std::shared_ptr<TransformerEncoder>> enc(n, "TransformerEncoder");
  enc.def(py::init(&make_encoder<TransformerEncoder>), MG_CONFIG_ARGS, py::keep_alive<1, 16>())
      .def_readonly("layers", &TransformerEncoder::layers)
      .def_readonly("norm", &TransformerEncoder::norm)
      .def_property_readonly("config", [](const TransformerEncoder& e) { return config_dict(e.config); });
  encoder_forward(enc);
}

void bind_init(py::module_& n) {
  py::module_ init = n.def_submodule("init", "In-place parameter initialisation.");
  init.def("uniform_", [](Tensor& t, double a, double b, Generator* g) { init::uniform_(t, a, b, g); }, py::arg("tensor"),
           py::arg("low") = 0.0, py::arg("high") = 1.0, py::arg("generator") = nullptr);
  init.def("normal_", [](Tensor& t, double mean, double std, Generator* g) { init::normal_(t, mean, std, g); },
           py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::arg("generator") = nullptr);
  init.def("zeros_", [](Tensor& t) { init::zeros_(t); }, py::arg("tensor"));
  init.def("ones_", [](Tensor& t) { init::ones_(t); }, py::arg("tensor"));
  init.def("xavier_uniform_", [](Tensor& t, double gain, Generator* g) { init::xavier_uniform_(t, gain, g); },
           py::arg("tensor"), py::arg("gain") = 1.0, py::arg("generator") = nullptr);
  init.def("kaiming_uniform_", [](Tensor& t, double a, Generator* g) { init::kaiming_uniform_(t, a, g); },
           py::arg("tensor"), py::arg("a") = 0.0, py::arg("generator") = nullptr);
}

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ n = m.def_submodule("nn", "C++ layers (wrapped by memgrad.nn).");
  bind_module(n);
  bind_layers(n);
  bind_multi_head_attention(n);
  bind_transformer(n);
  bind_positions_and_heads(n);
  bind_init(n);
}

}  // namespace memgrad::python
