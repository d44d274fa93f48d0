#pragma once
// Starting a run from the weights of an earlier one (lra train/compare --init-from), e.g. a length
// curriculum: train at short lengths first, then at the task's full length from those weights.
#include <string>

#include "nn/module.h"

namespace memgrad::lra {

// Loads the model weights ("model.<name>") of a checkpoint (checkpoint.h) into `model`. Every
// tensor must match by name, shape and dtype, except the learned position table ("pos.table"),
// which may be shorter than the model's (a run at shorter lengths): its rows replace the first
// rows and later positions keep their initial values. Optimizer state is not loaded: the run
// starts its own schedule. Nothing is changed when the file does not fit: the error names the
// file, the tensor, and both shapes and dtypes. Weights that are NaN or infinite are refused at
// load time, naming the file and tensor. (checkpoint.h's load_weights, with PositionRows::may_be_fewer.)
void warm_start(nn::Module& model, const std::string& path);

// The checkpoint file for one kind: `from` itself when it is a file, else <from>/<kind>.safetensors
// (the files an lra run writes into its results folder).
std::string warm_start_path(const std::string& from, const std::string& kind);

}  // namespace memgrad::lra
