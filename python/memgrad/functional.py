"""Functional ops: attention (every kind and option) and the neural-network ops."""
from . import _C

attention = _C.functional.attention
ATTENTION_KINDS = _C.functional.ATTENTION_KINDS
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


def linear(x, weight, bias=None):
    """x @ weight.T + bias, weight [out, in] (PyTorch's layout)."""
    y = _C.matmul(x, _C.transpose(weight, 0, 1))
    return y if bias is None else y + bias


def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or none) of the squared differences."""
    d = (input - target) ** 2
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    if reduction == "none":
        return d
    raise ValueError(f"[mse_loss] reduction must be 'mean', 'sum' or 'none', got '{reduction}'")
