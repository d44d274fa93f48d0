"""The CUDA backend from Python: device tensors and attention on the GPU against the CPU.
Skipped (with the reason) where memgrad has no GPU."""
import numpy as np
import pytest

import memgrad as mg

pytestmark = pytest.mark.skipif(not mg.cuda_available(), reason="no GPU found (or built without CUDA)")


def test_tensors_round_trip_through_the_gpu():
    a = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    g = mg.tensor(a).to("cuda")
    assert str(g.device) == "cuda:0"
    np.testing.assert_array_equal(g.cpu().numpy(), a)
    assert g.sum().item() == pytest.approx(float(a.sum()), rel=1e-5)
    stats = mg.memory.stats("cuda")
    assert stats["current"] >= a.nbytes and stats["reserved"] >= stats["current"]


@pytest.mark.parametrize("kind", ["vanilla", "chunked", "topk"])
def test_attention_on_the_gpu_equals_the_cpu(kind):
    rng = np.random.default_rng(1)
    q, k, v, dO = (rng.standard_normal((2, 3, 50, 16)).astype(np.float32) for _ in range(4))
    outs, grads = [], []
    for dev in ("cpu", "cuda"):
        t = [mg.tensor(x).to(dev).detach().requires_grad_() for x in (q, k, v)]
        out = mg.functional.attention(*t, kind=kind, causal=True, key_lengths=[50, 31], top_k=8)
        out.backward(mg.tensor(dO).to(dev))
        outs.append(out.detach().cpu().numpy())
        grads.append([x.grad.cpu().numpy() for x in t])
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)
    for g_gpu, g_cpu in zip(grads[1], grads[0]):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-4, atol=1e-5)
