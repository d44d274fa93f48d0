"""memgrad.nn.MultiHeadAttention's keywords (issue 15): cross-attention, kv_heads, position,
attn_dropout (training mode only), causal_alignment, window; TransformerEncoder passes them on.
Each is checked against memgrad's own attention() on the same projections, in every kind."""
import numpy as np
import pytest

import memgrad as mg
from memgrad import nn

KINDS = ["vanilla", "chunked", "topk"]


def run_kind(kind, f):
    """f() for one kind (every kind implements every option: no skips)."""
    return f()


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def arr(t):
    return np.asarray(t.detach().numpy(), np.float64)


def lin(x, w, b):
    return x @ arr(w).T + arr(b)


def split(t, H):  # [B, N, H*Dh] -> [B, H, N, Dh]
    B, N, F = t.shape
    return t.reshape(B, N, H, F // H).transpose(0, 2, 1, 3)


def merge(a):  # [B, H, N, Dh] -> [B, N, H*Dh]
    B, H, N, Dh = a.shape
    return a.transpose(0, 2, 1, 3).reshape(B, N, H * Dh)


def softmax_attention(q, k, v, extra=None):
    """softmax(q k^T / sqrt(D) + extra) v in float64, k/v heads shared by groups of query heads."""
    G = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, G, axis=1), np.repeat(v, G, axis=1)
    s = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
    if extra is not None:
        s = s + extra
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize("kind", KINDS)
def test_cross_attention_with_grouped_heads(kind):
    x, ctx = rnd(2, 5, 8, seed=1), rnd(2, 7, 6, seed=2)
    m = nn.MultiHeadAttention(8, 4, kind=kind, top_k=1 << 20, kv_heads=2, context_dim=6)
    assert [n for n, _ in m.named_parameters()] == ["q.weight", "q.bias", "kv.weight", "kv.bias", "out.weight",
                                                    "out.bias"]
    got = run_kind(kind, lambda: m(x, ctx))
    q = split(lin(x, m.q.weight, m.q.bias), 4)
    kv = lin(ctx, m.kv.weight, m.kv.bias)
    k, v = split(kv[..., :4], 2), split(kv[..., 4:], 2)
    ref = lin(merge(softmax_attention(q, k, v)), m.out.weight, m.out.bias)
    np.testing.assert_allclose(arr(got), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_alibi_position(kind):
    x = rnd(2, 6, 8, seed=3)
    m = nn.MultiHeadAttention(8, 2, kind=kind, top_k=1 << 20, position="alibi")
    assert m.rel_table is None and m.position == "alibi"
    got = run_kind(kind, lambda: m(x))
    p = lin(x, m.qkv.weight, m.qkv.bias)
    q, k, v = split(p[..., :8], 2), split(p[..., 8:16], 2), split(p[..., 16:], 2)
    slopes = np.array([2.0 ** (-8 * (h + 1) / 2) for h in range(2)])  # the paper's defaults, H = 2
    dist = np.abs(np.arange(6)[None, :] - np.arange(6)[:, None])
    ref = lin(merge(softmax_attention(q, k, v, -slopes[:, None, None] * dist)), m.out.weight, m.out.bias)
    np.testing.assert_allclose(arr(got), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_relative_position_table_is_a_saved_parameter_with_a_gradient(kind):
    m = nn.MultiHeadAttention(8, 2, kind=kind, position="relative", relative_buckets=8, relative_max_distance=16)
    assert m.rel_table.shape == (2, 8)
    assert "rel_table" in m.state_dict()
    x = mg.tensor(rnd(1, 5, 8, seed=4), requires_grad=True)
    run_kind(kind, lambda: m(x).sum().backward())
    assert m.rel_table.grad is not None and np.abs(m.rel_table.grad.numpy()).sum() > 0
    again = nn.MultiHeadAttention(8, 2, kind=kind, position="relative", relative_buckets=8, relative_max_distance=16)
    again.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(arr(again.rel_table), arr(m.rel_table))


@pytest.mark.parametrize("kind", KINDS)
def test_attention_dropout_only_in_training(kind):
    x = rnd(2, 6, 8, seed=5)
    g = mg.Generator(7)
    m = nn.MultiHeadAttention(8, 2, kind=kind, top_k=1 << 20, attn_dropout=0.5, generator=g)
    plain = nn.MultiHeadAttention(8, 2, kind=kind, top_k=1 << 20)
    plain.load_state_dict(m.state_dict())
    m.eval()
    np.testing.assert_allclose(arr(run_kind(kind, lambda: m(x))), arr(plain(x)), rtol=1e-5, atol=1e-6)
    m.train()
    g.set_state(3)
    a = arr(run_kind(kind, lambda: m(x)))
    g.set_state(3)
    b = arr(m(x))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, arr(plain(x)), atol=1e-4)


def test_window_and_alignment_keywords():
    m = nn.MultiHeadAttention(8, 2, kind="vanilla", causal=True, causal_alignment="top_left", window=(2, 0))
    x = rnd(1, 7, 8, seed=6)
    got = arr(m(x))
    p = lin(x, m.qkv.weight, m.qkv.bias)
    q, k, v = split(p[..., :8], 2), split(p[..., 8:16], 2), split(p[..., 16:], 2)
    i, j = np.arange(7)[:, None], np.arange(7)[None, :]
    hidden = np.where((j <= i) & (j >= i - 2), 0.0, -np.inf)
    ref = lin(merge(softmax_attention(q, k, v, hidden)), m.out.weight, m.out.bias)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="window"):
        nn.MultiHeadAttention(8, 2, window=(1, 2, 3))
    with pytest.raises(Exception, match="kv_heads 3 must divide heads 2"):
        nn.MultiHeadAttention(8, 2, kv_heads=3)
    with pytest.raises(Exception, match="unknown position bias"):
        nn.MultiHeadAttention(8, 2, position="rotary")


def test_transformer_encoder_keywords_and_packed_sequences():
    enc = nn.TransformerEncoder(dim=8, heads=4, layers=2, ff_hidden=12, dropout=0.0, kind="vanilla", kv_heads=2,
                                position="relative", relative_buckets=10, attn_dropout=0.25, window=3)
    c = enc.config
    assert (c["kv_heads"], c["position"], c["relative_buckets"], c["attn_dropout"]) == (2, "relative", 10, 0.25)
    assert (c["window_left"], c["window_right"]) == (3, 3)
    assert "layers.0.attn.rel_table" in enc.state_dict() or "0.attn.rel_table" in enc.state_dict()
    enc.eval()
    x = rnd(1, 6, 8, seed=8)
    packed = arr(enc(x, cu_seqlens=np.array([0, 2, 6], np.int64)))
    np.testing.assert_allclose(packed[:, :2], arr(enc(x[:, :2])), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(packed[:, 2:], arr(enc(x[:, 2:])), rtol=1e-4, atol=1e-5)
    layer = nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0, kind="vanilla", position="alibi", kv_heads=1)
    assert layer.attn.kv_heads == 1 and layer.attn.position == "alibi"
