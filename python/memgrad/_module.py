"""The module base classes of memgrad.nn (which re-exports them): Parameter, Module (attributes
found as parameters, buffers and submodules; traversal, train/eval, state dicts; the module path
that memory traces name allocations by) and _CppModule, a Module backed by a C++ layer."""
from collections import OrderedDict, namedtuple

from . import _C
from .autograd import no_grad

Tensor = _C.Tensor

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter when assigned as an attribute.

    Parameter(t) shares t's storage (a fresh leaf, no history) and requires grad."""

    def __init__(self, data=None, requires_grad=True):
        t = _C.zeros(0) if data is None else _C.as_tensor(data)
        super().__init__(t.detach())
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every module. Subclasses call super().__init__() first, assign parameters,
    buffers (register_buffer) and submodules as attributes, and define forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- attributes ----
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, _C.nn.Module):  # a bare C++ layer (e.g. encoder.layers[0]): wrap it
            value = _CppModule(value)
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
            _C.memory.set_category(value, "parameter")
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
            object.__setattr__(value, "_trace_name", name)
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value
        elif name in self._parameters and value is None:
            self._parameters[name] = None
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for reg in (self._parameters, self._buffers, self._modules):
            reg.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):  # only when ordinary lookup fails
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            r = d.get(reg)
            if r is not None and name in r:
                return r[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if any(name in r for r in (self._parameters, self._buffers, self._modules)):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            param = Parameter(param)
        self._check_name(name)
        self._forget(name)
        self._parameters[name] = param
        if param is not None:
            _C.memory.set_category(param, "parameter")

    def register_buffer(self, name, tensor):
        """A tensor saved in state_dict() but not trained (not in parameters())."""
        self._check_name(name)
        self._forget(name)
        self._buffers[name] = None if tensor is None else _C.as_tensor(tensor)

    def add_module(self, name, module):
        if isinstance(module, _C.nn.Module):
            module = _CppModule(module)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{name} is not a memgrad.nn.Module")
        self._check_name(name)
        self._forget(name)
        self._modules[name] = module
        if module is not None:
            object.__setattr__(module, "_trace_name", name)

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"[Module] invalid name {name!r} (non-empty, no '.')")

    # ---- calling ----
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        # the memory trace names allocations by module path (memgrad.memory.trace)
        _C.memory._enter_module(self.__dict__.get("_trace_name", ""))
        try:
            return self.forward(*args, **kwargs)
        finally:
            _C.memory._exit_module()

    # ---- traversal ----
    def _local_parameters(self):
        return [(n, p) for n, p in self._parameters.items() if p is not None]

    def _local_buffers(self):
        return [(n, b) for n, b in self._buffers.items() if b is not None]

    def _walk(self, buffers, prefix):
        local = self._local_buffers() if buffers else self._local_parameters()
        for n, t in local:
            yield prefix + n, t
        for cname, child in self._modules.items():
            if child is not None:
                yield from child._walk(buffers, prefix + cname + ".")

    def named_parameters(self, prefix="", recurse=True):
        """(name, parameter) pairs, depth first in assignment order; each tensor once."""
        seen = set()
        items = self._walk(False, prefix) if recurse else ((prefix + n, p) for n, p in self._local_parameters())
        out = []
        for n, p in items:
            if p._impl_id not in seen:
                seen.add(p._impl_id)
                out.append((n, p))
        return out

    def parameters(self, recurse=True):
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def named_buffers(self, prefix="", recurse=True):
        items = self._walk(True, prefix) if recurse else ((prefix + n, b) for n, b in self._local_buffers())
        return list(items)

    def buffers(self, recurse=True):
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def named_children(self):
        return [(n, m) for n, m in self._modules.items() if m is not None]

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        out = [(prefix, self)]
        for n, m in self.named_children():
            out.extend(m.named_modules(prefix + ("." if prefix else "") + n))
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def num_parameters(self):
        return int(sum_(p.numel() for p in self.parameters()))

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ----
    def train(self, mode=True):
        object.__setattr__(self, "training", bool(mode))
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype_or_device):
        """Converts parameters and (float) buffers in place: every handle to them, optimizers
        included, sees the change. Gradients are dropped."""
        is_device = isinstance(dtype_or_device, _C.device) or (
            isinstance(dtype_or_device, str) and dtype_or_device.split(":")[0] in ("cpu", "cuda"))
        with no_grad():
            for t in self._local_parameters() + self._local_buffers():
                t = t[1]
                if is_device or t.dtype.is_floating_point:
                    t.data = t.to(dtype_or_device).contiguous()
        for m in self.children():
            m.to(dtype_or_device)
        return self

    def float(self):
        return self.to(_C.float32)

    def double(self):
        return self.to(_C.float64)

    # ---- state ----
    def state_dict(self):
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        sd = OrderedDict(self.named_parameters())
        sd.update(self.named_buffers())
        return sd

    def _check_state_dict(self, state, strict=True, op="load_state_dict"):
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing " + ", ".join(f"'{k}' {list(own[k].shape)}" for k in missing))
        if strict and unexpected:
            problems.append("unexpected " + ", ".join(f"'{k}'" for k in unexpected))
        for k, t in own.items():
            if k in state:
                src = _C.as_tensor(state[k])
                if tuple(src.shape) != tuple(t.shape) or src.dtype != t.dtype:
                    problems.append(f"'{k}' is {src.dtype} {list(src.shape)} in the state but {t.dtype} "
                                    f"{list(t.shape)} in the model")
        if problems:
            raise ValueError(f"[{op}] " + "; ".join(problems))
        return own, missing, unexpected

    def load_state_dict(self, state_dict, strict=True):
        """Copies values (tensors or numpy arrays) into this module's tensors. Every name, shape
        and dtype is checked before anything is written: on error the module is unchanged."""
        own, missing, unexpected = self._check_state_dict(state_dict, strict)
        with no_grad():
            for k, t in own.items():
                if k in state_dict:
                    t.copy_(state_dict[k])
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing ----
    def _type_name(self):
        return type(self).__name__

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({n}): " + repr(m).replace("\n", "\n  ") for n, m in self.named_children()]
        extra, name = self.extra_repr(), self._type_name()
        if not lines:
            return f"{name}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{name}(\n  " + "\n  ".join(body) + "\n)"


def sum_(values):
    total = 0
    for v in values:
        total += v
    return total


class _CppModule(Module):
    """A Module backed by a C++ layer (memgrad._C.nn): its parameters and buffers are the C++
    layer's; Python subclasses may add their own and override forward()."""

    def __init__(self, cpp):
        super().__init__()
        object.__setattr__(self, "_cpp", cpp)

    def _local_parameters(self):
        return self._cpp.named_parameters() + super()._local_parameters()

    def _local_buffers(self):
        return self._cpp.named_buffers() + super()._local_buffers()

    def forward(self, *args, **kwargs):
        return self._cpp.forward(*args, **kwargs)

    def _type_name(self):
        return type(self._cpp).__name__ if type(self) is _CppModule else type(self).__name__

    def train(self, mode=True):
        self._cpp.train(bool(mode))
        return super().train(mode)

    def to(self, dtype_or_device):
        self._cpp.to(dtype_or_device)
        with no_grad():
            for _, t in super()._local_parameters() + super()._local_buffers():
                t.data = t.to(dtype_or_device).contiguous()
        for m in self.children():
            m.to(dtype_or_device)
        return self

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            cpp = self.__dict__.get("_cpp")
            if cpp is None or name.startswith("__"):
                raise
            return getattr(cpp, name)
