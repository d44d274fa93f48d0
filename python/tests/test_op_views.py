"""Every numpy layout the bindings accept gives what the C-contiguous array gives.

For a representative op of each family (elementwise, reduction, matmul, softmax, layer_norm, index
and gather, cross_entropy, attention), each argument in turn is passed in every layout -- C and
Fortran order, a strided slice, negative strides, zero strides (np.broadcast_to, and a writeable
as_strided view), byte-swapped, unaligned, read-only -- with the same values; 0-d and empty
arrays too. Arguments that ops take as tensors only go through mg.as_tensor (which shares the
array's memory where memgrad can), the rest are passed as arrays. Values and, for float inputs,
gradients must equal those of the contiguous array. The C++ op table (tests/op_table.h) checks
the same for memgrad's own views.
"""
import numpy as np
import pytest

import memgrad as mg

rng = np.random.default_rng(7)


def values(shape, dtype=np.float64, high=None):
    """Random values as an array (0-d included, never a numpy scalar)."""
    if high is not None:
        return np.asarray(rng.integers(0, high, shape), dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) > 0.4)
    return np.asarray(rng.standard_normal(shape), dtype)


def contiguous(a):
    """A C-contiguous copy (np.ascontiguousarray would turn a 0-d array into shape (1,))."""
    return np.array(a, order="C", copy=True)


def _strided_slice(a):
    big = np.zeros(tuple(2 * n + 1 for n in a.shape), a.dtype)
    sl = tuple(slice(1, None, 2) for _ in a.shape)
    big[sl] = a
    return big[sl]


def _negative(a):
    return np.flip(np.flip(a).copy())


def _unaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)
    u = np.ndarray(a.shape, a.dtype, buffer=raw, offset=1)
    u[...] = a
    return u


def _read_only(a):
    r = np.array(a, copy=True)
    r.flags.writeable = False
    return r


def _byte_swapped(a):
    return a.astype(a.dtype.newbyteorder("S"))


def _writeable_zero_strides(a):
    # one row repeated along dim 0 by a zero stride, writeable (as_strided), unlike broadcast_to
    row = contiguous(a[:1])
    return np.lib.stride_tricks.as_strided(row, a.shape, (0,) + row.strides[1:], writeable=True)


# name -> (applies(a), values a layout holds (zero strides repeat row 0), the layout)
LAYOUTS = {
    "C order": (lambda a: True, lambda a: a, contiguous),
    "Fortran order": (lambda a: a.ndim >= 2, lambda a: a, np.asfortranarray),
    "strided slice": (lambda a: a.ndim >= 1, lambda a: a, _strided_slice),
    "negative strides": (lambda a: a.ndim >= 1, lambda a: a, _negative),
    "zero strides (broadcast_to)": (
        lambda a: a.ndim >= 1 and a.shape[0] > 1,
        lambda a: contiguous(np.broadcast_to(a[:1], a.shape)),
        lambda a: np.broadcast_to(a[:1], a.shape),
    ),
    "zero strides (writeable)": (
        lambda a: a.ndim >= 1 and a.shape[0] > 1,
        lambda a: contiguous(np.broadcast_to(a[:1], a.shape)),
        _writeable_zero_strides,
    ),
    "byte-swapped": (lambda a: a.dtype.itemsize > 1, lambda a: a, _byte_swapped),
    "unaligned": (lambda a: a.dtype.itemsize > 1, lambda a: a, _unaligned),
    "read-only": (lambda a: True, lambda a: a, _read_only),
}


def run(op, args, tensor_args):
    """op's outputs and the gradients of its float tensor arguments, as numpy arrays."""
    ins = []
    for i, a in enumerate(args):
        if i in tensor_args:
            t = mg.as_tensor(a)
            if np.issubdtype(a.dtype, np.floating):
                t.requires_grad = True
            ins.append(t)
        else:
            ins.append(a)
    out = op(*ins)
    outs = out if isinstance(out, tuple) else (out,)
    w = [np.random.default_rng(3).standard_normal(o.shape) for o in outs]
    loss = None
    for o, wk in zip(outs, w):
        if o.requires_grad:
            term = (o * mg.tensor(wk, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = [t.grad.numpy().copy() if isinstance(t, mg.Tensor) and t.requires_grad and t.grad is not None else None
             for t in ins]
    return [o.detach().numpy().copy() for o in outs], grads


def check_layouts(op, args, tensor_args=(), rtol=1e-12):
    """op on each argument in each layout (the others C-contiguous) equals op on contiguous arrays."""
    for i, a in enumerate(args):
        for name, (applies, held, make) in LAYOUTS.items():
            if not applies(a):
                continue
            v = held(a)
            laid = make(v)
            np.testing.assert_array_equal(laid, v)  # the layout holds the same values
            assert mg.as_tensor(laid).dtype == mg.as_tensor(contiguous(v)).dtype, (name, i)
            base = [contiguous(x) for x in args]
            base[i] = contiguous(v)
            want_out, want_grads = run(op, base, tensor_args)
            test = list(base)
            test[i] = laid
            got_out, got_grads = run(op, test, tensor_args)
            for g, w in zip(got_out, want_out):
                assert g.shape == w.shape and g.dtype == w.dtype, (name, i)
                np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=f"{name} on argument {i}")
            for g, w in zip(got_grads, want_grads):
                assert (g is None) == (w is None), (name, i)
                if g is not None:
                    np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=f"gradient, {name} on argument {i}")


SHAPES = {"2-d": (3, 4), "0-d": (), "empty": (0, 4)}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_elementwise(shape):
    b_shape = shape[-1:] if shape else ()
    check_layouts(mg.add, [values(shape), values(b_shape)])
    check_layouts(lambda x, y: mg.maximum(x, y) * mg.exp(x), [values(shape), values(b_shape)], tensor_args=(0,))
    check_layouts(mg.add, [values(shape, np.int32, 9), values(b_shape, np.int32, 9)])
    check_layouts(mg.logical_and, [values(shape, np.bool_), values(b_shape, np.bool_)])


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_reductions(shape):
    check_layouts(lambda x: mg.sum(x, dim=0 if shape else None), [values(shape)], tensor_args=(0,))
    check_layouts(lambda x: mg.mean(x), [values(shape)] if shape != (0, 4) else [values((2, 4))], tensor_args=(0,))
    if shape == (3, 4):
        check_layouts(lambda x: mg.max(x, dim=1), [values(shape)], tensor_args=(0,))
        check_layouts(lambda x: mg.amin(x, dim=0), [values(shape, np.int64, 5)], tensor_args=(0,))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 2)), ((0, 3), (3, 2))],
                         ids=["2-d", "batched", "1-d", "empty"])
def test_matmul(shapes):
    check_layouts(mg.matmul, [values(s) for s in shapes])
    check_layouts(mg.matmul, [values(s, np.float32) for s in shapes], tensor_args=(0, 1), rtol=1e-6)


def test_softmax_and_layer_norm():
    check_layouts(lambda x: mg.softmax(x, dim=-1), [values((3, 5))], tensor_args=(0,))
    check_layouts(lambda x: mg.log_softmax(x, dim=0), [values((3, 5))], tensor_args=(0,))
    check_layouts(mg.layer_norm, [values((2, 3, 5)), values((5,)), values((5,))], tensor_args=(0, 1, 2))


def test_index_ops():
    check_layouts(lambda t, i: mg.index_select(t, 0, i), [values((4, 3)), values((6,), np.int64, 4)], tensor_args=(0,))
    check_layouts(lambda t, i: mg.gather(t, 1, i), [values((3, 4)), values((3, 5), np.int32, 4)], tensor_args=(0,))
    check_layouts(mg.embedding, [values((5, 3)), values((2, 4), np.int64, 5)], tensor_args=(0,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    target = values((6,), np.int64, 4)
    target[1] = -100  # ignored
    check_layouts(lambda x, t: mg.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1),
                  [values((6, 4)), target], tensor_args=(0,))


@pytest.mark.parametrize("kind", ["vanilla", "chunked", "topk"])
def test_attention(kind):
    # attention takes tensors: q, k, v go through mg.as_tensor; the key padding mask is an array
    def attend(q, k, v, mask):
        return mg.nn.functional.attention(q, k, v, kind=kind, key_padding_mask=mask, top_k=3, q_chunk=2, k_chunk=2)

    mask = values((2, 5), np.bool_)
    mask[:, 0] = False  # every row keeps a key
    check_layouts(attend, [values((2, 2, 4, 3)), values((2, 2, 5, 3)), values((2, 2, 5, 2)), mask],
                  tensor_args=(0, 1, 2), rtol=1e-10)
