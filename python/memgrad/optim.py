"""Optimizers (SGD, Adam, AdamW: step() runs in C++ without the GIL), clipping, LR schedules.

    opt = memgrad.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    sched = memgrad.optim.WarmupCosine(3e-4, warmup_steps=100, total_steps=1000)
    for step in range(1000):
        opt.lr = sched(opt.step_count)
        opt.zero_grad(); loss_fn().backward(); opt.step()

params: an iterable of tensors, or of dicts {"params": [...], "lr": ..., "weight_decay": ...}.
"""
from . import _C

_o = _C.optim

Optimizer = _o.Optimizer
ParamGroup = _o.ParamGroup
SGD = _o.SGD
Adam = _o.Adam
AdamW = _o.AdamW
clip_grad_norm = _o.clip_grad_norm
clip_grad_norm_ = _o.clip_grad_norm
grad_norm = _o.grad_norm
Constant = _o.Constant
WarmupCosine = _o.WarmupCosine
WarmupRsqrt = _o.WarmupRsqrt
