"""memgrad.nn.functional.scaled_dot_product_attention: PyTorch's semantics (torch 2.x documentation's
reference implementation, written out in numpy here), on memgrad's attention in every kind."""
import math

import numpy as np
import pytest

import memgrad as mg

F = mg.nn.functional
KINDS = ["chunked", "vanilla", "topk"]


def run(kind, fn):
    """fn() for one kind (every kind implements every option: no skips)."""
    return fn()


def sdpa_reference(q, k, v, dO, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
    """PyTorch's documented reference in float64 numpy, with the gradients of sum(out * dO).

    One difference on purpose: a row with no visible key gives 0 (memgrad), where PyTorch gives NaN."""
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    s = 1 / math.sqrt(E) if scale is None else scale
    G = q.shape[-3] // k.shape[-3] if q.ndim >= 3 else 1
    if enable_gqa:
        k, v = np.repeat(k, G, axis=-3), np.repeat(v, G, axis=-3)
    A = q @ np.swapaxes(k, -1, -2) * s
    allowed = np.ones(A.shape, bool)
    if is_causal:
        allowed &= np.tril(np.ones((L, S), bool))
    if attn_mask is not None and attn_mask.dtype == bool:
        allowed &= attn_mask
    elif attn_mask is not None:
        A = A + attn_mask
    A = np.where(allowed, A, -np.inf)
    m = A.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(A - m)
    total = e.sum(-1, keepdims=True)
    P = np.where(total > 0, e / np.where(total > 0, total, 1), 0)
    out = P @ v
    dP = dO @ np.swapaxes(v, -1, -2)
    dA = P * (dP - (dP * P).sum(-1, keepdims=True))
    dq, dk, dv = dA @ k * s, np.swapaxes(dA, -1, -2) @ q * s, np.swapaxes(P, -1, -2) @ dO
    if enable_gqa:  # sum the repeated heads back into the shared ones
        dk = dk.reshape(*dk.shape[:-3], dk.shape[-3] // G, G, *dk.shape[-2:]).sum(-3)
        dv = dv.reshape(*dv.shape[:-3], dv.shape[-3] // G, G, *dv.shape[-2:]).sum(-3)
    dmask = None
    if attn_mask is not None and attn_mask.dtype != bool:
        dmask = dA.sum(axis=tuple(range(dA.ndim - attn_mask.ndim)))
        dmask = dmask.sum(axis=tuple(d for d in range(attn_mask.ndim) if attn_mask.shape[d] == 1), keepdims=True)
    return dict(out=out, dq=dq, dk=dk, dv=dv, dmask=dmask)


def check(kind, q, k, v, tol=1e-9, mask_grad=False, **kw):
    """sdpa in float64 against the reference: output and the gradients of q, k, v (and a float mask)."""
    rng = np.random.default_rng(99)
    L, Ev = q.shape[-2], v.shape[-1]
    dO = rng.standard_normal(q.shape[:-2] + (L, Ev))
    want = sdpa_reference(q, k, v, dO, **kw)
    t = {n: mg.tensor(a, requires_grad=True) for n, a in (("q", q), ("k", k), ("v", v))}
    if mask_grad:
        kw = dict(kw, attn_mask=mg.tensor(kw["attn_mask"], requires_grad=True))

    def forward():
        out = F.scaled_dot_product_attention(t["q"], t["k"], t["v"], kind=kind, top_k=1 << 20, **kw)
        (out * mg.tensor(dO)).sum().backward()
        return out

    out = run(kind, forward)
    assert out.shape == want["out"].shape
    np.testing.assert_allclose(out.detach().numpy(), want["out"], rtol=tol, atol=tol)
    for n in "qkv":
        np.testing.assert_allclose(t[n].grad.numpy(), want["d" + n], rtol=tol, atol=tol, err_msg="d" + n)
    if mask_grad:
        np.testing.assert_allclose(kw["attn_mask"].grad.numpy(), want["dmask"], rtol=tol, atol=tol, err_msg="dmask")


def randn(rng, *shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(3, 7, 5), (2, 3, 7, 5), (2, 2, 3, 6, 4)], ids=["3d", "4d", "5d"])
def test_plain_any_batch_dims(kind, shape):
    rng = np.random.default_rng(1)
    q = randn(rng, *shape)
    k, v = randn(rng, *shape[:-2], 9, shape[-1]), randn(rng, *shape[:-2], 9, 3)
    check(kind, q, k, v)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("L,S", [(5, 9), (9, 5), (7, 7)])
def test_is_causal_is_top_left(kind, L, S):
    """PyTorch's is_causal is torch.tril(ones(L, S)): query i sees keys j <= i, whatever L and S."""
    rng = np.random.default_rng(L * 10 + S)
    q, k, v = randn(rng, 2, 3, L, 4), randn(rng, 2, 3, S, 4), randn(rng, 2, 3, S, 4)
    check(kind, q, k, v, is_causal=True)


@pytest.mark.parametrize("kind", KINDS)
def test_scale(kind):
    rng = np.random.default_rng(2)
    q, k, v = randn(rng, 2, 2, 6, 4), randn(rng, 2, 2, 8, 4), randn(rng, 2, 2, 8, 4)
    check(kind, q, k, v, scale=0.37)
    check(kind, q, k, v, scale=2.5, is_causal=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask_shape", [(6, 8), (2, 1, 6, 8), (1, 3, 1, 8), (2, 3, 6, 8)])
def test_bool_mask(kind, mask_shape):
    rng = np.random.default_rng(3)
    q, k, v = randn(rng, 2, 3, 6, 4), randn(rng, 2, 3, 8, 4), randn(rng, 2, 3, 8, 5)
    mask = rng.random(mask_shape) > 0.3
    check(kind, q, k, v, attn_mask=mask)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask_shape", [(6, 8), (2, 1, 6, 8), (1, 3, 1, 8), (2, 3, 6, 8)])
def test_float_mask_is_added_and_gets_a_gradient(kind, mask_shape):
    rng = np.random.default_rng(4)
    q, k, v = randn(rng, 2, 3, 6, 4), randn(rng, 2, 3, 8, 4), randn(rng, 2, 3, 8, 5)
    check(kind, q, k, v, attn_mask=randn(rng, *mask_shape), mask_grad=True)


@pytest.mark.parametrize("kind", KINDS)
def test_mask_batch_dims_5d(kind):
    """A mask over 5-d inputs broadcasting in some batch dims ([2, 1, 1, L, S] against [2, 2, 3, L, S])."""
    rng = np.random.default_rng(5)
    q, k, v = randn(rng, 2, 2, 3, 5, 4), randn(rng, 2, 2, 3, 7, 4), randn(rng, 2, 2, 3, 7, 4)
    check(kind, q, k, v, attn_mask=rng.random((2, 1, 1, 5, 7)) > 0.3)
    check(kind, q, k, v, attn_mask=randn(rng, 1, 2, 1, 5, 7), mask_grad=True)


@pytest.mark.parametrize("kind", KINDS)
def test_bool_and_float_masks_agree(kind):
    """A float mask of 0 / -inf equals the bool mask it encodes."""
    rng = np.random.default_rng(6)
    q, k, v = randn(rng, 1, 2, 5, 4), randn(rng, 1, 2, 7, 4), randn(rng, 1, 2, 7, 4)
    mask = rng.random((5, 7)) > 0.4
    mask[:, 0] = True
    a = run(kind, lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, kind=kind)).detach().numpy()
    b = run(kind, lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=np.where(mask, 0.0, -np.inf),
                                                         kind=kind)).detach().numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_row_gives_zero(kind):
    """The one documented difference from PyTorch: an all-masked row is 0 here (NaN in PyTorch)."""
    rng = np.random.default_rng(7)
    q, k, v = randn(rng, 1, 2, 4, 3), randn(rng, 1, 2, 6, 3), randn(rng, 1, 2, 6, 3)
    mask = rng.random((4, 6)) > 0.3
    mask[1] = False
    out = run(kind, lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, kind=kind)).detach().numpy()
    np.testing.assert_array_equal(out[:, :, 1], 0)
    assert np.isfinite(out).all()
    check(kind, q, k, v, attn_mask=mask)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("Hq,H", [(4, 2), (6, 1), (3, 3)])
def test_enable_gqa(kind, Hq, H):
    rng = np.random.default_rng(Hq * 10 + H)
    q, k, v = randn(rng, 2, Hq, 5, 4), randn(rng, 2, H, 8, 4), randn(rng, 2, H, 8, 3)
    check(kind, q, k, v, enable_gqa=True)
    check(kind, q, k, v, enable_gqa=True, is_causal=True)


def test_gqa_needs_enable_gqa_and_dividing_heads():
    rng = np.random.default_rng(8)
    q, k = randn(rng, 1, 4, 5, 4), randn(rng, 1, 2, 5, 4)
    with pytest.raises(ValueError, match=r"\[scaled_dot_product_attention\] query has 4 heads and key/value 2: "
                                         r"heads must be equal unless enable_gqa=True"):
        F.scaled_dot_product_attention(q, k, k)
    k3 = randn(rng, 1, 3, 5, 4)
    with pytest.raises(ValueError, match=r"the key/value heads \(3\) must divide the query heads \(4\)"):
        F.scaled_dot_product_attention(q, k3, k3, enable_gqa=True)


@pytest.mark.parametrize("kwargs,message", [
    (dict(attn_mask=np.ones((5, 5), bool), is_causal=True), "give attn_mask or is_causal, not both"),
    (dict(attn_mask=np.ones((5, 5), np.int64)), "attn_mask must be bool (True = take part) or float"),
    (dict(attn_mask=np.ones((5, 4), bool)), "does not broadcast to (1, 2, 5, 5)"),
    (dict(attn_mask=np.ones((3, 1, 2, 5, 5), bool)), "does not broadcast to (1, 2, 5, 5)"),
    (dict(attn_mask=mg.zeros(5, 5, dtype=mg.float32)), "a float attn_mask must have the inputs' dtype float64"),
    (dict(scale=-1.0), "scale must be positive"),
    (dict(dropout_p=2.0), "dropout_p must be in [0, 1]"),
])
def test_bad_arguments(kwargs, message):
    x = np.ones((1, 2, 5, 4))
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        F.scaled_dot_product_attention(x, x, x, kind="vanilla", **kwargs)


def test_bad_shapes():
    x = np.ones((2, 5, 4))
    with pytest.raises(ValueError, match=r"query must be \[N, \.\.\., L, E\] with at least 3 dims"):
        F.scaled_dot_product_attention(np.ones((5, 4)), x, x)
    with pytest.raises(ValueError, match="must have the same batch dims"):
        F.scaled_dot_product_attention(np.ones((3, 2, 5, 4)), np.ones((2, 2, 5, 4)), np.ones((2, 2, 5, 4)))
    with pytest.raises(ValueError, match="must have the same batch dims"):
        F.scaled_dot_product_attention(np.ones((1, 2, 5, 4)), x, x)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_deterministic_with_a_generator(kind):
    rng = np.random.default_rng(9)
    q, k, v = randn(rng, 2, 2, 6, 4), randn(rng, 2, 2, 6, 4), randn(rng, 2, 2, 6, 4)

    def call(seed, p=0.4):
        gen = mg.Generator(seed)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p, kind=kind, generator=gen).numpy()

    a = run(kind, lambda: call(3))
    np.testing.assert_array_equal(a, call(3))
    assert not np.allclose(a, call(4))
    # The same pattern as memgrad's own attention with top-left causal alignment and the same state.
    b = mg.functional.attention(q, k, v, kind=kind, dropout_p=0.4, generator=mg.Generator(3)).detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_float32_and_numpy_inputs():
    rng = np.random.default_rng(10)
    q, k, v = (randn(rng, 2, 3, 6, 4).astype(np.float32) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert out.dtype == mg.float32
    want = sdpa_reference(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), np.zeros((2, 3, 6, 4)),
                          is_causal=True)["out"]
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # a numpy float64 mask with float32 inputs is taken in float32
    mask = randn(rng, 6, 6)
    out = run("vanilla", lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, kind="vanilla"))
    want = sdpa_reference(*(a.astype(np.float64) for a in (q, k, v)), np.zeros((2, 3, 6, 4)), attn_mask=mask)["out"]
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_is_in_both_namespaces():
    assert mg.nn.functional.scaled_dot_product_attention is mg.functional.scaled_dot_product_attention
