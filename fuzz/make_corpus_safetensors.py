#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors (fuzz/corpus/safetensors/): small valid files of
every dtype memgrad reads, 0-d and empty tensors, metadata, and a checkpoint of the fuzz target's
Linear(2, 3) + Adam after one step. Standard library only; run from the repository root."""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
FMT = {"F32": "f", "F64": "d", "I32": "i", "I64": "q", "BOOL": "?"}


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, flat values) -> the file's bytes."""
    header, data = {}, b""
    for name, dtype, shape, values in tensors:
        raw = struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def checkpoint():
    t = [("model.weight", "F32", [3, 2], [0.1, -0.2, 0.3, -0.4, 0.5, -0.6]),
         ("model.bias", "F32", [3], [0.0, 1.0, -1.0]),
         ("optim.step", "I64", [], [1]),
         ("optim.group.0.lr", "F64", [], [0.001]),
         ("optim.group.0.weight_decay", "F64", [], [0.0]),
         ("optim.group.0.params", "I64", [], [2]),
         ("optim.beta1", "F64", [], [0.9]),
         ("optim.beta2", "F64", [], [0.999]),
         ("optim.eps", "F64", [], [1e-8]),
         ("optim.decoupled", "F64", [], [0.0])]
    for i, shape, n in ((0, [3, 2], 6), (1, [3], 3)):
        t += [("optim.state.%d.step" % i, "I64", [], [1]),
              ("optim.state.%d.exp_avg" % i, "F32", shape, [0.01] * n),
              ("optim.state.%d.exp_avg_sq" % i, "F32", shape, [1e-4] * n)]
    return safetensors(t, {"memgrad.optimizer": "Adam", "epoch": "1"})


SEEDS = {
    "empty_header": safetensors([]),
    "f32_matrix": safetensors([("w", "F32", [2, 3], [1, 2, 3, 4, 5, 6])]),
    "every_dtype": safetensors([("a", "F32", [2], [1.5, -2]), ("b", "F64", [2, 1], [3.25, 1e300]),
                                ("c", "I32", [3], [1, -2, 2**31 - 1]), ("d", "I64", [1], [-2**63]),
                                ("e", "BOOL", [4], [True, False, True, True])]),
    "scalar_and_empty": safetensors([("s", "F64", [], [7.0]), ("z", "F32", [0, 3], []),
                                     ("zz", "I64", [2, 0, 1], []), ("one", "I32", [1, 1, 1], [5])]),
    "metadata": safetensors([("x", "F32", [1], [1.0])], {"format": "pt", "note": "caf\u00e9 \u2713"}),
    "checkpoint": checkpoint(),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
        f.write(data)
