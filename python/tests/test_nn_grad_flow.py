"""Every memgrad.nn module and functional passes gradients to each input and parameter, in every
configuration (masks, pooling, attention kind, causal, checkpointing, train/eval): nothing computes a
differentiable result where no graph is recorded."""
import itertools

import numpy as np
import pytest

import memgrad as mg
from memgrad import nn
from memgrad.nn import functional as F

B, N, D = 2, 5, 8
MASKS = {
    "none": {},
    "key_padding_mask": {"key_padding_mask": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], bool)},
    "key_lengths": {"key_lengths": np.array([3, 5], np.int64)},
}
KINDS = ["vanilla", "chunked", "topk"]


def check_flow(fn, inputs, module=None):
    leaves = [mg.tensor(x).requires_grad_() if np.asarray(x).dtype.kind == "f" else mg.tensor(x) for x in inputs]
    if module is not None:
        module.zero_grad()
    out = fn(*leaves)
    assert out.requires_grad, "the output does not require grad"
    w = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    (out * w).sum().backward()
    named = [(f"input {i}", t) for i, t in enumerate(leaves) if t.dtype.is_floating_point]
    if module is not None:
        named += [(f"parameter {n}", p) for n, p in module.named_parameters()]
    for name, t in named:
        assert t.grad is not None, f"{name}: no gradient"
        g = t.grad.numpy()
        assert np.isfinite(g).all(), f"{name}: non-finite gradient"
        assert np.abs(g).max() > 0, f"{name}: all-zero gradient"


def x3(seed=0):
    return np.random.default_rng(seed).standard_normal((B, N, D)).astype(np.float32)


@pytest.mark.parametrize("mask,how", list(itertools.product(MASKS, ["mean", "cls"])))
def test_pool(mask, how):
    kw = MASKS[mask]
    check_flow(lambda x: F.pool(x, how, kw.get("key_padding_mask"), kw.get("key_lengths")), [x3()])


@pytest.mark.parametrize("kind,causal,mask", list(itertools.product(KINDS, [False, True], MASKS)))
def test_multi_head_attention(kind, causal, mask):
    m = nn.MultiHeadAttention(D, 2, kind=kind, causal=causal, top_k=3, q_chunk=2, k_chunk=2)
    check_flow(lambda x: m(x, **MASKS[mask]), [x3(1)], m)


@pytest.mark.parametrize("kind,checkpoint,training,mask",
                         list(itertools.product(KINDS, [False, True], [True, False], MASKS)))
def test_transformer_encoder(kind, checkpoint, training, mask):
    m = nn.TransformerEncoder(D, 2, 2, 16, dropout=0.1, kind=kind, top_k=3, q_chunk=2, checkpoint=checkpoint)
    m.train(training)
    check_flow(lambda x: m(x, **MASKS[mask]), [x3(2)], m)


@pytest.mark.parametrize("training", [True, False])
def test_layers_and_activations(training):
    layers = [nn.Linear(D, 3), nn.Linear(D, 3, bias=False), nn.LayerNorm(D), nn.Dropout(0.5),
              nn.FeedForward(D, 16, 0.25, "gelu"), nn.FeedForward(D, 16, 0.25, "relu"),
              nn.LearnedPositionalEncoding(N + 2, D), nn.SinusoidalPositionalEncoding(N + 2, D),
              nn.TransformerEncoderLayer(D, 2, 16, kind="topk", top_k=3), nn.ReLU(), nn.GELU(), nn.Tanh(),
              nn.Sigmoid(), nn.Identity(), nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, 2))]
    for m in layers:
        m.train(training)
        check_flow(m, [x3(3)], m)
    emb = nn.Embedding(7, D)
    check_flow(emb, [np.array([[1, 3], [3, 6]], np.int64)], emb)
    head = nn.ClassificationHead(D, 6, 3)
    check_flow(head, [x3(4)[:, 0]], head)
    rhead = nn.RetrievalHead(D, 6, 2)
    check_flow(rhead, [x3(5)[:, 0], x3(6)[:, 0]], rhead)


def test_functionals():
    x = x3(7)
    check_flow(lambda t: F.softmax(t, -1), [x])
    check_flow(lambda t: F.log_softmax(t, -1), [x])
    check_flow(lambda t: F.cross_entropy(t[:, 0, :3], mg.tensor([2, 0])), [x])
    check_flow(lambda t, w, b: F.layer_norm(t, w, b), [x, np.ones(D, np.float32), np.zeros(D, np.float32)])
    check_flow(lambda t: F.dropout(t, 0.5), [x])
    check_flow(lambda w: F.embedding(w, mg.tensor([[1, 2], [0, 2]])), [x3(8)[0]])
    check_flow(lambda t, w, b: F.linear(t, w, b), [x, x3(9)[0, :3], np.ones(3, np.float32)])
    check_flow(lambda a, b: F.mse_loss(a, b), [x, x3(10)])
    for f in (F.relu, F.gelu, F.sigmoid, F.tanh):
        check_flow(f, [x])
    for kind, causal in itertools.product(KINDS, [False, True]):
        q = x3(11).reshape(B, 1, N, D)
        check_flow(lambda q, k, v: F.attention(q, k, v, kind=kind, causal=causal, top_k=3), [q, q * 0.5, q + 1])
