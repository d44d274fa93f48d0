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

// A masked forward: x [B, N, D] with an optional key_padding_mask or key_lengths.
template <class C>
void masked_forward(py::class_<C, Module, std::shared_ptr<C>>& cls) {
  forward(cls, [](const C& mod, const TensorArg& x, py::handle mask, py::handle lengths) {
    Tensor k = opt_tensor(mask), l = opt_tensor(lengths);
    py::gil_scoped_release release;
    return mod.forward(x, k, l);
  }, py::arg("x"), py::arg("key_padding_mask") = py::none(), py::arg("key_lengths") = py::none());
}

TransformerConfig config_of(int64_t dim, int64_t heads, int64_t layers, int64_t ff_hidden, double dropout,
                            const std::string& activation, const std::string& kind, bool causal, py::handle scale,
                            py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool checkpoint, int64_t ff_top_k,
                            int64_t ff_chunk) {
  TransformerConfig c;
  c.ff_topk = {ff_top_k, ff_chunk};
  c.dim = dim, c.heads = heads, c.layers = layers, c.ff_hidden = ff_hidden, c.dropout = dropout;
  c.activation = parse_activation(activation);
  c.attention = attention_options(kind, scale, causal, py::none(), py::none(), q_chunk, k_chunk, top_k);
  c.checkpoint = checkpoint;
  return c;
}

#define MG_CONFIG_ARGS                                                                                     \
  py::arg("dim") = 64, py::arg("heads") = 4, py::arg("layers") = 2, py::arg("ff_hidden") = 128,            \
      py::arg("dropout") = 0.1, py::arg("activation") = "gelu", py::arg("kind") = "chunked",               \
      py::arg("causal") = false, py::arg("scale") = py::none(), py::arg("q_chunk") = py::none(),           \
      py::arg("k_chunk") = py::none(), py::arg("top_k") = 64, py::arg("checkpoint") = false,               \
      py::arg("dtype") = py::none(), py::arg("generator") = nullptr, py::arg("ff_top_k") = 0, py::arg("ff_chunk") = 1024

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ n = m.def_submodule("nn", "C++ layers (wrapped by memgrad.nn).");

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

  py::class_<MultiHeadAttention, Module, std::shared_ptr<MultiHeadAttention>> mha(n, "MultiHeadAttention");
  mha.def(py::init([](int64_t dim, int64_t heads, const std::string& kind, bool causal, py::handle scale,
                      py::handle q_chunk, py::handle k_chunk, int64_t top_k, py::handle dtype, Generator* gen) {
    auto o = attention_options(kind, scale, causal, py::none(), py::none(), q_chunk, k_chunk, top_k);
    return std::make_shared<MultiHeadAttention>(dim, heads, o, popts(dtype, gen));
  }), py::arg("dim"), py::arg("heads"), py::arg("kind") = "chunked", py::arg("causal") = false,
     py::arg("scale") = py::none(), py::arg("q_chunk") = py::none(), py::arg("k_chunk") = py::none(),
     py::arg("top_k") = 64, py::arg("dtype") = py::none(), py::arg("generator") = nullptr)
      .def_readonly("qkv", &MultiHeadAttention::qkv)
      .def_readonly("out", &MultiHeadAttention::out)
      .def_readonly("dim", &MultiHeadAttention::dim)
      .def_readonly("heads", &MultiHeadAttention::heads)
      .def_readonly("head_dim", &MultiHeadAttention::head_dim)
      .def_property_readonly("kind", [](const MultiHeadAttention& a) { return to_string(a.options.kind); });
  masked_forward(mha);

  py::class_<TransformerEncoderLayer, Module, std::shared_ptr<TransformerEncoderLayer>> layer(n, "TransformerEncoderLayer");
  layer.def(py::init([](int64_t dim, int64_t heads, int64_t layers, int64_t ff_hidden, double dropout,
                        const std::string& act, const std::string& kind, bool causal, py::handle scale,
                        py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool ckpt, py::handle dtype,
                        Generator* gen, int64_t ff_top_k, int64_t ff_chunk) {
    auto c = config_of(dim, heads, layers, ff_hidden, dropout, act, kind, causal, scale, q_chunk, k_chunk, top_k, ckpt,
                       ff_top_k, ff_chunk);
    return std::make_shared<TransformerEncoderLayer>(c, popts(dtype, gen));
  }), MG_CONFIG_ARGS, py::keep_alive<1, 16>())
      .def_readonly("ln1", &TransformerEncoderLayer::ln1)
      .def_readonly("ln2", &TransformerEncoderLayer::ln2)
      .def_readonly("attn", &TransformerEncoderLayer::attn)
      .def_readonly("ff", &TransformerEncoderLayer::ff);
  masked_forward(layer);

  py::class_<TransformerEncoder, Module, std::shared_ptr<TransformerEncoder>> enc(n, "TransformerEncoder");
  enc.def(py::init([](int64_t dim, int64_t heads, int64_t layers, int64_t ff_hidden, double dropout,
                      const std::string& act, const std::string& kind, bool causal, py::handle scale,
                      py::handle q_chunk, py::handle k_chunk, int64_t top_k, bool ckpt, py::handle dtype,
                      Generator* gen, int64_t ff_top_k, int64_t ff_chunk) {
    auto c = config_of(dim, heads, layers, ff_hidden, dropout, act, kind, causal, scale, q_chunk, k_chunk, top_k, ckpt,
                       ff_top_k, ff_chunk);
    return std::make_shared<TransformerEncoder>(c, popts(dtype, gen));
  }), MG_CONFIG_ARGS, py::keep_alive<1, 16>())
      .def_readonly("layers", &TransformerEncoder::layers)
      .def_readonly("norm", &TransformerEncoder::norm)
      .def_property_readonly("config", [](const TransformerEncoder& e) {
        const TransformerConfig& c = e.config;
        py::dict d;
        d["dim"] = c.dim, d["heads"] = c.heads, d["layers"] = c.layers, d["ff_hidden"] = c.ff_hidden;
        d["dropout"] = c.dropout, d["activation"] = c.activation == Activation::gelu ? "gelu" : "relu";
        d["kind"] = to_string(c.attention.kind), d["causal"] = c.attention.causal, d["top_k"] = c.attention.top_k;
        d["checkpoint"] = c.checkpoint, d["ff_top_k"] = c.ff_topk.top_k, d["ff_chunk"] = c.ff_topk.chunk;
        return d;
      });
  masked_forward(enc);

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

}  // namespace memgrad::python
