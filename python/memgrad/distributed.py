"""Collectives over processes: memgrad::dist (MPI) from Python.

Start the script with mpirun; without it (or in a build without MPI) the world is this one
process and every collective is the identity::

    mpirun -np 2 python train.py

    import memgrad as mg
    import memgrad.distributed as dist
    dist.init()
    t = mg.tensor([1.0, 2.0]) * (dist.rank() + 1)
    dist.all_reduce(t, op="mean")          # in place, on every rank
    parts = dist.all_gather(t)             # [world_size, 2]

Every rank must call the same collectives in the same order with tensors of the same shape and
dtype. No call waits forever: after ``timeout()`` seconds (default 300, or MEMGRAD_DIST_TIMEOUT)
it raises RuntimeError naming the op, and the job is aborted when the process exits.
"""
from . import _C

_d = _C.distributed

is_available = _d.is_available
init = _d.init
is_initialized = _d.is_initialized
finalize = _d.finalize
rank = _d.rank
world_size = _d.world_size
local_rank = _d.local_rank
backend = _d.backend
timeout = _d.timeout
set_timeout = _d.set_timeout
Request = _d.Request
barrier = _d.barrier
broadcast = _d.broadcast
all_reduce = _d.all_reduce
all_gather = _d.all_gather
reduce_scatter = _d.reduce_scatter
send = _d.send
recv = _d.recv
isend = _d.isend
irecv = _d.irecv


def DataParallel(model, bucket_bytes=1 << 20, root=0):
    """Data-parallel training over the ranks (C++ nn::DataParallel): every rank starts from the
    root's parameters and buffers; after each backward, ``dp.synchronize()`` waits for the bucketed
    all-reduces (started during backward) and leaves the mean gradient over the ranks in ``.grad``::

        dp = dist.DataParallel(model)            # a memgrad.nn.Module, or a list of parameters
        loss = F.cross_entropy(model(x_shard), y_shard)   # the mean over this rank's shard
        loss.backward(); dp.synchronize(); opt.step()

    Also ``dp.set_gradient_sync(False)`` for accumulation passes, ``dp.max_parameter_divergence()``,
    ``dp.num_buckets`` and ``dp.bytes_per_step``.
    """
    if hasattr(model, "parameters"):
        params = list(model.parameters())
        buffers = list(model.buffers()) if hasattr(model, "buffers") else []
    else:
        params, buffers = list(model), []
    return _d.DataParallel(params, buffers, bucket_bytes, root)
