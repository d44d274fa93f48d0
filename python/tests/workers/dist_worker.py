"""Run by test_distributed.py under `mpirun -np 2`: each rank checks the collectives against values
it computes itself (every rank's input is a known function of its rank), then prints OK."""
import sys

import numpy as np

import memgrad as mg
import memgrad.distributed as dist


def values(r, n, offset=0):
    i = np.arange(offset, offset + n, dtype=np.float64)
    return np.round(64 * np.sin(0.37 * i + 1.3 * r)) / 8 + r


def make_net(seed):
    g = mg.Generator(seed)
    return mg.nn.Sequential(mg.nn.Linear(6, 16, generator=g), mg.nn.ReLU(), mg.nn.Linear(16, 3, generator=g))


def check_data_parallel(r, P):
    """DataParallel on two shards of 4 equals one process on the 8: losses and parameters."""
    X = mg.tensor((values(7, 48) / 8).reshape(8, 6).astype(np.float32))
    Y = mg.tensor(np.array([(5 * i + 1) % 3 for i in range(8)], dtype=np.int64))
    Xr, Yr = X[4 * r: 4 * r + 4], Y[4 * r: 4 * r + 4]
    ref, mine = make_net(200), make_net(300 + r)  # rank 0's start (seed 300) is broadcast below
    ref.load_state_dict(make_net(300).state_dict())
    dp = dist.DataParallel(mine, bucket_bytes=64)  # several buckets
    assert dp.num_buckets >= 2, dp.num_buckets
    opt_ref = mg.optim.SGD(ref.parameters(), lr=0.2, momentum=0.9)
    opt = mg.optim.SGD(mine.parameters(), lr=0.2, momentum=0.9)
    for _ in range(10):
        opt_ref.zero_grad()
        loss_ref = mg.functional.cross_entropy(ref(X), Y)
        loss_ref.backward()
        opt_ref.step()
        opt.zero_grad()
        loss = mg.functional.cross_entropy(mine(Xr), Yr)
        loss.backward()
        dp.synchronize()
        opt.step()
        g = mg.tensor([float(loss.item())])
        dist.all_reduce(g, op="mean")
        np.testing.assert_allclose(g.numpy()[0], loss_ref.item(), rtol=1e-5)
    assert dp.max_parameter_divergence() == 0
    for (n, a), (_, b) in zip(ref.named_parameters(), mine.named_parameters()):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def main():
    dist.init()
    P, r = dist.world_size(), dist.rank()
    assert P == 2 and dist.backend() == "mpi", (P, dist.backend())
    everyone = np.stack([values(q, 12) for q in range(P)])

    t = mg.tensor(values(r, 12).reshape(3, 4).astype(np.float32))
    dist.all_reduce(t, op="sum")
    np.testing.assert_allclose(t.numpy().ravel(), everyone.sum(0), rtol=1e-6)

    t = mg.tensor(values(r, 12).reshape(3, 4))
    req = dist.all_reduce(t, op="mean", async_op=True)
    req.wait()
    np.testing.assert_allclose(t.numpy().ravel(), everyone.mean(0), rtol=1e-12)

    base = mg.tensor(values(r, 12).reshape(3, 4))
    view = base.transpose(0, 1)[1:3]  # a strided view: only its elements change
    dist.all_reduce(view, op="max")
    expect = values(r, 12).reshape(3, 4)
    expect[:, 1:3] = everyone.max(0).reshape(3, 4)[:, 1:3]
    np.testing.assert_allclose(base.numpy(), expect)

    t = mg.tensor(values(r, 6))
    dist.broadcast(t, src=1)
    np.testing.assert_allclose(t.numpy(), values(1, 6))

    g = dist.all_gather(mg.tensor(values(r, 5)))
    assert g.shape == (P, 5)
    np.testing.assert_allclose(g.numpy(), np.stack([values(q, 5) for q in range(P)]))

    s = dist.reduce_scatter(mg.tensor(values(r, 8).reshape(4, 2)), op="sum")
    full = np.stack([values(q, 8) for q in range(P)]).sum(0).reshape(4, 2)
    np.testing.assert_allclose(s.numpy(), full[2 * r: 2 * r + 2])

    out, inbox = mg.tensor(values(r, 7)), mg.zeros(7, dtype=mg.float64)
    rr = dist.irecv(inbox, src=1 - r, tag=3)
    dist.isend(out, dst=1 - r, tag=3).wait()
    rr.wait()
    np.testing.assert_allclose(inbox.numpy(), values(1 - r, 7))

    check_data_parallel(r, P)

    try:
        dist.send(out, dst=r)
        raise AssertionError("send to itself did not raise")
    except ValueError as e:
        assert "[dist.send] destination" in str(e), e
    dist.barrier()
    print(f"rank {r}: OK", flush=True)


if __name__ == "__main__":
    sys.exit(main())
