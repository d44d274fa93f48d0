"""The top-k feed-forward layer from Python (Gupta et al. 2021): FeedForward's top_k / chunk
options and properties, the ops memgrad.functional.topk_linear / sparse_linear, and the encoder's
ff_top_k."""
import numpy as np
import pytest

import memgrad as mg
import memgrad.functional as F
import memgrad.nn as nn


def run(ff, x, w):
    ff.zero_grad()
    xt = mg.tensor(x, requires_grad=True)
    y = ff(xt)
    y.backward(mg.tensor(w))
    grads = [xt.grad] + [p.grad for _, p in ff.named_parameters()]
    return y.detach().numpy().copy(), [g.numpy().copy() for g in grads]


def test_top_k_equal_to_hidden_equals_the_dense_layer():
    rng = np.random.default_rng(0)
    ff = nn.FeedForward(6, 20, activation="relu", dtype="float64", generator=mg.Generator(1))
    assert ff.top_k == 0 and ff.chunk == 1024
    x, w = rng.standard_normal((3, 9, 6)), rng.standard_normal((3, 9, 6))
    y_dense, g_dense = run(ff, x, w)
    ff.top_k, ff.chunk = 20, 4  # every unit, through the top-k path, 4 tokens per chunk
    assert (ff.top_k, ff.chunk) == (20, 4)
    y, g = run(ff, x, w)
    np.testing.assert_allclose(y, y_dense, rtol=1e-12, atol=1e-12)
    assert len(g) == 5
    for a, b in zip(g, g_dense):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_top_k_layer_matches_the_functional_ops():
    rng = np.random.default_rng(1)
    ff = nn.FeedForward(5, 16, activation="gelu", top_k=3, chunk=2, dtype="float64", generator=mg.Generator(2))
    assert ff.top_k == 3
    x = mg.tensor(rng.standard_normal((7, 5)))
    v, idx = F.topk_linear(x, ff.fc1.weight, ff.fc1.bias, 3, chunk=2)
    assert v.shape == (7, 3) and idx.shape == (7, 3) and idx.dtype == mg.int64
    idx_np = idx.numpy()
    w1, b1 = ff.fc1.weight.detach().numpy(), ff.fc1.bias.detach().numpy()
    assert (np.diff(idx_np, axis=1) > 0).all()  # ascending columns
    h = x.numpy() @ w1.T + b1
    np.testing.assert_allclose(v.detach().numpy(), np.take_along_axis(h, idx_np, 1), rtol=1e-12)
    assert (np.sort(h, 1)[:, -3:].min(1) <= v.detach().numpy().min(1) + 1e-12).all()  # the 3 largest
    y = F.sparse_linear(F.gelu(v), idx, ff.fc2.weight) + ff.fc2.bias
    np.testing.assert_allclose(ff(x).detach().numpy(), y.detach().numpy(), rtol=1e-12)


def test_bad_top_k_and_indices_are_value_errors():
    w = mg.zeros((4, 3))
    with pytest.raises(ValueError, match=r"\[topk_linear\] k = 5 is out of range for F = 4"):
        F.topk_linear(mg.zeros((2, 3)), w, None, 5)
    with pytest.raises(ValueError, match=r"\[sparse_linear\] index 4 is out of range for F = 4"):
        F.sparse_linear(mg.zeros((1, 2)), np.array([[0, 4]]), mg.zeros((3, 4)))
    ff = nn.FeedForward(3, 4)
    ff.top_k = -2
    with pytest.raises(ValueError, match=r"\[FeedForward\] top_k must be >= 0"):
        ff(mg.zeros((2, 3)))


def test_encoder_takes_ff_top_k():
    enc = nn.TransformerEncoder(dim=8, heads=2, layers=2, ff_hidden=16, ff_top_k=4, ff_chunk=3, dropout=0.0)
    assert enc.config["ff_top_k"] == 4 and enc.config["ff_chunk"] == 3
    assert enc.layers[0].ff.top_k == 4 and enc.layers[1].ff.chunk == 3
    y = enc(mg.randn((2, 5, 8)))
    assert y.shape == (2, 5, 8)
