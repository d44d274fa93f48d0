"""memgrad.nn from Python: Python-defined modules trained on a toy task, C++ layers composed and
subclassed, state dicts, optimizers."""
import numpy as np
import pytest

import memgrad as mg
import memgrad.nn as nn


def spiral(n_per_class=60, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1, n_per_class)
        theta = np.linspace(c * 4, (c + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * 0.15
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], 1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


class MLP(nn.Module):
    """Written in Python: a Python parameter, C++ layers, and a Python-defined submodule."""

    def __init__(self, hidden=32, classes=3):
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.gain = nn.Parameter(mg.ones(hidden))  # a parameter created in Python
        self.block = Residual(hidden)
        self.out = nn.Linear(hidden, classes)
        self.register_buffer("calls", mg.zeros(()))
        self.not_a_param = mg.ones(3)  # plain tensors are not registered

    def forward(self, x):
        with mg.no_grad():
            self.calls += 1
        h = (self.fc1(x) * self.gain).tanh()
        return self.out(self.block(h))


class Residual(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.w = nn.Parameter(mg.randn(dim, dim) * (1 / dim ** 0.5))
        self.b = nn.Parameter(mg.zeros(dim))

    def forward(self, x):
        return x + (x @ self.w + self.b).relu()


def test_python_module_finds_its_parameters():
    mg.manual_seed(0)
    m = MLP()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["gain", "fc1.weight", "fc1.bias", "block.w", "block.b", "out.weight", "out.bias"]
    assert m.num_parameters() == 32 + 2 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3
    assert set(m.state_dict()) == set(names) | {"calls"}
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "block", "out"]
    assert "not_a_param" not in m.state_dict()
    assert all(p.requires_grad for p in m.parameters())


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_python_module_learns_a_toy_task(optimizer):
    mg.manual_seed(1)
    x, y = spiral()
    model = MLP(hidden=32)
    opt = (mg.optim.Adam(model.parameters(), lr=0.02) if optimizer == "adam"
           else mg.optim.SGD(model.parameters(), lr=0.3, momentum=0.9))
    xt, yt = mg.tensor(x), mg.tensor(y)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = mg.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 4
    acc = nn.accuracy(model(xt), yt)
    assert acc > 0.9, acc
    assert model.calls.item() == 301  # forward updated the buffer


def test_subclassing_a_cpp_layer():
    class ScaledLinear(nn.Linear):
        def __init__(self, i, o):
            super().__init__(i, o)
            self.scale = nn.Parameter(mg.tensor(2.0))

        def forward(self, x):
            return super().forward(x) * self.scale

    mg.manual_seed(0)
    m = ScaledLinear(3, 2)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "scale"]
    x = mg.randn(4, 3)
    np.testing.assert_allclose(m(x).detach().numpy(), (x @ m.weight.T + m.bias).detach().numpy() * 2, rtol=1e-6)
    m(x).sum().backward()
    assert m.weight.grad is not None and m.scale.grad is not None


def test_transformer_stack_trains_and_switches_modes():
    mg.manual_seed(0)

    class Classifier(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.emb = nn.Embedding(16, 32)
            self.pos = nn.SinusoidalPositionalEncoding(64, 32)
            self.enc = nn.TransformerEncoder(dim=32, heads=4, layers=2, ff_hidden=64, dropout=0.1, kind=kind,
                                             top_k=8, checkpoint=kind == "chunked")
            self.head = nn.ClassificationHead(32, 32, 2)

        def forward(self, ids, lengths):
            h = self.enc(self.pos(self.emb(ids)), key_lengths=lengths)
            return self.head(nn.pool(h, "mean", key_lengths=lengths))

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 16, (8, 20)).astype(np.int32)
    lengths = np.full(8, 20)
    labels = (ids[:, 0] > 8).astype(np.int64)  # the first token decides
    for kind in ("vanilla", "chunked", "topk"):
        model = Classifier(kind)
        assert "pos.table" in model.state_dict() and "pos.table" not in dict(model.named_parameters())
        opt = mg.optim.AdamW(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(15):
            opt.zero_grad()
            loss = mg.cross_entropy(model(ids, lengths), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0] * 0.5, (kind, losses[0], losses[-1])
        model.eval()
        assert not model.enc.training and not model.enc._cpp.training
        a, b = model(ids, lengths).detach().numpy(), model(ids, lengths).detach().numpy()
        np.testing.assert_array_equal(a, b)  # dropout off in eval mode
        model.train()
        assert model.enc._cpp.training


def test_state_dict_round_trip_and_validation():
    mg.manual_seed(0)
    a, b = MLP(), MLP()
    b.load_state_dict({k: v.detach().numpy() for k, v in a.state_dict().items()})
    x = mg.randn(5, 2)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    before = b.fc1.weight.numpy(force=True).copy()
    sd = dict(a.state_dict())
    sd["out.bias"] = mg.zeros(4)
    with pytest.raises(ValueError, match="out.bias"):
        b.load_state_dict(sd)
    np.testing.assert_array_equal(b.fc1.weight.numpy(force=True), before)  # unchanged on error
    del sd["out.bias"]
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict(sd)
    keys = b.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["out.bias"]


def test_module_to_float64_keeps_optimizer_handles():
    mg.manual_seed(0)
    m = MLP()
    opt = mg.optim.SGD(m.parameters(), lr=0.1)
    m.to(mg.float64)
    assert all(p.dtype == mg.float64 for p in m.parameters())
    x = mg.randn(3, 2, dtype=mg.float64)
    mg.cross_entropy(m(x), mg.tensor([0, 1, 2])).backward()
    w = m.block.w.detach().numpy().copy()
    opt.step()
    assert not np.array_equal(w, m.block.w.detach().numpy())


def test_sequential_modulelist_and_repr():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert len(seq) == 3 and seq(mg.randn(3, 4)).shape == (3, 2)
    assert len(seq.parameters()) == 4
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml.parameters()) == 6 and len(list(ml)) == 3
    r = repr(seq)
    assert "(0): Linear(in_features=4, out_features=8, bias=True)" in r and "(1): ReLU()" in r


def test_optimizer_api():
    w = mg.zeros(3, requires_grad=True)
    opt = mg.optim.SGD([{"params": [w], "lr": 0.5}], lr=0.1)
    assert opt.param_groups[0].lr == 0.5
    w.grad = mg.ones(3)
    opt.step()
    assert w.detach().tolist() == [-0.5] * 3 and opt.step_count == 1
    opt.lr = 0.25
    assert opt.param_groups[0].lr == 0.25
    opt.zero_grad()
    assert w.grad is None
    w.grad = mg.full([3], 10.0)
    assert abs(mg.optim.clip_grad_norm([w], 1.0) - 10 * 3 ** 0.5) < 1e-4
    assert abs(mg.optim.grad_norm([w]) - 1.0) < 1e-4
    sched = mg.optim.WarmupCosine(1.0, warmup_steps=10, total_steps=100)
    assert sched(0) == pytest.approx(0.1) and sched(100) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        mg.optim.Adam([w], lr=-1.0).step()
    with pytest.raises(TypeError):
        mg.optim.SGD([1, 2, 3])


def test_bare_cpp_layers_are_wrapped_when_assigned():
    enc = nn.TransformerEncoder(dim=16, heads=2, layers=2, ff_hidden=32)

    class FirstLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = enc.layers[0]  # a bare memgrad._C.nn object

        def forward(self, x):
            return self.layer(x)

    m = FirstLayer()
    assert isinstance(m.layer, nn.Module) and len(m.parameters()) == len(enc.layers[0].parameters())
    assert m(mg.randn(1, 4, 16)).shape == (1, 4, 16)
