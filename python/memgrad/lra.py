"""Long Range Arena-style tasks: seeded generators (no download) and loaders of the official
files, with batches as numpy arrays.

    ds = memgrad.lra.make_task("listops", n_train=256, max_len=200, seed=1)
    for batch in memgrad.lra.batches(ds, "train", batch_size=32, seed=1):
        tokens, lengths, labels = batch["tokens"], batch["lengths"], batch["labels"]

Tasks: listops, text, retrieval, image, pathfinder, pathx (see examples/lra/dataset.h for the
vocabularies). Sizes left at -1 and lengths at 0 take the task's defaults; data_dir reads the
official files instead of generating.
"""
from . import _C

_l = _C.lra

Dataset = _l.Dataset
BatchSampler = _l.BatchSampler
task_names = _l.task_names
make_task = _l.make_task
listops_tokenize = _l.listops_tokenize
listops_eval = _l.listops_eval
listops_to_string = _l.listops_to_string


def batches(dataset, split="train", batch_size=32, *, shuffle=None, seed=0, epoch=0, drop_last=False,
            fixed_len=False):
    """Yields one epoch of batches, dicts of numpy arrays: tokens int32 [B, L] (0-padded), lengths
    int64 [B], labels int64 [B] (and tokens2, lengths2 for retrieval). The order is a seeded
    permutation per (seed, epoch); shuffle defaults to True for train, False otherwise."""
    if shuffle is None:
        shuffle = split == "train"
    sampler = BatchSampler(dataset.size(split), batch_size, seed, shuffle, drop_last)
    for indices in sampler.epoch(epoch):
        yield dataset.batch(split, indices, fixed_len)


class Loader:
    """Iterating gives the next epoch's batches each time (see batches())."""

    def __init__(self, dataset, split="train", batch_size=32, *, shuffle=None, seed=0, drop_last=False,
                 fixed_len=False):
        self.dataset, self.split, self.batch_size = dataset, split, batch_size
        self.shuffle = split == "train" if shuffle is None else shuffle
        self.seed, self.drop_last, self.fixed_len = seed, drop_last, fixed_len
        self.epoch = 0

    def __len__(self):
        return BatchSampler(self.dataset.size(self.split), self.batch_size, self.seed, self.shuffle,
                            self.drop_last).batches_per_epoch()

    def __iter__(self):
        e = self.epoch
        self.epoch += 1
        return batches(self.dataset, self.split, self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=e,
                       drop_last=self.drop_last, fixed_len=self.fixed_len)
