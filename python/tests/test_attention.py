"""memgrad.functional.attention, every kind and option, against a numpy reference written here."""
import threading
import time

import numpy as np
import pytest

import memgrad as mg

KINDS = ["vanilla", "chunked", "topk"]


def reference(q, k, v, scale=None, causal=False, valid=None, top_k=None, top_left=False):
    """Output and probabilities of softmax(q k^T * scale + mask) v, in float64 numpy.

    valid: bool [B, Nk], False = ignored key. top_k: keep each query's top_k largest allowed
    scores. causal: bottom-right aligned (query i sees keys j <= i + Nk - Nq), or with top_left
    j <= i (PyTorch's is_causal). A query with no allowed key gets zeros."""
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    s = 1 / np.sqrt(D) if scale is None else scale
    S = np.einsum("bhqd,bhkd->bhqk", q, k) * s
    allowed = np.ones((B, 1, Nq, Nk), bool)
    if causal:
        allowed &= np.arange(Nk)[None, :] <= np.arange(Nq)[:, None] + (0 if top_left else Nk - Nq)
    if valid is not None:
        allowed &= valid[:, None, None, :]
    S = np.where(allowed, S, -np.inf)
    if top_k is not None and top_k < Nk:
        kth = np.sort(S, axis=-1)[..., Nk - top_k][..., None]
        S = np.where(S >= kth, S, -np.inf)
    m = S.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    P = np.exp(S - m)
    total = P.sum(-1, keepdims=True)
    P = np.where(total > 0, P / np.where(total > 0, total, 1), 0)
    return P @ v, P, s


def reference_grads(q, k, v, dO, P, s):
    dV = np.swapaxes(P, -1, -2) @ dO
    dP = dO @ np.swapaxes(v, -1, -2)
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))
    return dS @ k * s, np.swapaxes(dS, -1, -2) @ q * s, dV


CASES = {
    "plain": dict(),
    "causal": dict(causal=True),
    "causal_nq_lt_nk": dict(causal=True, nq=5),
    "causal_top_left_nq_lt_nk": dict(causal=True, nq=5, top_left=True),
    "causal_top_left_nq_gt_nk": dict(causal=True, nq=15, top_left=True, q_chunk=4, k_chunk=3),
    "scale": dict(scale=0.3),
    "padding_mask": dict(mask=True),
    "key_lengths": dict(lengths=True),
    "odd_chunks": dict(q_chunk=3, k_chunk=5),
    "everything": dict(causal=True, lengths=True, q_chunk=4, k_chunk=3, scale=0.5),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(CASES))
def test_attention_matches_numpy(kind, case):
    c = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    B, H, Nk, D, Dv = 2, 3, 11, 8, 6
    Nq = c.get("nq", Nk)
    q, k = rng.standard_normal((B, H, Nq, D)), rng.standard_normal((B, H, Nk, D))
    v, dO = rng.standard_normal((B, H, Nk, Dv)), rng.standard_normal((B, H, Nq, Dv))
    valid, kw = None, {}
    if c.get("mask"):
        valid = rng.random((B, Nk)) > 0.3
        valid[:, 0] = True
        kw["key_padding_mask"] = ~valid  # memgrad: True = padding
    if c.get("lengths"):
        lengths = np.array([Nk, 6])
        valid = np.arange(Nk)[None, :] < lengths[:, None]
        kw["key_lengths"] = lengths
    top_k = 4 if kind == "topk" else None
    top_left = c.get("top_left", False)
    out, P, s = reference(q, k, v, c.get("scale"), c.get("causal", False), valid, top_k, top_left)
    if top_left:
        kw["causal_alignment"] = "top_left"
    tq, tk, tv = (mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in (q, k, v))
    got = mg.functional.attention(tq, tk, tv, kind=kind, scale=c.get("scale"), causal=c.get("causal", False),
                                  q_chunk=c.get("q_chunk"), k_chunk=c.get("k_chunk"), top_k=top_k or 64, **kw)
    assert got.shape == (B, H, Nq, Dv)
    np.testing.assert_allclose(got.detach().numpy(), out, rtol=1e-9, atol=1e-10)
    got.backward(mg.tensor(dO, dtype=mg.float64))
    for t, g in zip((tq, tk, tv), reference_grads(q, k, v, dO, P, s)):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_queries_get_zeros_and_zero_gradients(kind):
    q = mg.randn(1, 2, 4, 8, requires_grad=True)
    k = mg.randn(1, 2, 4, 8, requires_grad=True)
    v = mg.randn(1, 2, 4, 8, requires_grad=True)
    out = mg.functional.attention(q, k, v, kind=kind, key_lengths=[0])
    assert (out.detach().numpy() == 0).all()
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all() and (t.grad.numpy() == 0).all()


def test_topk_with_k_at_least_nk_equals_vanilla_in_float32():
    rng = np.random.default_rng(5)
    q, k, v = (mg.tensor(rng.standard_normal((2, 2, 33, 16))) for _ in range(3))
    ref = mg.functional.attention(q, k, v, kind="vanilla").numpy()
    for kind, kw in (("topk", dict(top_k=33)), ("chunked", dict(q_chunk=7, k_chunk=10))):
        np.testing.assert_allclose(mg.functional.attention(q, k, v, kind=kind, **kw).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_attention_bad_arguments():
    q = mg.randn(1, 1, 4, 8)
    with pytest.raises(ValueError, match="unknown attention kind"):
        mg.functional.attention(q, q, q, kind="sparse")
    with pytest.raises(ValueError, match=r"expected \[B, H, N, D\]"):
        mg.functional.attention(q[0], q[0], q[0])
    with pytest.raises(ValueError, match="top_k must be positive"):
        mg.functional.attention(q, q, q, kind="topk", top_k=0)
    with pytest.raises(ValueError, match="key_padding_mask must be bool"):
        mg.functional.attention(q, q, q, key_padding_mask=np.zeros((1, 3), bool))
    with pytest.raises(ValueError, match="unknown causal alignment 'upper' .expected bottom_right or top_left."):
        mg.functional.attention(q, q, q, causal=True, causal_alignment="upper")


def test_attention_releases_the_gil():
    """While one thread runs a long attention forward+backward, Python code keeps running."""
    q, k, v = (mg.randn(1, 4, 1024, 64, requires_grad=True) for _ in range(3))
    done = threading.Event()
    elapsed = []

    def work():
        t0 = time.perf_counter()
        for _ in range(3):
            mg.functional.attention(q, k, v, kind="vanilla").sum().backward()
        elapsed.append(time.perf_counter() - t0)
        done.set()

    th = threading.Thread(target=work)
    ticks = 0
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    th.join()
    # with the GIL held for the whole C++ call the loop would stall; it runs about once a ms
    assert ticks > 0.25 * elapsed[0] * 1000 / 2, (ticks, elapsed)
