"""In-place writes after use: backward never computes with values changed after the forward pass.

Writes through memgrad (``+=``, ``copy_``, ``fill_``, ``zero_``, indexed assignment, optimizer steps)
bump the storage's version and backward refuses the stale graph; numpy arrays used as operands are
copied when an op saves them, so writing into the array later cannot change the gradients.
"""
import numpy as np
import pytest

import memgrad as mg


def test_numpy_operand_written_after_use_does_not_change_the_gradient():
    # the example: y = (w * x).sum(); x += 100; y.backward()
    w = mg.randn(3, requires_grad=True)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = (w * x).sum()
    x += 100
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0, 3.0])


def test_from_numpy_tensor_written_through_the_array_after_use():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    t = mg.from_numpy(a)  # shares a's memory
    w = mg.randn(3, requires_grad=True)
    y = (w * t).sum()
    a[:] = 7
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0, 3.0])
    assert t.tolist() == [7.0, 7.0, 7.0]  # the memory is still shared


@pytest.mark.parametrize("write", [
    lambda x: x.__iadd__(100),
    lambda x: x.copy_(mg.zeros(3)),
    lambda x: x.fill_(1.5),
    lambda x: x.zero_(),
    lambda x: x.__setitem__(slice(0, 2), 4.0),
    lambda x: x[1:].__imul__(2),
])
def test_memgrad_writes_after_use_make_backward_fail(write):
    w = mg.randn(3, requires_grad=True)
    x = mg.randn(3)
    y = (w * x).sum()
    write(x)
    with pytest.raises(ValueError, match=r"backward of mul.*input 1.*modified by an in-place operation"):
        y.backward()


def test_optimizer_step_between_forward_and_backward_fails():
    lin = mg.nn.Linear(4, 2)
    x = mg.randn(3, 4, requires_grad=True)
    loss = lin(x).sum()
    lin(x).sum().backward()
    mg.optim.SGD(lin.parameters(), lr=0.1).step()
    with pytest.raises(ValueError, match="modified by an in-place operation"):
        loss.backward()


def test_mean_pooling_without_a_mask_passes_gradients():
    x = mg.randn(2, 3, 4, requires_grad=True)
    y = mg.nn.pool(x, "mean")
    assert y.requires_grad
    (y * mg.randn(2, 4)).sum().backward()
    assert x.grad is not None and np.abs(x.grad.numpy()).max() > 0


def test_in_place_write_refusals():
    w = mg.randn(3, requires_grad=True)
    buf = mg.zeros(3)
    with pytest.raises(ValueError, match="source.*requires grad"):
        buf.copy_(w)
    e = mg.zeros(1, 3).expand(4, 3)
    with pytest.raises(ValueError, match="expanded view"):
        e.fill_(1)
