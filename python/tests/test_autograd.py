"""Autograd from Python: gradients against finite differences, grad mode, checkpoint, gradcheck."""
import numpy as np
import pytest

import memgrad as mg

rng = np.random.default_rng(1)


def numeric_grad(f, arrays, i, eps=1e-6):
    """Central differences of the scalar f(*arrays) with respect to arrays[i] (float64)."""
    x = arrays[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        hi = f(*arrays)
        x[idx] = old - eps
        lo = f(*arrays)
        x[idx] = old
        g[idx] = (hi - lo) / (2 * eps)
    return g


def check_against_finite_differences(fn, *shapes, positive=False):
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    ts = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward()
    scalar = lambda *xs: fn(*[mg.tensor(x, dtype=mg.float64) for x in xs]).item()  # noqa: E731
    for i, t in enumerate(ts):
        np.testing.assert_allclose(t.grad.numpy(), numeric_grad(scalar, arrays, i), rtol=1e-5, atol=1e-7)


def test_matmul_tanh_sum():
    check_against_finite_differences(lambda a, b: (a @ b).tanh().sum(), (3, 4), (4, 2))


def test_broadcast_arithmetic_and_scalars():
    check_against_finite_differences(lambda a, b: ((a * b + 2.0) / (b * b + 1) - a ** 3).mean(), (2, 3), (3,))


def test_views_and_indexing():
    check_against_finite_differences(lambda a: (a[1:, ::2].T * a[0, :2]).sum() + a[..., None].exp().sum(), (3, 4))


def test_softmax_layer_norm_cross_entropy():
    target = mg.tensor([0, 2, 1])

    def f(x, w, b):
        h = mg.layer_norm(x, w, b)
        return mg.cross_entropy(h.log_softmax(-1) * 2.0, target)

    check_against_finite_differences(f, (3, 5), (5,), (5,))


def test_reductions_and_elementwise():
    check_against_finite_differences(lambda a: a.sqrt().log().sum() + a.amax(1).sum() + a.sigmoid().mean(),
                                     (3, 4), positive=True)


def test_gradcheck_helper():
    a = mg.randn(3, 3, dtype=mg.float64, requires_grad=True)
    assert mg.autograd.gradcheck(lambda x: (x @ x).gelu(), [a])
    bad = mg.autograd.gradcheck(lambda x: x.detach() * x, [a])  # wrong on purpose: detach hides a term
    assert not bad and "input" in bad.message
    with pytest.raises(ValueError):
        mg.autograd.gradcheck(lambda x: x.detach() * x, [a], raise_exception=True)


def test_grad_accumulates_and_attributes():
    w = mg.ones(3, requires_grad=True)
    assert w.is_leaf and w.grad is None and w.grad_fn is None
    y = (w * 2).sum()
    assert not y.is_leaf and y.grad_fn.name
    y.backward(retain_graph=True)
    y.backward()
    assert w.grad.tolist() == [4.0, 4.0, 4.0]
    w.grad = None
    (w * w).sum().backward(mg.tensor(0.5))
    assert w.grad.tolist() == [1.0, 1.0, 1.0]
    assert w.detach().requires_grad is False


def test_backward_of_several_roots():
    a = mg.ones(2, requires_grad=True)
    mg.autograd.backward([(a * 3).sum(), (a * a).sum()])
    assert a.grad.tolist() == [5.0, 5.0]


def test_no_grad_and_friends():
    w = mg.ones(2, requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = w * 2
        with mg.enable_grad():
            assert (w * 2).requires_grad
    assert mg.is_grad_enabled() and not y.requires_grad

    @mg.no_grad()
    def f(x):
        return x * 3

    assert not f(w).requires_grad
    with mg.set_grad_enabled(False):
        assert not (w + 1).requires_grad
    assert (w + 1).requires_grad


def test_requires_grad_errors():
    with pytest.raises(ValueError, match="only float tensors"):
        mg.tensor([1, 2]).requires_grad = True
    y = mg.ones(2, requires_grad=True) * 2
    with pytest.raises(ValueError, match="non-leaf"):
        y.requires_grad = False


def test_checkpoint_python_callable_matches_plain_backward():
    w1 = mg.randn(8, 16, dtype=mg.float64, generator=mg.Generator(0), requires_grad=True)
    w2 = mg.randn(16, 8, dtype=mg.float64, generator=mg.Generator(1), requires_grad=True)
    x = mg.randn(4, 8, dtype=mg.float64, generator=mg.Generator(2), requires_grad=True)
    calls = []

    def block(inp):
        calls.append(1)
        return (inp @ w1).gelu() @ w2

    def grads(use_checkpoint):
        for t in (w1, w2, x):
            t.grad = None
        y = mg.autograd.checkpoint(block, x, params=[w1, w2]) if use_checkpoint else block(x)
        (y * y).sum().backward()
        return [t.grad.numpy().copy() for t in (w1, w2, x)]

    plain = grads(False)
    calls.clear()
    ckpt = grads(True)
    assert len(calls) == 2  # once forward (no graph), once again in backward
    for p, c in zip(plain, ckpt):
        np.testing.assert_allclose(c, p, rtol=1e-12)


def test_checkpoint_of_a_module_finds_its_parameters_and_saves_memory():
    mg.manual_seed(0)
    mlp = mg.nn.Sequential(mg.nn.Linear(64, 512), mg.nn.GELU(), mg.nn.Linear(512, 512), mg.nn.GELU(),
                           mg.nn.Linear(512, 64))
    x = mg.randn(256, 64)

    def peak(use_checkpoint):
        mlp.zero_grad()
        with mg.memory.PeakMeter() as m:
            y = mg.autograd.checkpoint(mlp, x) if use_checkpoint else mlp(x)
            after_forward = mg.memory.stats()["current"] - m.baseline  # what the graph keeps alive
            y.sum().backward()
        return after_forward, [p.grad.numpy().copy() for p in mlp.parameters()]

    plain_mem, plain = peak(False)
    ckpt_mem, ckpt = peak(True)
    for p, c in zip(plain, ckpt):
        np.testing.assert_allclose(c, p, rtol=1e-4, atol=1e-6)
    assert ckpt_mem < plain_mem / 8  # the activations inside were not kept, only the output


def test_checkpoint_multiple_outputs_and_errors_inside():
    a = mg.ones(3, requires_grad=True)
    y, z = mg.autograd.checkpoint(lambda t: (t * 2, t * 3), a)
    (y.sum() + z.sum()).backward()
    assert a.grad.tolist() == [5.0, 5.0, 5.0]
    with pytest.raises(ZeroDivisionError):
        mg.autograd.checkpoint(lambda t: 1 / 0, a)
    with pytest.raises(TypeError, match="must return"):
        mg.autograd.checkpoint(lambda t: 3, a)


def test_anomaly_mode_names_the_op():
    x = mg.tensor([-1.0], requires_grad=True)
    with mg.detect_anomaly():
        with pytest.raises(ValueError, match="sqrt"):
            x.sqrt()


def test_numpy_backed_tensors_released_without_the_gil_and_from_threads():
    """Saved tensors that wrap numpy arrays are freed inside backward (GIL released) and in other
    threads: the storage's owner takes the GIL to drop the array."""
    import threading

    weights = [mg.ones(64, requires_grad=True) for _ in range(4)]  # one per thread: grads accumulate

    def run(w):
        for _ in range(20):
            x = mg.as_tensor(np.random.rand(64).astype(np.float32))  # only the graph keeps it
            y = mg.autograd.checkpoint(lambda t: (t * w).exp(), x, params=[w])
            z = y * mg.as_tensor(np.ones(64, np.float32))
            del x
            z.sum().backward()

    threads = [threading.Thread(target=run, args=(w,)) for w in weights[1:]]
    for t in threads:
        t.start()
    run(weights[0])
    for t in threads:
        t.join()
    for w in weights:
        assert w.grad is not None and np.isfinite(w.grad.numpy()).all()
