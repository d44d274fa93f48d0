"""Tensor methods written in Python: in-place arithmetic operators."""
from . import _C


def _inplace(op):
    def method(self, other):
        # computes op(self, other), then writes it into self's memory (broadcast to self's shape,
        # converted to self's dtype); refused for tensors that require grad while grad mode is on
        return self.copy_(op(self, other))

    method.__name__ = f"__i{op.__name__.strip('_')}__"
    method.__doc__ = f"In place: self = self {op.__name__} other, in self's memory (views included)."
    return method


for _op in (_C.Tensor.__add__, _C.Tensor.__sub__, _C.Tensor.__mul__, _C.Tensor.__truediv__):
    setattr(_C.Tensor, "__i" + _op.__name__.strip("_") + "__", _inplace(_op))
del _op
