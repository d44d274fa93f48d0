"""Operators with broadcasting and numpy scalars, indexing views, assignment, reductions."""
import operator

import numpy as np
import pytest

import memgrad as mg

rng = np.random.default_rng(0)


def rand(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv])
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), ()), ((1,), (2, 3))])
def test_binary_broadcasting(op, shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1]) + 3
    got = op(mg.tensor(a), mg.tensor(b))
    np.testing.assert_allclose(got.numpy(), op(a, b), rtol=1e-6)


@pytest.mark.parametrize("scalar", [2, 2.5, np.float32(2.5), np.float64(-1.5), np.int64(3), np.int32(2)])
def test_scalars_on_both_sides(scalar):
    a = rand(3, 2)
    t = mg.tensor(a)
    for op in (operator.add, operator.sub, operator.mul, operator.truediv):
        left, right = op(t, scalar), op(scalar, t)
        assert isinstance(left, mg.Tensor) and isinstance(right, mg.Tensor), (op, type(scalar))
        assert left.dtype == mg.float32
        np.testing.assert_allclose(left.numpy(), op(a, np.float32(scalar)), rtol=1e-6)
        np.testing.assert_allclose(right.numpy(), op(np.float32(scalar), a), rtol=1e-6)
    np.testing.assert_allclose((t ** 2).numpy(), a ** 2, rtol=1e-6)
    np.testing.assert_allclose((2.0 ** t).numpy(), 2.0 ** a, rtol=1e-5)


def test_arrays_on_both_sides_take_the_tensor_dtype():
    a, b = rand(2, 3), rng.standard_normal((2, 3))  # float32 tensor, float64 array
    t = mg.tensor(a)
    r = t + b
    assert isinstance(r, mg.Tensor) and r.dtype == mg.float32
    np.testing.assert_allclose((b - t).numpy(), b - a, rtol=1e-5)
    np.testing.assert_allclose((t * [1.0, 2.0, 3.0]).numpy(), a * [1, 2, 3], rtol=1e-6)
    m = rand(3, 4)
    np.testing.assert_allclose((t @ m).numpy(), a @ m, rtol=1e-5)
    np.testing.assert_allclose((m.T @ t.T).numpy(), m.T @ a.T, rtol=1e-5)


def test_int_tensors_promote_with_floats():
    t = mg.tensor([1, 2, 3])
    assert (t * 2).dtype == mg.int64 and (t * 2).tolist() == [2, 4, 6]
    assert (t * 0.5).dtype == mg.float32 and (t * 0.5).tolist() == [0.5, 1.0, 1.5]
    assert (t / 2.0).tolist() == [0.5, 1.0, 1.5]


def test_division_is_true_division_as_in_python_and_pytorch():
    a = mg.tensor([7, -7])  # int64
    for q in (a / 2, mg.div(a, 2), a.div(mg.tensor([2, 2])), a / mg.tensor([2, 2])):
        assert q.dtype == mg.float32
        np.testing.assert_array_equal(q.numpy(), [3.5, -3.5])
    np.testing.assert_allclose((14 / a).numpy(), [2.0, -2.0])
    assert (mg.tensor([1]) / mg.tensor([0])).item() == np.inf
    # integer division toward zero, on request
    t = a.div(2, rounding_mode="trunc")
    assert t.dtype == mg.int64 and t.tolist() == [3, -3]
    with pytest.raises(ValueError, match=r"\[div\] integer division by zero"):
        a.div(0, rounding_mode="trunc")
    with pytest.raises(ValueError, match=r"\[div\] rounding_mode='trunc' divides integer tensors"):
        mg.div(a * 1.0, 2, rounding_mode="trunc")
    with pytest.raises(ValueError, match=r"\[div\] rounding_mode must be None or 'trunc'"):
        mg.div(a, 2, rounding_mode="floor")


def test_comparisons_and_logic():
    a = rand(4)
    t = mg.tensor(a)
    np.testing.assert_array_equal((t > 0).numpy(), a > 0)
    np.testing.assert_array_equal((0 < t).numpy(), 0 < a)
    np.testing.assert_array_equal((t <= 0.1).numpy(), a <= np.float32(0.1))
    np.testing.assert_array_equal((t == t).numpy(), np.ones(4, bool))
    np.testing.assert_array_equal(((t > 0) & (t < 1)).numpy(), (a > 0) & (a < 1))
    np.testing.assert_array_equal((~(t > 0)).numpy(), ~(a > 0))
    assert (t == None) is False  # noqa: E711
    assert t in [t]


def test_unary_and_reductions():
    a = rand(3, 4, 5)
    t = mg.tensor(a)
    np.testing.assert_allclose(t.exp().numpy(), np.exp(a), rtol=1e-5)
    np.testing.assert_allclose(abs(t).numpy(), np.abs(a))
    np.testing.assert_allclose((-t).numpy(), -a)
    np.testing.assert_allclose(t.sum().item(), a.sum(), rtol=1e-5)
    np.testing.assert_allclose(t.sum(dim=1).numpy(), a.sum(1), rtol=1e-5)
    np.testing.assert_allclose(t.mean(dim=(0, 2), keepdim=True).numpy(), a.mean((0, 2), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(t.amax(-1).numpy(), a.max(-1))
    values, indices = t.max(dim=1)
    np.testing.assert_allclose(values.numpy(), a.max(1))
    np.testing.assert_array_equal(indices.numpy(), a.argmax(1))
    assert t.argmax().item() == a.argmax()
    np.testing.assert_allclose(mg.softmax(t, -1).numpy().sum(-1), np.ones((3, 4)), rtol=1e-5)
    np.testing.assert_allclose(mg.where(t > 0, t, 0.0).numpy(), np.where(a > 0, a, 0))
    np.testing.assert_allclose(mg.cat([t, t], dim=1).numpy(), np.concatenate([a, a], 1))
    np.testing.assert_allclose(mg.stack([t, t]).numpy(), np.stack([a, a]))


INDICES = [
    (1,), (-1,), (slice(1, 3),), (slice(None, None, 2),), (slice(-3, None),), (Ellipsis, 1),
    (1, Ellipsis, slice(0, 4, 3)), (None, 0), (slice(None), None, 2), (0, 1, 2), (Ellipsis,),
    (slice(5, 1),), (slice(1, 100, 4), -2), (np.int64(2), slice(None, None, 3)),
]


@pytest.mark.parametrize("idx", INDICES, ids=[repr(i) for i in INDICES])
def test_basic_indexing_matches_numpy_and_returns_views(idx):
    a = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    t = mg.tensor(a)
    v = t[idx]
    np.testing.assert_array_equal(v.numpy(), a[idx])
    if v.numel():
        assert v.shares_memory(t)


def test_index_tensors_gather_rows():
    a = np.arange(12).reshape(4, 3)
    t = mg.tensor(a)
    np.testing.assert_array_equal(t[[3, 0]].numpy(), a[[3, 0]])
    np.testing.assert_array_equal(t[:, np.array([2, 2])].numpy(), a[:, [2, 2]])
    np.testing.assert_array_equal(t[mg.tensor([1])].numpy(), a[[1]])


def test_several_index_tensors_follow_pytorch():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    t = mg.tensor(a)
    # broadcast together and pick elements (not the outer product of rows and columns)
    np.testing.assert_array_equal(t[[0, 1], [2, 0]].numpy(), a[[0, 1], [2, 0]])
    np.testing.assert_array_equal(t[:, [0, 2], [1, 3]].numpy(), a[:, [0, 2], [1, 3]])  # adjacent: in place
    np.testing.assert_array_equal(t[:, [[0], [2]], [1, 3]].numpy(), a[:, [[0], [2]], [1, 3]])  # [2, 2] in place
    np.testing.assert_array_equal(t[[0, 1], :, [1, 3]].numpy(), a[[0, 1], :, [1, 3]])  # apart: first
    np.testing.assert_array_equal(t[..., [-1, 0], [4, -5]].numpy(), a[..., [-1, 0], [4, -5]])  # negatives count back
    # ints select first and do not separate the tensors (PyTorch; numpy would move [2] to the front here)
    assert t[0, :, [1, 2]].shape == (3, 2, 5)
    np.testing.assert_array_equal(t[0, :, [1, 2]].numpy(), a[0][:, [1, 2]])
    assert t[:, [0, 1, 2], 0, [1, 2, 3]].shape == (2, 3)
    np.testing.assert_array_equal(t[:, [0, 1, 2], 0, [1, 2, 3]].numpy(), a[:, :, 0][:, [0, 1, 2], [1, 2, 3]])
    # a 2-d index on one dim
    np.testing.assert_array_equal(t[:, [[2, 1], [0, 0]]].numpy(), a[:, [[2, 1], [0, 0]]])
    # gradients add up over repeated picks
    x = mg.tensor(a, requires_grad=True)
    x[[0, 0, 1], [1, 1, 2], 3].sum().backward()
    expected = np.zeros_like(a)
    np.add.at(expected, ([0, 0, 1], [1, 1, 2], [3, 3, 3]), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    with pytest.raises(IndexError, match="index 2 is out of range for dim 0 of size 2"):
        t[[0, 2], [0, 0]]
    with pytest.raises(ValueError, match=r"\[index\]"):
        t[[0, 1], [0, 1, 2]]  # shapes [2] and [3] do not broadcast


def test_boolean_masks_index_like_pytorch():
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    t = mg.tensor(a)
    m2 = a[:, :, 0] > 5  # [2, 3] over the leading dims
    np.testing.assert_array_equal(t[mg.tensor(m2)].numpy(), a[m2])  # [count, 4]
    np.testing.assert_array_equal(t[t > 10].numpy(), a[a > 10])  # every dim: 1-d
    m1 = np.array([True, False, True, True])
    np.testing.assert_array_equal(t[:, 1:, m1].numpy(), a[:, 1:, m1])
    m = np.array([True, False, True, False])  # with an int tensor: its coordinates [0, 2] pair with [1, 0]
    np.testing.assert_array_equal(t[[1, 0], :, m].numpy(), a[[1, 0], :, m])
    assert t[t > 100].shape == (0,)
    x = mg.tensor(a, requires_grad=True)
    x[x > 20].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (a > 20).astype(np.float64))
    with pytest.raises(IndexError, match=r"boolean mask of shape \[3\] does not match"):
        t[mg.tensor([True, False, True])]
    # t[mask] = value: a scalar, or a value for the trailing dims
    u = mg.tensor(a.copy())
    u[u > 20] = -1.0
    u[mg.tensor([False, True])] = mg.tensor([9.0, 8.0, 7.0, 6.0])
    want = a.copy()
    want[want > 20] = -1
    want[1] = [9, 8, 7, 6]
    np.testing.assert_array_equal(u.numpy(), want)
    with pytest.raises(ValueError, match=r"\[setitem\] a masked assignment takes a value that broadcasts"):
        u[u > 0] = mg.zeros(2, 3, 4)
    u[mg.tensor([True, False])] = mg.ones(1, 3, 4)  # leading 1s: one value for every selected element
    assert u[0].sum().item() == 12
    # a value that requires grad is refused in grad mode (the write would cut its gradient)
    w = mg.tensor([5.0], requires_grad=True)
    v = mg.zeros(3)
    with pytest.raises(ValueError, match=r"\[copy_\] the source .* requires grad"):
        v[mg.tensor([True, False, True])] = w
    with mg.no_grad():
        v[mg.tensor([True, False, True])] = w
    assert v.tolist() == [5.0, 0.0, 5.0]


def test_setitem_writes_through_views():
    t = mg.zeros(3, 4)
    t[1] = 1.0
    t[:, 2] = mg.tensor([5.0, 6.0, 7.0])
    t[2, ::2] = np.array([8, 9])
    t[0, 1:3] = t[1, 0:2]
    expected = np.zeros((3, 4), np.float32)
    expected[1] = 1
    expected[:, 2] = [5, 6, 7]
    expected[2, ::2] = [8, 9]
    expected[0, 1:3] = expected[1, 0:2]
    np.testing.assert_array_equal(t.numpy(), expected)
    v = t[1:, 1:]
    v.zero_()
    assert t[1:, 1:].sum().item() == 0


def test_in_place_on_a_tensor_that_requires_grad():
    w = mg.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="requires grad"):
        w[0] = 2.0
    with mg.no_grad():
        w[0] = 2.0
    assert w.detach().tolist() == [2.0, 1.0, 1.0]


def test_shape_methods():
    t = mg.arange(24, dtype=mg.float32)
    assert t.reshape(2, 3, 4).shape == (2, 3, 4)
    assert t.reshape((4, -1)).shape == (4, 6)
    assert t.view(2, 12).transpose(0, 1).shape == (12, 2)
    assert t.reshape(2, 3, 4).permute(2, 0, 1).shape == (4, 2, 3)
    assert t.reshape(1, 24).expand(3, 24).shape == (3, 24)
    assert t.reshape(2, 1, 12).squeeze(1).shape == (2, 12)
    assert t.unsqueeze(0).shape == (1, 24)
    assert t.reshape(2, 3, 4).flatten(1).shape == (2, 12)
    assert t.narrow(0, 2, 3).tolist() == [2, 3, 4]


def test_split_like_torch():
    x = rand(2, 7, 3)
    t = mg.tensor(x, requires_grad=True)
    parts = mg.split(t, 3, dim=1)  # an int: parts of 3, the last smaller
    assert isinstance(parts, tuple) and [p.shape for p in parts] == [(2, 3, 3), (2, 3, 3), (2, 1, 3)]
    for p, ref in zip(parts, np.split(x, [3, 6], axis=1)):
        np.testing.assert_array_equal(p.detach().numpy(), ref)
    a, b = t.split([2, 5], dim=-2)  # a list: the sizes
    ((a * 2).sum() + (b * 3).sum()).backward()
    want = np.concatenate([np.full((2, 2, 3), 2.0), np.full((2, 5, 3), 3.0)], axis=1)
    np.testing.assert_array_equal(t.grad.numpy(), want)
    with pytest.raises(ValueError, match=r"\[split\] sizes \[2, 2\] sum to 4, but dim 1 of shape \[2, 7, 3\] has 7"):
        mg.split(t, [2, 2], dim=1)
    with pytest.raises(ValueError, match=r"\[split\] split_size must be positive"):
        mg.split(t, 0)
    with pytest.raises(ValueError, match=r"\[split\] dim 3 is out of range"):
        mg.split(t, 2, dim=3)


def test_factories():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.ones((4,)).sum().item() == 4
    assert mg.full((2, 2), 7.0).tolist() == [[7, 7], [7, 7]]
    # full's dtype follows fill_value unless given, as in PyTorch; ints stay exact
    assert mg.full((2,), 7.0).dtype == mg.float32 and mg.full((2,), 7).dtype == mg.int64
    assert mg.full((2,), True).dtype == mg.bool and mg.full((2,), 7, dtype=mg.float64).dtype == mg.float64
    assert mg.full((1,), 2**60 + 1).tolist() == [2**60 + 1]
    assert mg.arange(np.array(0.5), 3).dtype == mg.float32 and mg.arange(np.array(1), 3).dtype == mg.int64
    assert mg.full((2,), np.array(2.5)).dtype == mg.float32 and mg.full((2,), np.array(3)).dtype == mg.int64
    assert mg.full((2,), np.bool_(True)).dtype == mg.bool and mg.full((2,), np.float64(0.5)).tolist() == [0.5, 0.5]
    with pytest.raises(TypeError, match=r"\[full\] fill_value must be a number"):
        mg.full((2,), "x")
    with pytest.raises(ValueError, match=r"\[tensor\] cannot make a tensor from \[\[1\], \[2, 3\]\]"):
        mg.tensor([[1], [2, 3]])
    assert mg.arange(5).dtype == mg.int64 and mg.arange(0, 1, 0.25).tolist() == [0, 0.25, 0.5, 0.75]
    g1, g2 = mg.Generator(3), mg.Generator(3)
    np.testing.assert_array_equal(mg.randn(5, generator=g1).numpy(), mg.randn(5, generator=g2).numpy())
    r = mg.rand(1000, low=2, high=3)
    assert 2 <= r.amin().item() and r.amax().item() < 3
    i = mg.randint(0, 5, (100,))
    assert i.dtype == mg.int64 and 0 <= i.amin().item() and i.amax().item() < 5
    assert mg.zeros_like(r).shape == (1000,) and mg.ones_like(r, dtype=mg.float64).dtype == mg.float64


def test_in_place_operators_keep_identity_and_memory():
    a = np.zeros(3, np.float32)
    t = mg.from_numpy(a)
    alias = t
    t += 1
    t *= mg.tensor([1.0, 2.0, 3.0])
    t -= 0.5
    t /= 2
    assert t is alias
    np.testing.assert_allclose(a, [0.25, 0.75, 1.25])  # written into the array's memory
    v = t[1:]
    v += 10
    np.testing.assert_allclose(a, [0.25, 10.75, 11.25])
    w = mg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="requires grad"):
        w += 1
    with mg.no_grad():
        w -= 0.5 * mg.ones(2)
    assert w.detach().tolist() == [0.5, 0.5] and w.is_leaf


@pytest.mark.parametrize("activation", ["none", "gelu", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear(activation, bias):
    from math import erf, sqrt

    import memgrad.functional as F
    x, w, b = rand(2, 5, 4), rand(3, 4), rand(3)
    pre = x.astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    act = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0),
           "gelu": np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))}[activation]
    got = F.linear(mg.tensor(x), mg.tensor(w), mg.tensor(b) if bias else None, activation=activation)
    assert got.shape == (2, 5, 3)
    np.testing.assert_allclose(got.numpy(), act(pre), rtol=1e-5, atol=1e-6)
    # float64 gradients of every input against finite differences
    args = [mg.tensor(a.astype(np.float64), requires_grad=True) for a in ((x, w, b) if bias else (x, w))]
    fn = (lambda xx, ww, bb: F.linear(xx, ww, bb, activation)) if bias else (lambda xx, ww: F.linear(xx, ww, None, activation))
    assert mg.autograd.gradcheck(fn, args)


def test_fused_linear_errors():
    import memgrad.functional as F
    with pytest.raises(ValueError, match=r"\[linear\] activation must be 'none', 'gelu' or 'relu', got 'tanh'"):
        F.linear(mg.zeros((2, 3)), mg.zeros((4, 3)), None, "tanh")
    with pytest.raises(ValueError, match=r"\[linear\] expected x \[\.\.\., in\] and weight \[out, in\]"):
        F.linear(mg.zeros((2, 3)), mg.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\[linear\] bias must be \[out\] = \[4\]"):
        F.linear(mg.zeros((2, 3)), mg.zeros((4, 3)), mg.zeros(3))
