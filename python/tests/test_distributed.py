"""memgrad.distributed: a world of one in this process, and two ranks under mpirun."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import memgrad as mg
import memgrad.distributed as dist


def test_world_of_one_is_the_identity():
    assert dist.world_size() == 1 and dist.rank() == 0 and dist.local_rank() == 0
    t = mg.tensor(np.arange(6.0).reshape(2, 3))
    dist.all_reduce(t, op="mean")
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))
    dist.broadcast(t, src=0)
    g = dist.all_gather(t)
    assert g.shape == (1, 2, 3)
    np.testing.assert_array_equal(dist.reduce_scatter(t).numpy(), t.numpy())
    dist.barrier()


def test_errors_name_the_op():
    t = mg.tensor(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[dist.all_reduce\] mean needs a float"):
        dist.all_reduce(t, op="mean")
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        dist.all_reduce(t, op="avg")
    with pytest.raises(ValueError, match=r"\[dist.broadcast\] root 3"):
        dist.broadcast(t, src=3)
    with pytest.raises(ValueError, match=r"\[dist.send\] destination 0 is this process"):
        dist.send(t, dst=0)


@pytest.mark.skipif(not dist.is_available() or shutil.which("mpirun") is None,
                    reason="this build has no MPI, or mpirun is missing")
def test_two_ranks_under_mpirun():
    worker = os.path.join(os.path.dirname(__file__), "workers", "dist_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", MEMGRAD_DIST_TIMEOUT="60")
    cmd = ["mpirun", "-np", "2", "--oversubscribe", "--allow-run-as-root", sys.executable, worker]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rank 0: OK" in res.stdout and "rank 1: OK" in res.stdout, res.stdout
