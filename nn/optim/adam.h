#pragma once
// Convenience include: SGD, Adam and AdamW are all declared in optimizer.h, next to their base.
#include "nn/optim/optimizer.h"
