"""Autograd from Python: grad mode, anomaly mode, backward, checkpoint and gradcheck."""
import functools

from . import _C

_ag = _C.autograd

Node = _ag.Node
GradcheckResult = _ag.GradcheckResult
is_grad_enabled = _ag.is_grad_enabled
is_anomaly_enabled = _ag.is_anomaly_enabled


class _GradMode:
    """Sets grad mode inside a ``with`` block (or a decorated function), restoring it after."""

    _mode = None

    def __init__(self):
        self._prev = []

    def __enter__(self):
        self._prev.append(_ag.is_grad_enabled())
        _ag.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _ag.set_grad_enabled(self._prev.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Ops inside record no graph: ``with memgrad.no_grad(): ...`` or ``@memgrad.no_grad()``.

    Grad mode is per thread, as in C++ (memgrad::NoGradGuard)."""

    _mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a no_grad block."""

    _mode = True


class set_grad_enabled:
    """``set_grad_enabled(False)`` switches grad mode now; used with ``with``, it restores the
    previous mode at the end of the block."""

    def __init__(self, mode):
        self._prev = _ag.is_grad_enabled()
        _ag.set_grad_enabled(bool(mode))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _ag.set_grad_enabled(self._prev)
        return False


class detect_anomaly:
    """Anomaly mode in a ``with`` block: the first op whose forward or backward produces NaN or
    Inf raises ValueError naming it. Slow; for debugging."""

    def __init__(self, mode=True):
        self._mode = bool(mode)
        self._prev = []

    def __enter__(self):
        self._prev.append(_ag.is_anomaly_enabled())
        _ag.set_anomaly_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _ag.set_anomaly_enabled(self._prev.pop())
        return False


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Backpropagates from one tensor or several at once (the GIL is released meanwhile)."""
    _ag.backward(tensors, grad_tensors, retain_graph)


def checkpoint(fn, *inputs, params=None):
    """Runs ``fn(*inputs)`` without recording its graph and recomputes it during backward.

    Only the inputs are kept for backward, not fn's intermediate tensors: memory traded for
    recomputation. fn is any Python callable taking tensors and returning a Tensor or a sequence
    of Tensors; random ops inside it draw the same numbers when re-run. ``params`` lists tensors
    fn uses without taking them as inputs (weights), so that the outputs require grad even when
    no input does; when fn is a memgrad.nn.Module or a method of one, its parameters are used.
    Non-tensor arguments: bind them with a closure or functools.partial.
    """
    if params is None:
        from .nn import Module

        owner = fn if isinstance(fn, Module) else getattr(fn, "__self__", None)
        params = owner.parameters() if isinstance(owner, Module) else []
    tensors = [_C.as_tensor(x) for x in inputs]
    outs, single = _ag._checkpoint(fn, tensors, list(params))
    return outs[0] if single else tuple(outs)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False):
    """Compares backward with central finite differences for every float64 input that requires
    grad. fn(*inputs) returns a Tensor or a sequence of them. Returns a GradcheckResult (truthy
    when it passes; .message names the first mismatch), or raises ValueError when
    raise_exception and it fails."""
    tensors = [_C.as_tensor(x) for x in inputs]
    result = _ag._gradcheck(fn, tensors, eps, atol, rtol)
    if raise_exception and not result.ok:
        raise ValueError(result.message)
    return result
