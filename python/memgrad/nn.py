"""Modules: write your own in Python, or use memgrad's C++ layers; they compose freely.

    class MLP(memgrad.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = memgrad.nn.Linear(2, 16)                        # a C++ layer
            self.scale = memgrad.nn.Parameter(memgrad.ones(16))       # a Python parameter
        def forward(self, x):
            return (self.fc1(x).relu() * self.scale).sum(-1)

Parameters, buffers and submodules assigned as attributes are found (PyTorch-style):
parameters(), named_parameters(), state_dict(), load_state_dict(), train()/eval(), zero_grad().
"""
from . import _C, functional
from ._module import Module, Parameter, _CppModule  # noqa: F401  (the base classes: _module.py)

Tensor = _C.Tensor
init = _C.nn.init
pool = _C.nn.pool
accuracy = _C.nn.accuracy


class Linear(_CppModule):
    """y = x W^T + b with W [out_features, in_features] (PyTorch's layout and init)."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=None, generator=None):
        super().__init__(_C.nn.Linear(in_features, out_features, bias, dtype=dtype, generator=generator))

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(_CppModule):
    """Rows of a [num_embeddings, embedding_dim] table, N(0, 1) init; ids of any int shape."""

    def __init__(self, num_embeddings, embedding_dim, *, dtype=None, generator=None):
        super().__init__(_C.nn.Embedding(num_embeddings, embedding_dim, dtype=dtype, generator=generator))

    def extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"


class LayerNorm(_CppModule):
    """Layer normalisation over the last dim, with a weight and a bias."""

    def __init__(self, dim, eps=1e-5, *, dtype=None):
        super().__init__(_C.nn.LayerNorm(dim, eps, dtype=dtype))

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"


class Dropout(_CppModule):
    """Zeroes elements with probability p in training mode (scaling the rest by 1/(1-p))."""

    def __init__(self, p=0.1, *, generator=None):
        super().__init__(_C.nn.Dropout(p, generator=generator))

    def extra_repr(self):
        return f"p={self.p}"


class FeedForward(_CppModule):
    """Linear(dim, hidden) -> gelu/relu -> dropout -> Linear(hidden, dim).

    top_k > 0 (at most hidden) keeps only each token's top_k largest units of the first Linear
    (Gupta et al. 2021); activation, dropout and the second Linear then act on those alone, and
    tokens are scored `chunk` at a time. top_k = 0 (or > hidden) is the dense layer. Both are
    read/write properties (a zero-shot swap of a trained dense layer)."""

    def __init__(self, dim, hidden, dropout=0.0, activation="gelu", *, top_k=0, chunk=1024, dtype=None,
                 generator=None):
        super().__init__(_C.nn.FeedForward(dim, hidden, dropout, activation, dtype=dtype, generator=generator,
                                           top_k=top_k, chunk=chunk))

    @property
    def top_k(self):
        return self._cpp.top_k

    @top_k.setter
    def top_k(self, value):
        self._cpp.top_k = value

    @property
    def chunk(self):
        return self._cpp.chunk

    @chunk.setter
    def chunk(self, value):
        self._cpp.chunk = value


def _window(window):
    """window=None | w | (left, right) -> (window_left, window_right); -1 leaves a side unbounded."""
    if window is None:
        return -1, -1
    if isinstance(window, (tuple, list)):
        if len(window) != 2:
            raise ValueError(f"window must be an int or a (left, right) pair, got {window!r}")
        return int(window[0]), int(window[1])
    return int(window), int(window)


def _attention_kw(position, causal_alignment, window, relative_max_distance, attn_dropout):
    left, right = _window(window)
    return dict(position=position, causal_alignment=causal_alignment, window_left=left, window_right=right,
                relative_max_distance=relative_max_distance, attn_dropout=attn_dropout)


class MultiHeadAttention(_CppModule):
    """Multi-head attention over any attention kind: x [B, Nq, dim] -> [B, Nq, dim].

    forward(x, context=None, key_padding_mask=None, key_lengths=None, *, attn_mask=None, bias=None,
    cu_seqlens=None, cu_seqlens_k=None): self-attention, or cross-attention with keys and values
    from context [B, Nk, context_dim or dim]; cu_seqlens for packed sequences (B = 1).

    kv_heads: key/value heads (grouped-query attention, read in place; 1 = multi-query; 0 = heads).
    context_dim: > 0 gives separate projections q (dim -> dim) and kv (context_dim -> k|v) for a
    context of another width; 0 keeps the fused qkv projection (earlier state dicts load).
    position: "none" | "alibi" (the paper's slopes) | "relative" (a learned [heads, relative_buckets]
    table, rel_table, T5's buckets up to relative_max_distance). attn_dropout: dropout on the
    attention probabilities, in training mode only. causal_alignment: "bottom_right" | "top_left".
    window: sliding window, w (both sides) or (left, right), -1 unbounded."""

    def __init__(self, dim, heads, *, kind="chunked", causal=False, scale=None, q_chunk=None, k_chunk=None,
                 top_k=64, kv_heads=0, context_dim=0, position="none", relative_buckets=32,
                 relative_max_distance=128, attn_dropout=0.0, causal_alignment="bottom_right", window=None,
                 dtype=None, generator=None):
        super().__init__(_C.nn.MultiHeadAttention(
            dim, heads, kind=kind, causal=causal, scale=scale, q_chunk=q_chunk, k_chunk=k_chunk, top_k=top_k,
            dtype=dtype, generator=generator, kv_heads=kv_heads, context_dim=context_dim,
            relative_buckets=relative_buckets,
            **_attention_kw(position, causal_alignment, window, relative_max_distance, attn_dropout)))

    def extra_repr(self):
        extra = ""
        if self.kv_heads != self.heads:
            extra += f", kv_heads={self.kv_heads}"
        if self.position != "none":
            extra += f", position={self.position}"
        if self.attn_dropout:
            extra += f", attn_dropout={self.attn_dropout}"
        return f"dim={self.dim}, heads={self.heads}, kind={self.kind}{extra}"


def _config(dim, heads, layers, ff_hidden, dropout, activation, kind, causal, scale, q_chunk, k_chunk, top_k,
            checkpoint, dtype, generator, ff_top_k=0, ff_chunk=1024, attention=None):
    return dict(dim=dim, heads=heads, layers=layers, ff_hidden=ff_hidden, dropout=dropout, activation=activation,
                kind=kind, causal=causal, scale=scale, q_chunk=q_chunk, k_chunk=k_chunk, top_k=top_k,
                checkpoint=checkpoint, dtype=dtype, generator=generator, ff_top_k=ff_top_k, ff_chunk=ff_chunk,
                **(attention or {}))


def _encoder_attention(kv_heads, position, relative_buckets, relative_max_distance, attn_dropout,
                       causal_alignment, window):
    return dict(kv_heads=kv_heads, relative_buckets=relative_buckets,
                **_attention_kw(position, causal_alignment, window, relative_max_distance, attn_dropout))


class TransformerEncoderLayer(_CppModule):
    """Pre-LN layer: x + attn(ln1(x)), then + ff(ln2(.)). forward(x, key_padding_mask=None,
    key_lengths=None, *, attn_mask=None, bias=None, cu_seqlens=None). The attention keywords
    (kv_heads, position, ..., window) are MultiHeadAttention's."""

    def __init__(self, dim=64, heads=4, ff_hidden=128, dropout=0.1, activation="gelu", *, kind="chunked",
                 causal=False, scale=None, q_chunk=None, k_chunk=None, top_k=64, ff_top_k=0, ff_chunk=1024,
                 kv_heads=0, position="none", relative_buckets=32, relative_max_distance=128, attn_dropout=0.0,
                 causal_alignment="bottom_right", window=None, dtype=None, generator=None):
        attention = _encoder_attention(kv_heads, position, relative_buckets, relative_max_distance, attn_dropout,
                                       causal_alignment, window)
        super().__init__(_C.nn.TransformerEncoderLayer(**_config(dim, heads, 1, ff_hidden, dropout, activation, kind,
                                                                 causal, scale, q_chunk, k_chunk, top_k, False,
                                                                 dtype, generator, ff_top_k, ff_chunk, attention)))


class TransformerEncoder(_CppModule):
    """A stack of pre-LN layers and a final LayerNorm: x [B, N, dim] -> [B, N, dim].
    checkpoint=True recomputes each layer in backward instead of storing its activations;
    ff_top_k > 0 makes every feed-forward layer top-k (FeedForward's top_k, ff_chunk its chunk).
    The attention keywords (kv_heads, position, relative_buckets, relative_max_distance,
    attn_dropout, causal_alignment, window) are MultiHeadAttention's, for every layer.
    forward(x, key_padding_mask=None, key_lengths=None, *, attn_mask=None, bias=None, cu_seqlens=None)."""

    def __init__(self, dim=64, heads=4, layers=2, ff_hidden=128, dropout=0.1, activation="gelu", *,
                 kind="chunked", causal=False, scale=None, q_chunk=None, k_chunk=None, top_k=64, checkpoint=False,
                 ff_top_k=0, ff_chunk=1024, kv_heads=0, position="none", relative_buckets=32,
                 relative_max_distance=128, attn_dropout=0.0, causal_alignment="bottom_right", window=None,
                 dtype=None, generator=None):
        attention = _encoder_attention(kv_heads, position, relative_buckets, relative_max_distance, attn_dropout,
                                       causal_alignment, window)
        super().__init__(_C.nn.TransformerEncoder(**_config(dim, heads, layers, ff_hidden, dropout, activation, kind,
                                                            causal, scale, q_chunk, k_chunk, top_k, checkpoint,
                                                            dtype, generator, ff_top_k, ff_chunk, attention)))

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


class LearnedPositionalEncoding(_CppModule):
    """x + table[:N] with a learned [max_len, dim] table."""

    def __init__(self, max_len, dim, *, dtype=None, generator=None):
        super().__init__(_C.nn.LearnedPositionalEncoding(max_len, dim, dtype=dtype, generator=generator))


class SinusoidalPositionalEncoding(_CppModule):
    """x + the fixed sin/cos table (a buffer: saved in state_dict, not trained)."""

    def __init__(self, max_len, dim, *, dtype=None):
        super().__init__(_C.nn.SinusoidalPositionalEncoding(max_len, dim, dtype=dtype))


class ClassificationHead(_CppModule):
    """[B, dim] -> [B, classes] through Linear -> GELU -> Linear."""

    def __init__(self, dim, hidden, classes, *, dtype=None, generator=None):
        super().__init__(_C.nn.ClassificationHead(dim, hidden, classes, dtype=dtype, generator=generator))


class RetrievalHead(_CppModule):
    """Two towers' encodings u, v [B, dim] -> [B, classes] from [u, v, u*v, u-v]. forward(u, v)."""

    def __init__(self, dim, hidden, classes, *, dtype=None, generator=None):
        super().__init__(_C.nn.RetrievalHead(dim, hidden, classes, dtype=dtype, generator=generator))


# ---- pure-Python containers and activations ----
class Sequential(Module):
    """Calls its modules in order."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def __getitem__(self, i):
        return self.children()[i]

    def __len__(self):
        return len(self._modules)


class ModuleList(Module):
    """A list of modules whose parameters are registered."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        return self.children()[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self.children())


class _Activation(Module):
    _fn = None

    def forward(self, x):
        return type(self)._fn(x)


class ReLU(_Activation):
    _fn = staticmethod(_C.relu)


class GELU(_Activation):
    _fn = staticmethod(_C.gelu)


class Tanh(_Activation):
    _fn = staticmethod(_C.tanh)


class Sigmoid(_Activation):
    _fn = staticmethod(_C.sigmoid)


class Identity(Module):
    def forward(self, x):
        return x


F = functional
