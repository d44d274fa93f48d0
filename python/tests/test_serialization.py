"""safetensors checkpoints written by memgrad, read back by the safetensors package and by memgrad."""
import numpy as np
import pytest

import memgrad as mg
import memgrad.nn as nn

safetensors_numpy = pytest.importorskip("safetensors.numpy")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.proj = nn.Parameter(mg.randn(4, 3))
        self.head = nn.Linear(3, 2)
        self.register_buffer("steps", mg.tensor([0], dtype=mg.int64))

    def forward(self, ids):
        return self.head(self.emb(ids) @ self.proj)


def test_checkpoint_read_by_safetensors_numpy(tmp_path):
    mg.manual_seed(0)
    model = Net()
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    model(mg.tensor([[1, 2, 3]])).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.safetensors"
    mg.save_checkpoint(path, model, opt, metadata={"note": "hello"})

    arrays = safetensors_numpy.load_file(str(path))
    sd = model.state_dict()
    assert {k for k in arrays if k.startswith("model.")} == {"model." + k for k in sd}
    for k, t in sd.items():
        a = arrays["model." + k]
        assert a.dtype == t.dtype.numpy and a.shape == t.shape
        np.testing.assert_array_equal(a, t.numpy(force=True))
    assert arrays["optim.step"] == 1 and "optim.state.0.exp_avg" in arrays

    fresh = Net()
    fresh_opt = mg.optim.Adam(fresh.parameters(), lr=1e-2)
    meta = mg.load_checkpoint(path, fresh, fresh_opt)
    assert meta["note"] == "hello" and meta["memgrad.optimizer"] == "Adam"
    assert fresh_opt.step_count == 1
    for k, t in fresh.state_dict().items():
        np.testing.assert_array_equal(t.numpy(force=True), sd[k].numpy(force=True))


def test_files_from_the_safetensors_package_load(tmp_path):
    path = str(tmp_path / "np.safetensors")
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
            "c": np.array([True, False])}
    safetensors_numpy.save_file(data, path, metadata={"k": "v"})
    tensors, meta = mg.load(path, with_metadata=True)
    assert meta == {"k": "v"}
    for k, a in data.items():
        np.testing.assert_array_equal(tensors[k].numpy(), a)


def test_save_views_and_arrays(tmp_path):
    t = mg.arange(12, dtype=mg.float64).reshape(3, 4)
    path = tmp_path / "v.safetensors"
    mg.save({"view": t[:, ::2].T, "array": np.ones((2, 2), np.float32)}, path)
    back = safetensors_numpy.load_file(str(path))
    np.testing.assert_array_equal(back["view"], np.arange(12.0).reshape(3, 4)[:, ::2].T)
    np.testing.assert_array_equal(back["array"], np.ones((2, 2)))


def test_bad_checkpoints_leave_the_model_unchanged(tmp_path):
    mg.manual_seed(0)
    model = Net()
    path = tmp_path / "bad.safetensors"
    sd = {"model." + k: v for k, v in model.state_dict().items()}
    sd["model.head.bias"] = mg.zeros(5)
    mg.save(sd, path)
    before = {k: v.numpy(force=True).copy() for k, v in Net().state_dict().items()}
    other = Net()
    other.load_state_dict(before)
    with pytest.raises(ValueError, match="head.bias"):
        mg.load_checkpoint(path, other)
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(force=True), before[k])
    mg.save_checkpoint(path, model)
    with pytest.raises(ValueError, match="no optimizer state"):
        mg.load_checkpoint(path, other, mg.optim.SGD(other.parameters()))
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(ValueError):
        mg.load(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError):
        mg.load(tmp_path / "missing.safetensors")
