"""No silent wrong answers and no crashes at the Python boundary: conversions that would wrap,
safetensors files and arguments that are not what they should be, messages with foreign bytes, and
numpy input to every op (attention included)."""
import os
import struct

import numpy as np
import pytest

import memgrad as mg
F = mg.nn.functional


def write_raw(path, header: bytes, data: bytes = b""):
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


# ---- conversions that would wrap ----

def test_uint64_out_of_int64_range_is_an_error_not_minus_one(tmp_path):
    a = np.array([1, 2**64 - 1], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"tensor 'x'.*value 18446744073709551615 of the uint64 array is out of range for int64"):
        mg.save({"x": a}, tmp_path / "u.safetensors")
    with pytest.raises(ValueError, match="18446744073709551615"):
        mg.tensor(a)
    with pytest.raises(ValueError, match="value 9223372036854775808 of the uint64 array"):
        mg.as_tensor(np.uint64(2**63))
    # values that fit convert exactly
    mg.save({"x": np.array([0, 2**63 - 1], dtype=np.uint64)}, tmp_path / "ok.safetensors")
    assert mg.load(tmp_path / "ok.safetensors")["x"].tolist() == [0, 2**63 - 1]
    assert mg.tensor(np.array([7, 255], dtype=np.uint8)).tolist() == [7, 255]


def test_integer_conversions_refuse_values_out_of_range_and_non_finite_floats():
    with pytest.raises(ValueError, match=r"value 1099511627776 of the int64 array is out of range for int32"):
        mg.tensor(np.array([1, 2**40]), dtype="int32")
    with pytest.raises(ValueError, match=r"value nan of the float64 array cannot be converted to int64"):
        mg.tensor(np.array([1.0, np.nan]), dtype="int64")
    with pytest.raises(ValueError, match=r"value inf of the float32 array cannot be converted to int32"):
        mg.tensor(np.array([np.inf], dtype=np.float32), dtype="int32")
    with pytest.raises(ValueError, match=r"out of range for int64"):
        mg.tensor([1e30], dtype="int64")
    with pytest.raises(ValueError, match=r"integer 1180591620717411303424 is out of range for int64"):
        mg.tensor(2**70)
    assert mg.tensor([2.9, -2.9], dtype="int64").tolist() == [2, -2]  # truncation, as numpy and PyTorch


def test_integer_scalars_meet_integer_tensors_exactly():
    t = mg.tensor([1], dtype="int64")
    assert (t + (2**53 + 1)).tolist() == [2**53 + 2]  # not rounded through a double
    assert (t * np.int64(3)).tolist() == [3]
    with pytest.raises(ValueError, match="out of range for int32"):
        mg.tensor([1], dtype="int32") + 2**40
    with pytest.raises(ValueError, match="18446744073709551615"):
        t + np.uint64(2**64 - 1)


# ---- mg.save arguments ----

def test_save_refuses_non_string_names_and_metadata(tmp_path):
    p = tmp_path / "m.safetensors"
    x = np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"\[save_safetensors\] metadata 'epoch' must be a str, got int 3"):
        mg.save({"x": x}, p, {"epoch": 3})
    with pytest.raises(ValueError, match=r"a metadata key must be a str, got int 3"):
        mg.save({"x": x}, p, {3: "three"})
    with pytest.raises(ValueError, match=r"metadata must be a dict of str to str, got list"):
        mg.save({"x": x}, p, [("a", "b")])
    with pytest.raises(ValueError, match=r"a tensor name must be a str, got bytes b'x'"):
        mg.save({b"x": x}, p)
    with pytest.raises(ValueError, match=r"tensor 'x'.*cannot make a tensor from 'abc'"):
        mg.save({"x": "abc"}, p)
    with pytest.raises(ValueError, match=r"metadata 'epoch' must be a str"):
        mg.save_checkpoint(p, mg.nn.Linear(2, 2), metadata={"epoch": 1})
    assert not p.exists()


# ---- hostile files ----

def test_hostile_safetensors_files_raise_value_errors(tmp_path):
    p = tmp_path / "bad.safetensors"
    write_raw(p, b'{"a":' + b"[" * 300000 + b"]" * 300000 + b"}")  # crashed the old reader
    with pytest.raises(ValueError, match=r"tensor 'a': entry must be an object, got an array"):
        mg.load(p)
    entry = b'{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    write_raw(p, b'{"a":' + entry + b',"a":' + entry + b"}", b"\0" * 4)
    with pytest.raises(ValueError, match=r"the header lists tensor 'a' twice"):
        mg.load(p)
    write_raw(p, b'{"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}', b"\0" * 8)
    with pytest.raises(ValueError, match=r"'.*bad.safetensors': tensor 'w': unsupported dtype \"U64\""):
        mg.load(p)
    # a NUL in a name no longer cuts the message short
    write_raw(p, b'{"a\\u0000b":{"dtype":"X","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4)
    with pytest.raises(ValueError) as e:
        mg.load(p)
    assert "tensor 'a\\x00b': unsupported dtype \"X\"" in str(e.value)


def test_messages_with_bytes_that_are_not_utf8_arrive_whole(tmp_path):
    name = os.fsencode(str(tmp_path)) + b"/caf\xe9.safetensors"  # a Latin-1 file name
    with pytest.raises(ValueError) as e:  # was UnicodeDecodeError, the message lost
        mg.load(name)
    assert "caf\\xe9.safetensors': cannot open" in str(e.value)
    with pytest.raises(ValueError, match=r"caf\\xe9"):
        mg.save({"x": np.ones(1)}, os.fsencode(str(tmp_path)) + b"/no/caf\xe9/x.safetensors")


def test_save_removes_temporaries_left_by_killed_writers(tmp_path):
    p = tmp_path / "ckpt.safetensors"
    stale = tmp_path / "ckpt.safetensors.tmp.2147483647.0"  # no process has this pid
    live = tmp_path / f"ckpt.safetensors.tmp.{os.getpid()}.999999"
    stale.write_bytes(b"partial")
    live.write_bytes(b"partial")
    mg.save({"x": np.ones(2, dtype=np.float32)}, p)
    assert not stale.exists()
    assert live.exists()
    assert mg.load(p)["x"].tolist() == [1.0, 1.0]


# ---- numpy input to every op ----

def test_attention_accepts_numpy_arrays_and_sequences():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 2, 5, 4)).astype(np.float32) for _ in range(3))
    mask = np.zeros((2, 5), dtype=bool)
    mask[1, 3:] = True
    for kind in ("vanilla", "chunked", "topk"):
        want = F.attention(mg.tensor(q), mg.tensor(k), mg.tensor(v), kind=kind, key_padding_mask=mg.tensor(mask),
                           top_k=3).numpy()
        got = F.attention(q, k, v, kind=kind, key_padding_mask=mask, top_k=3).numpy()
        np.testing.assert_array_equal(got, want)
        got = F.attention(q.tolist(), k, v.tolist(), kind=kind, key_lengths=[5, 3], top_k=3).numpy()
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError):
        F.attention(None, k, v)


def test_ops_and_modules_accept_numpy_input_like_the_binary_ops():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(mg.exp(x).numpy(), np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(mg.softmax(x, dim=-1).numpy().sum(-1), [1, 1], rtol=1e-6)
    assert mg.sum(x).item() == 15
    assert mg.reshape(x, (3, 2)).shape == (3, 2)
    assert mg.transpose(x, 0, 1).shape == (3, 2)
    assert mg.clone(x).tolist() == x.tolist()
    assert mg.zeros_like(x).shape == (2, 3)
    ln = mg.layer_norm(x, np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32))
    np.testing.assert_allclose(ln.numpy().mean(-1), [0, 0], atol=1e-6)
    assert mg.cross_entropy(x, np.array([0, 2])).dim() == 0
    assert mg.embedding(x, [1, 0]).tolist() == [x[1].tolist(), x[0].tolist()]
    lin = mg.nn.Linear(3, 4)
    np.testing.assert_allclose(lin(x).detach().numpy(), lin(mg.tensor(x)).detach().numpy())
    t = mg.zeros(2, 3)
    t.grad = np.ones((2, 3), dtype=np.float32)
    assert t.grad.tolist() == [[1, 1, 1], [1, 1, 1]]


def test_state_dict_keys_must_be_strings():
    lin = mg.nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"\[load_state_dict\] a state dict key must be a str, got int 1"):
        lin._cpp.load_state_dict({1: np.ones((2, 2), dtype=np.float32)})  # the C++ module's own
    opt = mg.optim.SGD(lin.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"a state dict key must be a str, got bytes b'step'"):
        opt.load_state_dict({b"step": 0})


def test_paths_any_bytes_the_os_takes_and_nul_is_a_clear_error(tmp_path):
    # a name that is not UTF-8 (os.listdir gives it with surrogate escapes) round-trips, as bytes too
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.safetensors")
    mg.save({"a": mg.ones(2)}, name)
    assert mg.load(name)["a"].tolist() == [1.0, 1.0]
    assert mg.load(os.fsencode(name))["a"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"\[load_safetensors\] the path .* holds a NUL byte"):
        mg.load(str(tmp_path / "a\x00b"))
    with pytest.raises(ValueError, match=r"\[save_safetensors\] the path .* holds a NUL byte"):
        mg.save({"a": mg.ones(2)}, str(tmp_path / "a\x00b"))
