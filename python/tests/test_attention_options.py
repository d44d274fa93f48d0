"""memgrad.functional.attention's options (issue 15) in every kind, against a numpy reference written
here: sliding window, attn_mask, bias, ALiBi, T5 relative bias, grouped-query heads, packed
sequences, dropout, and the optional outputs (lse, probs, topk picks)."""
import numpy as np
import pytest

import memgrad as mg

KINDS = ["vanilla", "chunked", "topk"]
TOL = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-5)}


def run(kind, fn):
    """fn() for one kind (every kind implements every option: no skips)."""
    return fn()


# ---- the numpy reference ----

def t5_bucket(rel, buckets, max_distance, bidirectional):
    """T5's relative_position_bucket for one relative position rel = j - i (float32 logs, as T5)."""
    ret, n = 0, -rel
    if bidirectional:
        buckets //= 2
        if n < 0:
            ret += buckets
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = buckets // 2
    if n < max_exact:
        return ret + n
    f32 = np.float32
    large = np.log(f32(n) / f32(max_exact)) / np.log(f32(max_distance) / f32(max_exact)) * f32(buckets - max_exact)
    return ret + min(max_exact + int(large), buckets - 1)


def alibi_slopes(H):
    """ALiBi's default slopes (Press et al.): 2^(-8 (h+1) / H) for a power of two H; otherwise those of
    the power of two below H, then every other one of the power of two above."""
    p = 1
    while p * 2 <= H:
        p *= 2
    first = [2.0 ** (-8.0 * (h + 1) / p) for h in range(p)]
    rest = [2.0 ** (-8.0 * (2 * i + 1) / (2 * p)) for i in range(H - p)]
    return np.array(first + rest)


def visibility(Nq, Nk, causal, top_left, window, cu_q, cu_k):
    """(visible bool [Nq, Nk], rel int [Nq, Nk]): the window/causal band inside each packed sequence,
    and rel = j - (i + offset) in the sequence's local indices."""
    visible, rel = np.zeros((Nq, Nk), bool), np.zeros((Nq, Nk), np.int64)
    segments = [(0, Nq, 0, Nk)] if cu_q is None else [
        (cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s], cu_k[s + 1] - cu_k[s]) for s in range(len(cu_q) - 1)]
    for q0, nq, k0, nk in segments:
        diag = np.arange(nq)[:, None] + (0 if top_left else nk - nq)
        j = np.arange(nk)[None, :]
        vis = np.ones((nq, nk), bool)
        if causal:
            vis &= j <= diag
        if window is not None and window[0] >= 0:
            vis &= j >= diag - window[0]
        if window is not None and window[1] >= 0:
            vis &= j <= diag + window[1]
        visible[q0:q0 + nq, k0:k0 + nk] = vis
        rel[q0:q0 + nq, k0:k0 + nk] = j - diag
    return visible, rel


def reference(q, k, v, dO, *, scale=None, causal=False, top_left=False, window=None, mask=None, bias=None,
              slopes=None, table=None, max_distance=128, cu_q=None, cu_k=None, valid=None, top_k=None,
              keep=None):
    """float64 numpy: out, lse, P (before dropout), and the gradients dq, dk, dv, dbias, dtable of
    sum(out * dO). q [B, H, Nq, D], k [B, Hkv, Nk, D], v [B, Hkv, Nk, Dv]; mask bool and bias float
    broadcastable to [B, H, Nq, Nk]; slopes [H] (ALiBi), table [H, buckets] (T5); valid bool [B, Nk];
    keep [B, H, Nq, Nk] the dropout factors (0 or 1 / (1 - p)); top_k keeps each row's top_k
    visible scores."""
    B, H, Nq, D = q.shape
    Hkv, Nk = k.shape[1], k.shape[2]
    G = H // Hkv
    kr, vr = np.repeat(k, G, axis=1), np.repeat(v, G, axis=1)  # query head h reads kv head h // G
    s = 1 / np.sqrt(D) if scale is None else scale
    S = np.einsum("bhqd,bhkd->bhqk", q, kr) * s
    visible, rel = visibility(Nq, Nk, causal, top_left, window, cu_q, cu_k)
    allowed = np.broadcast_to(visible, (B, H, Nq, Nk)).copy()
    if valid is not None:
        allowed &= valid[:, None, None, :]
    if mask is not None:
        allowed &= np.broadcast_to(mask, allowed.shape)
    if bias is not None:
        S = S + bias
    if slopes is not None:
        S = S - slopes[None, :, None, None] * np.abs(rel)
    bucket = None
    if table is not None:
        bucket = np.vectorize(lambda r: t5_bucket(int(r), table.shape[1], max_distance, not causal))(rel)
        S = S + table[:, bucket][None]
    S = np.where(allowed, S, -np.inf)
    if top_k is not None and top_k < Nk:
        kth = np.sort(S, axis=-1)[..., Nk - top_k][..., None]
        S = np.where(S >= kth, S, -np.inf)
    # softmax over the visible pairs: a row with none (or all -inf) is 0; NaN or +inf make it NaN
    m = S.max(-1, keepdims=True)
    m = np.where(m == -np.inf, 0, m)
    E = np.exp(S - m)
    total = E.sum(-1, keepdims=True)
    empty = total == 0
    P = np.where(empty, 0, E / np.where(empty, 1, total))
    lse = np.where(empty, np.inf, np.log(np.where(empty, 1, total)) + m)[..., 0]
    Pd = P if keep is None else P * keep
    out = Pd @ vr
    # backward: dS = P * keep * (dO . v_j) - P * Delta, Delta_i = dO_i . out_i
    dPd = dO @ np.swapaxes(vr, -1, -2)
    dS = (dPd if keep is None else dPd * keep) * P - P * (dO * out).sum(-1, keepdims=True)
    dq = dS @ kr * s
    dk = (np.swapaxes(dS, -1, -2) @ q * s).reshape(B, Hkv, G, Nk, D).sum(2)
    dv = (np.swapaxes(Pd, -1, -2) @ dO).reshape(B, Hkv, G, Nk, -1).sum(2)
    dbias = None
    if bias is not None:  # summed over bias's broadcast dims
        dbias = dS.sum(axis=tuple(d for d in range(4) if np.shape(bias)[d] == 1), keepdims=True)
    dtable = None
    if table is not None:
        dtable = np.zeros_like(table)
        for h in range(H):
            np.add.at(dtable[h], bucket, dS[:, h].sum(0))
    return dict(out=out, lse=lse, P=P, dq=dq, dk=dk, dv=dv, dbias=dbias, dtable=dtable)


# ---- the cases ----
# Each: shapes (B, H, Hkv, Nq, Nk), then reference keywords; tensors are made in make_inputs().
CASES = {
    "window": dict(nq=9, nk=13, window=(3, 2)),
    "window_top_left": dict(nq=9, nk=13, window=(2, 4), top_left=True),
    "window_left_only_causal": dict(window=(3, -1), causal=True),
    "window_right_only_nq_gt_nk": dict(nq=14, nk=9, window=(-1, 1)),
    "window_diagonal": dict(window=(0, 0)),
    "attn_mask_4d": dict(mask=(2, 3)),
    "attn_mask_2d_broadcast": dict(mask=(1, 1)),
    "attn_mask_full_row": dict(mask=(2, 1), mask_empty_row=True),
    "bias_full": dict(bias=(2, 3)),
    "bias_broadcast_heads": dict(bias=(1, 3), nq=8, nk=12),
    "bias_row_broadcast": dict(bias=(2, 1), bias_rows=1),
    "bias_neg_inf": dict(bias=(2, 3), bias_inf=True),
    "alibi_default": dict(alibi="default"),
    "alibi_default_causal_h3": dict(alibi="default", causal=True, h=3, hkv=3),
    "alibi_given_nq_ne_nk": dict(alibi="given", nq=6, nk=11),
    "relative_bidirectional": dict(table=8, max_distance=9),
    "relative_causal": dict(table=6, max_distance=7, causal=True),
    "relative_top_left_nq_ne_nk": dict(table=10, max_distance=8, nq=12, nk=7, top_left=True, causal=True),
    "gqa": dict(h=4, hkv=2),
    "mqa_causal": dict(h=4, hkv=1, causal=True, nq=7),
    "varlen": dict(cu_q=[0, 3, 3, 8], cu_k=[0, 4, 6, 11], b=1),
    "varlen_causal_window_relative": dict(cu_q=[0, 5, 9], cu_k=[0, 7, 11], b=1, causal=True, window=(2, -1),
                                          table=8, max_distance=6),
    "padding_bias_alibi": dict(valid=True, bias=(2, 1), alibi="default"),
    "everything": dict(h=4, hkv=2, causal=True, window=(4, -1), mask=(2, 1), bias=(1, 4), alibi="given", nq=8,
                       nk=10, scale=0.4),
}


def make_inputs(case, dtype, seed):
    """numpy float64 inputs and the attention() keywords (memgrad tensors in `dtype`) for a case."""
    c = CASES[case]
    rng = np.random.default_rng(seed)
    B, H, Hkv = c.get("b", 2), c.get("h", 3), c.get("hkv", c.get("h", 3))
    Nq, Nk = c.get("nq", 11), c.get("nk", c.get("nq", 11))
    if "cu_q" in c:
        Nq, Nk = c["cu_q"][-1], c["cu_k"][-1]
    D, Dv = 5, 4
    x = dict(q=rng.standard_normal((B, H, Nq, D)), k=rng.standard_normal((B, Hkv, Nk, D)),
             v=rng.standard_normal((B, Hkv, Nk, Dv)), dO=rng.standard_normal((B, H, Nq, Dv)))
    ref, kw, grads = {}, {}, {}
    for name in ("causal", "top_left", "window", "scale"):
        if name in c:
            ref[name] = c[name]
    if "window" in c:
        kw["window"] = c["window"]
    if c.get("causal"):
        kw["causal"] = True
    if c.get("top_left"):
        kw["causal_alignment"] = "top_left"
    if "scale" in c:
        kw["scale"] = c["scale"]
    if "mask" in c:
        mb, mh = c["mask"]
        m = rng.random((mb, mh, Nq, Nk)) > 0.35
        if c.get("mask_empty_row"):
            m[0, 0, 2, :] = False
        ref["mask"] = kw["attn_mask"] = m if mb > 1 or mh > 1 else m[0, 0]
    if "bias" in c:
        bb, bh = c["bias"]
        b = rng.standard_normal((bb, bh, c.get("bias_rows", Nq), Nk))
        if c.get("bias_inf"):
            b[rng.random(b.shape) < 0.2] = -np.inf
            b[0, 1, 3, :] = -np.inf  # a row whose visible scores are all -inf: probabilities 0
        ref["bias"] = b
        kw["bias"] = grads["bias"] = mg.tensor(b, dtype=dtype, requires_grad=True)
    if "alibi" in c:
        kw["position"] = "alibi"
        ref["slopes"] = alibi_slopes(H)
        if c["alibi"] == "given":
            ref["slopes"] = rng.random(H) + 0.1
            kw["alibi_slopes"] = ref["slopes"]  # numpy float64 is taken in q's dtype
    if "table" in c:
        t = rng.standard_normal((H, c["table"]))
        ref["table"], ref["max_distance"] = t, c["max_distance"]
        kw.update(position="relative", relative_max_distance=c["max_distance"])
        kw["relative_table"] = grads["table"] = mg.tensor(t, dtype=dtype, requires_grad=True)
    if "cu_q" in c:
        ref["cu_q"], ref["cu_k"] = c["cu_q"], c["cu_k"]
        kw["cu_seqlens_q"], kw["cu_seqlens_k"] = np.array(c["cu_q"]), np.array(c["cu_k"], np.int32)
    if c.get("valid"):
        lengths = np.array([Nk, Nk - 4])
        ref["valid"] = np.arange(Nk)[None, :] < lengths[:, None]
        kw["key_lengths"] = lengths
    return x, ref, kw, grads


def assert_close(got, want, dtype, what):
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(CASES))
def test_option_values_and_grads(case, kind, dtype):
    x, ref, kw, grads = make_inputs(case, getattr(mg, dtype), seed=list(CASES).index(case))
    top_k = None
    if kind == "topk":
        top_k = 7 if case in ("bias_full", "gqa", "alibi_given_nq_ne_nk") else 64  # 64 >= Nk: all visible keys
        kw["top_k"] = top_k
    want = reference(x["q"], x["k"], x["v"], x["dO"], top_k=top_k, **ref)
    q, k, v = (mg.tensor(x[n], dtype=getattr(mg, dtype), requires_grad=True) for n in "qkv")

    def forward():
        r = mg.functional.attention(q, k, v, kind=kind, q_chunk=4, k_chunk=3, return_lse=True, **kw)
        (r.out * mg.tensor(x["dO"], dtype=getattr(mg, dtype))).sum().backward()
        return r

    r = run(kind, forward)
    assert_close(r.out.detach().numpy(), want["out"], dtype, "out")
    for name, t in zip("qkv", (q, k, v)):
        assert_close(t.grad.numpy(), want["d" + name], dtype, "d" + name)
    if "bias" in grads:
        assert_close(grads["bias"].grad.numpy(), want["dbias"], dtype, "dbias")
    if "table" in grads:
        assert_close(grads["table"].grad.numpy(), want["dtable"], dtype, "dtable")
    check_lse(r.lse.numpy(), want["lse"], kind, dtype)


def check_lse(got, want, kind, dtype):
    """lse, +inf for a row with no visible key (autograd/attention.h), in every kind."""
    assert_close(got, want, dtype, "lse")


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_float64_bias_table_gqa(kind):
    """Central differences of sum(out * dO) against backward for q, k, v, bias and the relative table
    (float64): the analytic formulas of the reference are checked too."""
    rng = np.random.default_rng(7)
    B, H, Hkv, Nq, Nk, D = 1, 4, 2, 5, 6, 3
    arrays = dict(q=rng.standard_normal((B, H, Nq, D)), k=rng.standard_normal((B, Hkv, Nk, D)),
                  v=rng.standard_normal((B, Hkv, Nk, D)), bias=rng.standard_normal((1, H, 1, Nk)),
                  table=rng.standard_normal((H, 6)))
    dO = rng.standard_normal((B, H, Nq, D))

    def loss(a, grad=False):
        t = {n: mg.tensor(a[n], dtype=mg.float64, requires_grad=grad) for n in a}
        out = mg.functional.attention(t["q"], t["k"], t["v"], kind=kind, causal=True, window=(3, -1), bias=t["bias"],
                                      position="relative", relative_table=t["table"], relative_max_distance=5,
                                      q_chunk=2, k_chunk=4)
        value = (out * mg.tensor(dO)).sum()
        if grad:
            value.backward()
        return value.item(), t

    _, t = run(kind, lambda: loss(arrays, grad=True))
    eps = 1e-6
    for name, a in arrays.items():
        fd = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = {n: x.copy() for n, x in arrays.items()}
            minus = {n: x.copy() for n, x in arrays.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd[idx] = (loss(plus)[0] - loss(minus)[0]) / (2 * eps)
        np.testing.assert_allclose(t[name].grad.numpy(), fd, rtol=1e-6, atol=1e-7, err_msg=name)


# ---- NaN rules (autograd/attention.h): a NaN reaches the rows that see it, and only those ----

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["window", "attn_mask", "varlen"])
def test_nan_in_a_key_reaches_only_the_rows_that_see_it(kind, option):
    rng = np.random.default_rng(12)
    B, H, N, D = (1 if option == "varlen" else 2), 2, 9, 4
    q, k, v, dO = (rng.standard_normal((B, H, N, D)) for _ in range(4))
    k[0, 0, 5] = np.nan
    ref, kw = {}, {}
    if option == "window":  # key 5 is seen by queries 4, 5 and 6 of (b 0, h 0)
        ref["window"] = kw["window"] = (1, 1)
    elif option == "attn_mask":  # no query sees key 5: everything stays finite
        mask = rng.random((N, N)) > 0.3
        mask[:, 5] = False
        mask[:, 0] = True
        ref["mask"] = kw["attn_mask"] = mask
    else:  # key 5 is in the second of two packed sequences: its queries 4..8 see it
        ref["cu_q"], ref["cu_k"] = [0, 4, 9], [0, 4, 9]
        kw["cu_seqlens_q"] = kw["cu_seqlens_k"] = np.array([0, 4, 9])
    want = reference(q, k, v, dO, **ref)
    k_clean = np.where(np.isnan(k), 0, k)  # what the NaN key is where it is masked: nothing
    want_grads = reference(q, k_clean, v, dO, **ref)
    qt, kt, vt = (mg.tensor(a, requires_grad=True) for a in (q, k, v))

    def forward():
        out = mg.functional.attention(qt, kt, vt, kind=kind, top_k=N, q_chunk=2, k_chunk=3, **kw)
        (out * mg.tensor(dO)).sum().backward()
        return out.detach().numpy()

    out = run(kind, forward)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want["out"]))
    np.testing.assert_allclose(out, want["out"], rtol=1e-9, atol=1e-10)  # NaN where the reference has NaN
    assert np.isnan(out).any() == (option != "attn_mask")
    if option == "attn_mask":  # the hidden NaN key carries nothing, to the gradients either
        for name, t in zip("qkv", (qt, kt, vt)):
            np.testing.assert_allclose(t.grad.numpy(), want_grads["d" + name], rtol=1e-9, atol=1e-10,
                                       err_msg=name)
        np.testing.assert_array_equal(kt.grad.numpy()[0, 0, 5], 0)


# ---- optional outputs ----

@pytest.mark.parametrize("kind", KINDS)
def test_outputs_namedtuple(kind):
    x, ref, kw, _ = make_inputs("everything", mg.float64, seed=3)
    top_k = 5 if kind == "topk" else None
    if top_k:
        kw["top_k"] = top_k
    want = reference(x["q"], x["k"], x["v"], x["dO"], top_k=top_k, **ref)
    r = run(kind, lambda: mg.functional.attention(x["q"], x["k"], x["v"], kind=kind, return_lse=True,
                                                  return_probs=True, **kw))
    assert r._fields == ("out", "lse", "probs")
    out, lse, probs = r  # unpacks as a tuple
    np.testing.assert_allclose(out.detach().numpy(), want["out"], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(lse.detach().numpy(), want["lse"], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(probs.detach().numpy(), want["P"], rtol=1e-9, atol=1e-10)
    only = run(kind, lambda: mg.functional.attention(x["q"], x["k"], x["v"], kind=kind, return_probs=True, **kw))
    assert only._fields == ("out", "probs")
    plain = run(kind, lambda: mg.functional.attention(x["q"], x["k"], x["v"], kind=kind, **kw))
    assert isinstance(plain, mg.Tensor)


def test_topk_outputs():
    rng = np.random.default_rng(11)
    q, k, v = rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 9, 4)), rng.standard_normal((2, 3, 9, 4))
    r = mg.functional.attention(q, k, v, kind="topk", top_k=3, causal=True, return_topk=True, return_probs=True)
    assert r._fields == ("out", "probs", "topk_indices", "topk_weights")
    idx, w, probs = r.topk_indices.numpy(), r.topk_weights.numpy(), r.probs.numpy()
    assert idx.shape == w.shape == (2, 3, 6, 3) and r.topk_indices.dtype == mg.int32
    dense = np.zeros_like(probs)
    for b, h, i, slot in np.ndindex(idx.shape):
        if idx[b, h, i, slot] >= 0:
            dense[b, h, i, idx[b, h, i, slot]] = w[b, h, i, slot]
        else:
            assert w[b, h, i, slot] == 0
    np.testing.assert_allclose(dense, probs, rtol=1e-12)
    want = reference(q, k, v, np.zeros((2, 3, 6, 4)), causal=True, top_k=3)
    np.testing.assert_allclose(probs, want["P"], rtol=1e-9, atol=1e-12)


# ---- dropout ----

def dropout_call(kind, q, k, v, seed, p=0.3, **kw):
    return mg.functional.attention(q, k, v, kind=kind, dropout_p=p, generator=mg.Generator(seed), **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_pattern_is_the_rule(kind):
    """With v = identity (Dv = Nk), out = P * keep / (1 - p): each entry is 0 or P / (1 - p), and
    about a fraction 1 - p of them is kept."""
    rng = np.random.default_rng(5)
    B, H, N, p = 2, 2, 32, 0.3
    q, k = rng.standard_normal((B, H, N, 8)), rng.standard_normal((B, H, N, 8))
    v = np.broadcast_to(np.eye(N), (B, H, N, N)).copy()
    r = run(kind, lambda: dropout_call(kind, q, k, v, seed=42, p=p, top_k=N, return_probs=True))
    out, P = r.out.detach().numpy(), r.probs.numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], P[kept] / (1 - p), rtol=1e-12)
    assert abs(kept.mean() - (1 - p)) < 0.04, kept.mean()
    # The probabilities are before dropout: they still sum to one.
    np.testing.assert_allclose(P.sum(-1), 1, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_deterministic_with_a_seed(kind):
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((1, 2, 9, 4)) for _ in range(3))
    a = run(kind, lambda: dropout_call(kind, q, k, v, seed=1)).detach().numpy()
    b = dropout_call(kind, q, k, v, seed=1).detach().numpy()
    c = dropout_call(kind, q, k, v, seed=2).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # The default generator: manual_seed makes the pattern repeat; successive calls differ.
    mg.manual_seed(123)
    d1 = mg.functional.attention(q, k, v, kind=kind, dropout_p=0.5).detach().numpy()
    d2 = mg.functional.attention(q, k, v, kind=kind, dropout_p=0.5).detach().numpy()
    mg.manual_seed(123)
    np.testing.assert_array_equal(mg.functional.attention(q, k, v, kind=kind, dropout_p=0.5).detach().numpy(), d1)
    assert not np.array_equal(d1, d2)
    # dropout_p = 0 is no dropout.
    np.testing.assert_array_equal(dropout_call(kind, q, k, v, seed=1, p=0.0).detach().numpy(),
                                  mg.functional.attention(q, k, v, kind=kind).detach().numpy())


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_values_and_grads_match_vanilla_and_reference(kind):
    """The same generator state gives the same keep pattern in every kind; the reference takes the
    pattern from vanilla's output with v = identity, then checks values and gradients."""
    rng = np.random.default_rng(8)
    B, H, Hkv, Nq, Nk, D, p = 2, 4, 2, 7, 10, 5, 0.25
    x = dict(q=rng.standard_normal((B, H, Nq, D)), k=rng.standard_normal((B, Hkv, Nk, D)),
             v=rng.standard_normal((B, Hkv, Nk, D)), dO=rng.standard_normal((B, H, Nq, D)))
    eye = np.broadcast_to(np.eye(Nk), (B, Hkv, Nk, Nk)).copy()
    r = dropout_call("vanilla", x["q"], x["k"], eye, seed=9, p=p, causal=True, return_probs=True)
    P, out = r.probs.numpy(), r.out.numpy()
    keep = np.where(P > 0, out / np.where(P > 0, P, 1), 0)
    assert np.all(np.isclose(keep, 0) | np.isclose(keep, 1 / (1 - p)))
    want = reference(x["q"], x["k"], x["v"], x["dO"], causal=True, keep=keep)
    q, k, v = (mg.tensor(x[n], requires_grad=True) for n in "qkv")

    def forward():
        out = dropout_call(kind, q, k, v, seed=9, p=p, causal=True, top_k=Nk, q_chunk=3, k_chunk=4)
        (out * mg.tensor(x["dO"])).sum().backward()
        return out

    out = run(kind, forward)
    np.testing.assert_allclose(out.detach().numpy(), want["out"], rtol=1e-9, atol=1e-10)
    for name, t in zip("qkv", (q, k, v)):
        np.testing.assert_allclose(t.grad.numpy(), want["d" + name], rtol=1e-9, atol=1e-10, err_msg=name)


# ---- bad input ----

ERRORS = [
    (dict(window=(1, 2, 3)), "window must be (left, right)"),
    (dict(window="ab"), "window must be (left, right)"),
    (dict(window=(1.5, 2)), "window must be (left, right)"),
    (dict(window=3), "window must be (left, right)"),
    (dict(window=(-2, 1)), "window bounds must be >= 0, or -1"),
    (dict(attn_mask=np.zeros((4, 5))), "attn_mask must be bool"),
    (dict(attn_mask=np.ones((3, 4, 5), bool)), "attn_mask must broadcast to [B, H, Nq, Nk]"),
    (dict(bias=np.zeros((4, 6))), "bias must broadcast to [B, H, Nq, Nk]"),
    (dict(position="rope"), "unknown position bias 'rope'"),
    (dict(alibi_slopes=np.ones(2)), "alibi_slopes given but position is none"),
    (dict(position="alibi", alibi_slopes=np.ones(3)), "alibi_slopes must be float64 [H] = [2]"),
    (dict(position="relative"), "position relative needs relative_table"),
    (dict(position="relative", relative_table=np.zeros((2, 8)), relative_max_distance=2),
     "relative_max_distance must exceed"),
    (dict(cu_seqlens_q=np.array([0, 4])), "give cu_seqlens_q and cu_seqlens_k together"),
    (dict(cu_seqlens_q=np.array([0, 3]), cu_seqlens_k=np.array([0, 5])), "cu_seqlens_q must run from 0 to 4"),
    (dict(dropout_p=1.5), "dropout_p must be in [0, 1]"),
    (dict(return_topk=True), "topk_indices and topk_weights come from the topk kind only"),
]


@pytest.mark.parametrize("kw,message", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_options_are_clear_errors(kw, message):
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((1, 2, 5, 3)), rng.standard_normal((1, 2, 5, 3))
    with pytest.raises(ValueError, match=r"\[attention\].*" + __import__("re").escape(message)):
        mg.functional.attention(q, k, v, kind="vanilla", **kw)


def test_gqa_heads_must_divide():
    q, k = np.ones((1, 3, 4, 2)), np.ones((1, 2, 4, 2))
    with pytest.raises(ValueError, match="must be a multiple of the key/value heads"):
        mg.functional.attention(q, k, k, kind="vanilla")


def test_numpy_float_options_take_q_dtype():
    """numpy float64 bias / slopes / table with float32 q are converted (as binary ops convert arrays);
    a memgrad tensor of another dtype is an error naming the option."""
    rng = np.random.default_rng(1)
    q = mg.tensor(rng.standard_normal((1, 2, 4, 3)), dtype=mg.float32)
    out = mg.functional.attention(q, q, q, kind="vanilla", bias=rng.standard_normal((4, 4)), position="relative",
                                  relative_table=rng.standard_normal((2, 8)), relative_max_distance=8)
    assert out.dtype == mg.float32
    with pytest.raises(ValueError, match="bias must have q's dtype float32"):
        mg.functional.attention(q, q, q, kind="vanilla", bias=mg.tensor(np.zeros((4, 4))))
