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
from collections import OrderedDict, namedtuple

from . import _C, functional
from .autograd import no_grad

Tensor = _C.Tensor
init = _C.nn.init
pool = _C.nn.pool
accuracy = _C.nn.accuracy

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter when assigned as an attribute.

    Parameter(t) shares t's storage (a fresh leaf, no history) and requires grad."""

    def __init__(self, data=None, requires_grad=True):
        t = _C.zeros(0) if data is None else _C.as_tensor(data)
        super().__init__(t.detach())
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every module. Subclasses call super().__init__() first, assign parameters,
    buffers (register_buffer) and submodules as attributes, and define forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- attributes ----
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, _C.nn.Module):  # a bare C++ layer (e.g. encoder.layers[0]): wrap it
            value = _CppModule(value)
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
            _C.memory.set_category(value, "parameter")
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
            object.__setattr__(value, "_trace_name", name)
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value
        elif name in self._parameters and value is None:
            self._parameters[name] = None
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for reg in (self._parameters, self._buffers, self._modules):
            reg.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):  # only when ordinary lookup fails
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if any(name in r for r in (self._parameters, self._buffers, self._modules)):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            param = Parameter(param)
        self._check_name(name)
        self._forget(name)
        self._parameters[name] = param
        if param is not None:
            _C.memory.set_category(param, "parameter")

    def register_buffer(self, name, tensor):
        """A tensor saved in state_dict() but not trained (not in parameters())."""
        self._check_name(name)
        self._forget(name)
        self._buffers[name] = None if tensor is None else _C.as_tensor(tensor)

    def add_module(self, name, module):
        if isinstance(module, _C.nn.Module):
            module = _CppModule(module)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name} is not a memgrad.nn.Module")
        self._check_name(name)
        self._forget(name)
        self._modules[name] = module
        if module is not None:
            object.__setattr__(module, "_trace_name", name)

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"[Module] invalid name {name!r} (non-empty, no '.')")

    # ---- calling ----
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        # the memory trace names allocations by module path (memgrad.memory.trace)
        _C.memory._enter_module(self.__dict__.get("_trace_name", ""))
        try:
            return self.forward(*args, **kwargs)
        finally:
            _C.memory._exit_module()

    # ---- traversal ----
    def _local_parameters(self):
        return [(n, p) for n, p in self._parameters.items() if p is not None]

    def _local_buffers(self):
        return [(n, b) for n, b in self._buffers.items() if b is not None]

    def _walk(self, buffers, prefix):
        local = self._local_buffers() if buffers else self._local_parameters()
        for n, t in local:
            yield prefix + n, t
        for cname, child in self._modules.items():
            if child is not None:
                yield from child._walk(buffers, prefix + cname + ".")

    def named_parameters(self, prefix="", recurse=True):
        """(name, parameter) pairs, depth first in assignment order; each tensor once."""
        seen = set()
        items = self._walk(False, prefix) if recurse else ((prefix + n, p) for n, p in self._local_parameters())
        out = []
        for n, p in items:
            if p._impl_id not in seen:
                seen.add(p._impl_id)
                out.append((n, p))
        return out

    def parameters(self, recurse=True):
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix="", recurse=True):
        items = self._walk(True, prefix) if recurse else ((prefix + n, b) for n, b in self._local_buffers())
        return list(items)

    def buffers(self, recurse=True):
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def named_children(self):
        return [(n, m) for n, m in self._modules.items() if m is not None]

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        out = [(prefix, self)]
        for n, m in self.named_children():
            out.extend(m.named_modules(prefix + ("." if prefix else "") + n))
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def num_parameters(self):
        return int(sum_(p.numel() for p in self.parameters()))

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ----
    def train(self, mode=True):
        object.__setattr__(self, "training", bool(mode))
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype_or_device):
        """Converts parameters and (float) buffers in place: every handle to them, optimizers
        included, sees the change. Gradients are dropped."""
        is_device = isinstance(dtype_or_device, _C.device) or (
            isinstance(dtype_or_device, str) and dtype_or_device.split(":")[0] in ("cpu", "cuda"))
        with no_grad():
            for t in self._local_parameters() + self._local_buffers():
                t = t[1]
                if is_device or t.dtype.is_floating_point:
                    t.data = t.to(dtype_or_device).contiguous()
        for m in self.children():
            m.to(dtype_or_device)
        return self

    def float(self):
        return self.to(_C.float32)

    def double(self):
        return self.to(_C.float64)

    # ---- state ----
    def state_dict(self):
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        sd = OrderedDict(self.named_parameters())
        sd.update(self.named_buffers())
        return sd

    def _check_state_dict(self, state, strict=True, op="load_state_dict"):
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing " + ", ".join(f"'{k}' {list(own[k].shape)}" for k in missing))
        if strict and unexpected:
            problems.append("unexpected " + ", ".join(f"'{k}'" for k in unexpected))
        for k, t in own.items():
            if k in state:
                src = _C.as_tensor(state[k])
                if tuple(src.shape) != tuple(t.shape) or src.dtype != t.dtype:
                    problems.append(f"'{k}' is {src.dtype} {list(src.shape)} in the state but {t.dtype} "
                                    f"{list(t.shape)} in the model")
        if problems:
            raise ValueError(f"[{op}] " + "; ".join(problems))
        return own, missing, unexpected

    def load_state_dict(self, state_dict, strict=True):
        """Copies values (tensors or numpy arrays) into this module's tensors. Every name, shape
        and dtype is checked before anything is written: on error the module is unchanged."""
        own, missing, unexpected = self._check_state_dict(state_dict, strict)
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    t.copy_(state_dict[k])
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ----
    def _type_name(self):
        return type(self).__name__

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({n}): " + repr(m).replace("\n", "\n  ") for n, m in self.named_children()]
        extra, name = self.extra_repr(), self._type_name()
        if not lines:
            return f"{name}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{name}(\n  " + "\n  ".join(body) + "\n)"


def sum_(values):
    total = 0
    for v in values:
        total += v
    return total


class _CppModule(Module):
    """A Module backed by a C++ layer (memgrad._C.nn): its parameters and buffers are the C++
    layer's; Python subclasses may add their own and override forward()."""

    def __init__(self, cpp):
        super().__init__()
        object.__setattr__(self, "_cpp", cpp)

    def _local_parameters(self):
        return self._cpp.named_parameters() + super()._local_parameters()

    def _local_buffers(self):
        return self._cpp.named_buffers() + super()._local_buffers()

    def forward(self, *args, **kwargs):
        return self._cpp.forward(*args, **kwargs)

    def _type_name(self):
        return type(self._cpp).__name__ if type(self) is _CppModule else type(self).__name__

    def train(self, mode=True):
        self._cpp.train(bool(mode))
        return super().train(mode)

    def to(self, dtype_or_device):
        self._cpp.to(dtype_or_device)
        with no_grad():
            for _, t in super()._local_parameters() + super()._local_buffers():
                t.data = t.to(dtype_or_device).contiguous()
        for m in self.children():
            m.to(dtype_or_device)
        return self

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            cpp = self.__dict__.get("_cpp")
            if cpp is None or name.startswith("__"):
                raise
            return getattr(cpp, name)


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
