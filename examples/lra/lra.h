#pragma once
// memgrad::lra — Long Range Arena-style tasks: seeded generators (the default: no download, no
// network) and loaders for the official files, with batching into memgrad tensors.
//
//   lra::TaskConfig cfg;  cfg.task = "listops";  cfg.seed = 1;   // or cfg.data_dir = "/data/listops"
//   lra::Dataset ds = lra::make_task(cfg);
//   lra::BatchSampler sampler(ds.train.size(), 32, /*seed=*/1);
//   for (auto& idx : sampler.next_epoch()) { lra::Batch b = lra::make_batch(ds, lra::Split::train, idx); ... }
#include "examples/lra/batch.h"       // Batch, make_batch, BatchSampler
#include "examples/lra/dataset.h"     // Example, Dataset, TaskConfig, make_task, vocabularies
#include "examples/lra/generators.h"  // per-example generators of text, retrieval, image, pathfinder
#include "examples/lra/listops.h"     // ListOps tokens, generator, evaluator, tokenizer
#include "examples/lra/loaders.h"     // the official-format loaders
