// memgrad._C: the extension module. Each area binds itself (common.h); the Python package memgrad
// re-exports and extends it. C++ exceptions arrive as Python exceptions with the same message:
// memgrad::Error (std::invalid_argument) as ValueError, memgrad::RuntimeError and other
// std::exceptions as RuntimeError (pybind11's standard translation).
#include "common.h"

PYBIND11_MODULE(_C, m) {
  namespace mp = memgrad::python;
  m.doc() = "memgrad C++ core: tensors, autograd, attention, nn, optim, safetensors, LRA tasks.";
  mp::bind_tensor(m);
  mp::bind_autograd(m);
  mp::bind_attention(m);
  mp::bind_memory(m);
  mp::bind_nn(m);
  mp::bind_optim(m);
  mp::bind_serialization(m);
  mp::bind_lra(m);
}
