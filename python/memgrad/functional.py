"""Functional ops: attention (every kind and option), PyTorch's scaled_dot_product_attention on
top of it, and the neural-network ops."""
import math

from . import _C

attention = _C.functional.attention
ATTENTION_KINDS = _C.functional.ATTENTION_KINDS
POSITION_BIASES = _C.functional.POSITION_BIASES
DEFAULT_Q_CHUNK = _C.functional.DEFAULT_Q_CHUNK
DEFAULT_K_CHUNK = _C.functional.DEFAULT_K_CHUNK

softmax = _C.softmax
log_softmax = _C.log_softmax
cross_entropy = _C.cross_entropy
layer_norm = _C.layer_norm
dropout = _C.dropout
embedding = _C.embedding
# The top-k feed-forward layer's ops (autograd/ops.h): topk_linear(x, weight, bias, k, chunk=1024)
# -> (values, indices) of each row's top k of x @ weight.T + bias (ascending columns), and
# sparse_linear(values, indices, weight) -> the linear map (weight [out, F]) of those sparse rows.
topk_linear = _C.topk_linear
sparse_linear = _C.sparse_linear
relu = _C.relu
gelu = _C.gelu
sigmoid = _C.sigmoid
tanh = _C.tanh
pool = _C.nn.pool
accuracy = _C.nn.accuracy


def linear(x, weight, bias=None, activation="none"):
    """activation(x @ weight.T + bias), weight [out, in] (PyTorch's layout), activation 'none',
    'gelu' or 'relu': one fused op (the bias and the activation in one pass after the product)."""
    return _C.linear(x, weight, bias, activation)


def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or none) of the squared differences; input and target broadcast together.
    Takes numpy arrays and sequences as the other ops do (the result is always a Tensor)."""
    if not isinstance(reduction, str) or reduction not in ("mean", "sum", "none"):
        raise ValueError(f"[mse_loss] reduction must be 'mean', 'sum' or 'none', got '{reduction}'")
    input = _C.as_tensor(input)
    target = _C.as_tensor(target, dtype=input.dtype) if not isinstance(target, _C.Tensor) else target
    try:
        d = (input - target) ** 2
    except (RuntimeError, ValueError) as e:
        raise type(e)(f"[mse_loss] input {list(input.shape)} and target {list(target.shape)}: {e}") from None
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    if reduction == "none":
        return d
    raise ValueError(f"[mse_loss] reduction must be 'mean', 'sum' or 'none', got '{reduction}'")


def _sdpa_error(msg):
    return ValueError(f"[scaled_dot_product_attention] {msg}")


def _as_4d(x, name):
    """x [*batch, H, L, E] as [B, H, L, E] (B the product of the batch dims; none for 3-d input)."""
    if x.ndim < 3:
        raise _sdpa_error(f"{name} must be [N, ..., L, E] with at least 3 dims, got shape {tuple(x.shape)}")
    if x.ndim == 3:
        return x.unsqueeze(0)
    return x if x.ndim == 4 else x.reshape(math.prod(x.shape[:-3]), *x.shape[-3:])


def _sdpa_mask(attn_mask, q, batch, L, S):
    """PyTorch's attn_mask as attention()'s (attn_mask, bias): bool True = take part, a float mask
    is added to the scores. Broadcastable to [*batch, H, L, S]; returned 4-d, [B|1, H|1, L, S]."""
    m = attn_mask if isinstance(attn_mask, _C.Tensor) else _C.as_tensor(attn_mask)
    if m.dtype.is_floating_point and not isinstance(attn_mask, _C.Tensor):
        m = _C.as_tensor(attn_mask, dtype=q.dtype)  # numpy float masks take q's dtype
    if m.dtype != _C.bool and not m.dtype.is_floating_point:
        raise _sdpa_error(f"attn_mask must be bool (True = take part) or float (added), got {m.dtype}")
    if m.dtype.is_floating_point and m.dtype != q.dtype:
        raise _sdpa_error(f"a float attn_mask must have the inputs' dtype {q.dtype}, got {m.dtype}")
    want = tuple(batch) + (q.shape[1], L, S)
    shape = (1,) * (len(want) - m.ndim) + tuple(m.shape)
    if m.ndim > len(want) or any(a not in (1, b) for a, b in zip(shape, want)):
        raise _sdpa_error(f"attn_mask of shape {tuple(m.shape)} does not broadcast to {want} ([..., L, S])")
    m = m.reshape(*shape)
    nb = len(batch)
    if all(a == 1 for a in shape[:nb]):
        m = m.reshape(1, *shape[nb:])
    else:  # some batch dims differ from 1: expand them (a view) and merge them into one
        m = m.expand(*(tuple(batch) + shape[nb:])).reshape(math.prod(batch), *shape[nb:])
    return (m, None) if m.dtype == _C.bool else (None, m)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, kind="chunked", generator=None, **attention_kwargs):
    """PyTorch's torch.nn.functional.scaled_dot_product_attention, on memgrad's attention().

    query [N, ..., Hq, L, E], key [N, ..., H, S, E], value [N, ..., H, S, Ev] -> [N, ..., Hq, L, Ev]
    (3-d inputs [N, L, E] too; the batch dims of the three must be equal). attn_mask, broadcastable
    to [N, ..., Hq, L, S]: bool, True = the pair takes part, or float, added to the scores (it gets
    a gradient when it requires one). is_causal: top-left causal (torch.tril: query i sees keys
    j <= i), not with attn_mask. scale defaults to 1/sqrt(E). enable_gqa: key and value may have
    fewer heads than query, dividing them (query head h reads key/value head h // (Hq // H)).
    dropout_p applies whenever it is > 0, as in PyTorch (the functional form has no train flag).

    Beyond PyTorch's signature: kind ("chunked" by default, "vanilla" or "topk"), generator for
    dropout's keep pattern, and any other keyword of memgrad.functional.attention (q_chunk, top_k...).

    The one difference from PyTorch: a query row with no visible key (all masked) gives 0 here
    and zero gradients, where PyTorch gives NaN."""
    q, k, v = (x if isinstance(x, _C.Tensor) else _C.as_tensor(x) for x in (query, key, value))
    shapes = f"query {tuple(q.shape)}, key {tuple(k.shape)}, value {tuple(v.shape)}"
    q4, k4, v4 = _as_4d(q, "query"), _as_4d(k, "key"), _as_4d(v, "value")
    batch = tuple(q.shape[:-3])
    if not (q.ndim == k.ndim == v.ndim) or tuple(k.shape[:-3]) != batch or tuple(v.shape[:-3]) != batch:
        raise _sdpa_error(f"query, key and value must have the same batch dims: {shapes}")
    Hq, H = q4.shape[1], k4.shape[1]
    if Hq != H and not enable_gqa:
        raise _sdpa_error(f"query has {Hq} heads and key/value {H}: heads must be equal unless enable_gqa=True "
                          f"({shapes})")
    if H == 0 or Hq % H != 0:
        raise _sdpa_error(f"enable_gqa: the key/value heads ({H}) must divide the query heads ({Hq}): {shapes}")
    mask = bias = None
    if attn_mask is not None:
        if is_causal:
            raise _sdpa_error("give attn_mask or is_causal, not both (as in PyTorch)")
        mask, bias = _sdpa_mask(attn_mask, q4, batch, q4.shape[2], k4.shape[2])
    out = attention(q4, k4, v4, kind=kind, scale=scale, causal=is_causal, causal_alignment="top_left",
                    attn_mask=mask, bias=bias, dropout_p=dropout_p, generator=generator, **attention_kwargs)
    return out.reshape(*(tuple(q.shape[:-1]) + (v.shape[-1],)))
