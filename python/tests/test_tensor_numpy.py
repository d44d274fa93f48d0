"""Tensors and numpy: round trips, zero-copy sharing, views, keep-alive, dtypes, printing."""
import gc

import numpy as np
import pytest

import memgrad as mg

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def sample(dtype, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-100, 100, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_shares_memory(dtype):
    a = sample(dtype)
    t = mg.as_tensor(a)
    assert t.shape == a.shape and t.dtype.numpy == a.dtype
    assert t._external_storage  # no copy on the way in
    b = t.numpy()
    assert np.shares_memory(a, b)
    np.testing.assert_array_equal(b, a)
    assert np.shares_memory(mg.from_numpy(a).numpy(), a)


def test_writes_are_visible_both_ways():
    a = np.zeros((2, 3), np.float32)
    t = mg.from_numpy(a)
    a[1, 2] = 5
    assert t[1, 2].item() == 5
    t[0] = 7.0
    assert (a[0] == 7).all()
    t.numpy()[1, 0] = -1
    assert a[1, 0] == -1


@pytest.mark.parametrize("make", [
    lambda a: a.T,
    lambda a: a[::2],
    lambda a: a[:, 1::3],
    lambda a: a[1:, ::2].T,
    lambda a: np.broadcast_to(a[:1], a.shape).copy()[:, ::2],
])
def test_non_contiguous_arrays_are_views(make):
    base = sample(np.float64, (6, 8))
    a = make(base)
    t = mg.from_numpy(a)
    assert t.shape == a.shape
    assert t.strides == tuple(s // a.itemsize for s in a.strides)
    np.testing.assert_array_equal(t.numpy(), a)
    assert np.shares_memory(t.numpy(), a)
    np.testing.assert_array_equal(np.asarray(t.contiguous()), a)  # contiguous() copies a strided view
    np.testing.assert_array_equal(np.asarray(t * 1.0), a)  # and ops read strided views


@pytest.mark.parametrize("make", [
    lambda a: a[::-1],                            # negative stride
    lambda a: np.broadcast_to(a[:1], a.shape),    # read-only
    lambda a: a.astype(">f8"),                    # non-native byte order
])
def test_layouts_memgrad_cannot_share_are_copied(make):
    a = make(sample(np.float64, (4, 5)))
    t, copied = mg._C._from_numpy_copied(a)
    assert copied
    np.testing.assert_array_equal(t.numpy(), a)
    assert not np.shares_memory(t.numpy(), a)


def test_unaligned_array_is_copied():
    raw = np.zeros(8 * 5 + 1, np.uint8)
    a = raw[1:].view(np.float64)
    assert not a.flags.aligned
    t, copied = mg._C._from_numpy_copied(a)
    assert copied and t.shape == (5,)


def test_tensor_and_array_keep_storage_alive():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = mg.from_numpy(a)
    del a
    gc.collect()
    assert t.sum().item() == 66  # the tensor keeps the array alive
    view = t[1:, ::2].numpy()
    del t
    gc.collect()
    np.testing.assert_array_equal(view, [[4, 6], [8, 10]])  # the array keeps the storage alive
    base = mg.arange(10, dtype=mg.float64)
    arr = base.numpy()
    del base
    gc.collect()
    assert arr.sum() == 45


def test_memgrad_views_to_numpy_have_byte_strides():
    t = mg.arange(24, dtype=mg.float32).reshape(2, 3, 4)
    v = t.permute(2, 0, 1)[1:, :, ::2]
    a = v.numpy()
    assert a.strides == tuple(s * 4 for s in v.strides)
    np.testing.assert_array_equal(a, np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(2, 0, 1)[1:, :, ::2])
    assert np.shares_memory(a, t.numpy())


def test_numpy_arrays_of_tensors_track_in_place_changes():
    t = mg.zeros(3)
    a = np.asarray(t)
    t.fill_(2.5)
    assert (a == 2.5).all()


def test_tensor_copies_and_as_tensor_does_not():
    a = np.ones(4, np.float32)
    c = mg.tensor(a)
    s = mg.as_tensor(a)
    a[0] = 9
    assert c[0].item() == 1 and s[0].item() == 9
    assert not c._external_storage


def test_lists_scalars_and_dtype_conversion():
    assert mg.tensor([1.5, 2]).dtype == mg.float32  # Python floats default to float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.tensor([True, False]).dtype == mg.bool
    assert mg.tensor(3.0).shape == () and mg.tensor(3.0).item() == 3.0
    assert mg.tensor([[1, 2], [3, 4]], dtype="float64").dtype == mg.float64
    assert mg.as_tensor(np.zeros(3, np.float16)).dtype == mg.float32
    assert mg.as_tensor(np.arange(3, dtype=np.uint8)).dtype == mg.int64
    assert mg.as_tensor(np.float64(2.5)).dtype == mg.float64
    assert mg.zeros(2, dtype=np.float64).dtype == mg.float64
    assert mg.zeros(2, dtype=float).dtype == mg.float32
    assert mg.tensor(np.arange(6).reshape(2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]
    x = mg.tensor([1.0, 2.0])
    assert x.to(mg.float64).dtype == mg.float64 and x.to("int32").dtype == mg.int32
    assert x.to("cpu") is not None and x.double().dtype == mg.float64


def test_metadata_and_repr():
    t = mg.arange(6, dtype=mg.float32).reshape(2, 3)
    assert t.shape == (2, 3) and t.strides == (3, 1) and t.ndim == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(-1) == 3 and t.stride(0) == 3 and len(t) == 2
    assert t.dtype == mg.float32 and str(t.device) == "cpu" and t.device == "cpu"
    assert t.T.shape == (3, 2) and not t.T.is_contiguous()
    r = repr(t)
    assert "[[0, 1, 2]," in r and "shape=[2, 3]" in r and "dtype=float32" in r and "device=cpu" in r
    assert "requires_grad" in repr(mg.ones(2, requires_grad=True))
    assert repr(mg.float64) == "memgrad.float64"
    assert [row.tolist() for row in t] == [[0, 1, 2], [3, 4, 5]]
    assert float(t[1, 2]) == 5.0 and int(t[0, 1]) == 1 and bool(t[0, 1])


def test_item_types():
    assert isinstance(mg.tensor(2.5).item(), float)
    assert isinstance(mg.tensor(3).item(), int)
    assert mg.tensor(True).item() is True
    # int() and float() give exactly those types, a bool tensor's int() included
    assert type(int(mg.tensor(True))) is int and int(mg.tensor(True)) == 1
    assert type(int(mg.tensor(2.7))) is int and int(mg.tensor(2.7)) == 2 and int(mg.tensor(2**62)) == 2**62
    assert type(float(mg.tensor(3))) is float


def test_empty_arrays():
    a = np.zeros((0, 3), np.float32)
    t = mg.from_numpy(a)
    assert t.shape == (0, 3) and t.numpy().shape == (0, 3)
    assert mg.zeros(0, 4).sum().item() == 0


def test_numpy_of_a_tensor_that_requires_grad():
    w = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.numpy()
    assert np.shares_memory(w.detach().numpy(), w.numpy(force=True))
