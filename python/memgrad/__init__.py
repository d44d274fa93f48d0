"""memgrad: a small C++ tensor library with autograd and memory-aware attention, from Python.

    import memgrad as mg
    x = mg.randn(4, 3)
    w = mg.randn(3, 2, requires_grad=True)
    loss = (x @ w).relu().sum()
    loss.backward()
    print(w.grad)

Tensors share memory with numpy where the layout allows (``mg.as_tensor(array)``,
``tensor.numpy()``); ``mg.tensor(data)`` always copies. See docs/python.md.
"""
import os as _os


def _set_openblas_coretype():
    # OpenBLAS reads OPENBLAS_CORETYPE when the extension loads it. The machines used here report a
    # generic CPU, so without it OpenBLAS falls back to its slowest kernels (README, scripts/env.sh).
    if _os.environ.get("OPENBLAS_CORETYPE"):
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    if "avx512f" in flags:
        _os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif "avx2" in flags:
        _os.environ["OPENBLAS_CORETYPE"] = "Haswell"


_set_openblas_coretype()

try:
    from . import _C
except ImportError as _e:  # pragma: no cover - depends on how the package was built
    raise ImportError(
        "memgrad's extension module (memgrad._C) is missing or broken: run `pip install .` at the "
        "repository root, or build with cmake -DMEMGRAD_PYTHON=ON and put <build>/python on "
        f"PYTHONPATH ({_e})") from _e

__version__ = "0.1.0"

# Everything the extension binds at its top level: Tensor, dtypes, factories, ops.
# (This shadows builtins such as sum, max, abs and bool inside this file: keep code below simple.)
_SUBMODULES = {"autograd", "functional", "memory", "nn", "optim", "lra", "distributed"}
for _name in dir(_C):
    if not _name.startswith("_") and _name not in _SUBMODULES:
        globals()[_name] = getattr(_C, _name)
del _name

from . import _tensor_ext  # noqa: E402,F401  (in-place operators)
from . import autograd, functional, memory, nn, optim, lra, distributed  # noqa: E402
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, detect_anomaly  # noqa: E402
from .serialization import save, load, save_checkpoint, load_checkpoint  # noqa: E402

Size = tuple
