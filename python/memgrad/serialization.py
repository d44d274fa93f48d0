"""safetensors files: tensors, state dicts and training checkpoints.

Files are standard safetensors (readable by ``safetensors.numpy.load_file`` and PyTorch), written
atomically. A checkpoint holds ``model.<name>`` for each entry of the model's state_dict() and
``optim.<name>`` for the optimizer's, with metadata ``memgrad.optimizer`` = its name: the same
layout as the C++ save_checkpoint, so either side reads the other's files.
"""
import os

from . import _C


def save(tensors, path, metadata=None):
    """Writes {name: Tensor or numpy array} to a safetensors file (metadata: {str: str})."""
    _C.save_safetensors(os.fspath(path), dict(tensors), metadata)


def load(path, with_metadata=False):
    """{name: Tensor} from a safetensors file, or (tensors, metadata) with with_metadata=True."""
    return _C.load_safetensors(os.fspath(path), with_metadata)


def save_checkpoint(path, model, optimizer=None, metadata=None):
    """Saves a Module's state_dict (any memgrad.nn.Module, Python-defined ones included) and
    optionally an optimizer's state in one file."""
    tensors = {"model." + k: v for k, v in model.state_dict().items()}
    meta = dict(metadata or {})
    if optimizer is not None:
        tensors.update({"optim." + k: v for k, v in optimizer.state_dict().items()})
        meta["memgrad.optimizer"] = optimizer.name
    save(tensors, path, meta)


def load_checkpoint(path, model, optimizer=None):
    """Loads a checkpoint into the model (strictly) and the optimizer (when given). Everything is
    checked before either is changed, so a bad file leaves both unchanged. Returns the metadata."""
    path = os.fspath(path)
    tensors, meta = load(path, with_metadata=True)
    model_sd, optim_sd = {}, {}
    for name, t in tensors.items():
        if name.startswith("model."):
            model_sd[name[6:]] = t
        elif name.startswith("optim."):
            optim_sd[name[6:]] = t
        else:
            raise ValueError(f"[load_checkpoint] '{path}': tensor '{name}' is neither 'model.*' nor 'optim.*'")
    try:
        model._check_state_dict(model_sd, strict=True)
    except ValueError as e:
        raise ValueError(f"[load_checkpoint] '{path}': {e}") from None
    if optimizer is not None:
        if not optim_sd:
            raise ValueError(f"[load_checkpoint] '{path}': the file holds no optimizer state")
        saved = meta.get("memgrad.optimizer")
        if saved is not None and saved != optimizer.name:
            raise ValueError(f"[load_checkpoint] '{path}': optimizer state is from {saved}, not {optimizer.name}")
        try:
            optimizer.validate_state_dict(optim_sd)
        except ValueError as e:
            raise ValueError(f"[load_checkpoint] '{path}': {e}") from None
    model.load_state_dict(model_sd, strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(optim_sd)
    return meta
