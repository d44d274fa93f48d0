"""memgrad.lra: generated tasks and numpy batches."""
import numpy as np
import pytest

import memgrad as mg


def test_listops_batches_are_numpy():
    ds = mg.lra.make_task("listops", n_train=40, n_val=8, n_test=8, max_len=120, seed=3)
    assert ds.task == "listops" and ds.vocab_size == 16 and ds.num_classes == 10
    assert ds.size("train") == 40 and ds.size("val") == 8
    batches = list(mg.lra.batches(ds, "train", batch_size=16, seed=1))
    assert [b["labels"].shape[0] for b in batches] == [16, 16, 8]
    b = batches[0]
    assert b["tokens"].dtype == np.int32 and b["lengths"].dtype == np.int64 and b["labels"].dtype == np.int64
    assert b["tokens"].shape == (16, b["lengths"].max())
    for row, n in zip(b["tokens"], b["lengths"]):
        assert (row[n:] == 0).all() and (row[:n] > 0).all()
    ex = ds.example("train", 0)
    assert mg.lra.listops_eval(ex["tokens"].tolist()) == ex["label"]
    again = list(mg.lra.batches(mg.lra.make_task("listops", n_train=40, n_val=8, n_test=8, max_len=120, seed=3),
                                "train", batch_size=16, seed=1))
    np.testing.assert_array_equal(again[1]["tokens"], batches[1]["tokens"])
    assert sorted(np.concatenate([b["labels"] for b in batches]).tolist()) == sorted(ds.labels("train").tolist())


def test_pair_task_and_loader():
    ds = mg.lra.make_task("retrieval", n_train=6, n_val=2, n_test=2, max_len=128, seed=0)
    assert ds.pair
    loader = mg.lra.Loader(ds, "train", batch_size=4, fixed_len=True)
    assert len(loader) == 2
    first, second = [b["labels"].tolist() for b in loader], [b["labels"].tolist() for b in loader]
    batch = next(iter(loader))
    assert batch["tokens"].shape == (4, 128) and batch["tokens2"].shape == (4, 128)
    assert sorted(sum(first, [])) == sorted(sum(second, []))


def test_lra_errors():
    assert "listops" in mg.lra.task_names()
    with pytest.raises(ValueError):
        mg.lra.make_task("nope")
    ds = mg.lra.make_task("image", n_train=4, n_val=1, n_test=1, seed=0)
    with pytest.raises(IndexError):
        ds.example("train", 10)
    with pytest.raises(ValueError):
        ds.batch("train", [0, 99])
    with pytest.raises(ValueError):
        ds.size("holdout")


def test_batch_sampler_bucketing():
    rng = np.random.default_rng(0)
    lengths = rng.integers(500, 2001, size=256).tolist()
    s = mg.lra.BatchSampler(256, 8, seed=3)
    plain = s.epoch(0)
    s.bucket_by(lengths, 8)
    bucketed = s.epoch(0)
    assert sorted(i for b in bucketed for i in b) == list(range(256))

    def spread(batches):
        return np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])

    assert spread(bucketed) < 0.25 * spread(plain)
    with pytest.raises(ValueError, match="bucket_by"):
        s.bucket_by([1, 2], 8)
