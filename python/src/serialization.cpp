// safetensors files: memgrad.save_safetensors / load_safetensors (checkpoints of Python modules
// are assembled in memgrad/serialization.py from these). File I/O runs without the GIL.
#include "nn/serialization.h"

#include "common.h"
#include "core/escape.h"

namespace memgrad::python {

void bind_serialization(py::module_& m) {
  m.def("save_safetensors", [](py::handle path_arg, py::dict tensors, py::handle metadata) {
    const std::string path = to_path(path_arg, "save_safetensors");
    std::map<std::string, Tensor> ts;
    for (auto [k, v] : tensors) {
      std::string name = to_str(k, "save_safetensors", "a tensor name");
      try {
        ts[name] = as_tensor(v);
      } catch (const Error& e) {
        fail("save_safetensors", "tensor '{}': {}", escape_bytes(name), e.what());
      }
    }
    std::map<std::string, std::string> meta;
    if (!metadata.is_none()) {
      if (!py::isinstance<py::dict>(metadata))
        fail("save_safetensors", "metadata must be a dict of str to str, got {}", Py_TYPE(metadata.ptr())->tp_name);
      for (auto [k, v] : py::reinterpret_borrow<py::dict>(metadata)) {
        std::string key = to_str(k, "save_safetensors", "a metadata key");
        meta[key] = to_str(v, "save_safetensors", "metadata '" + escape_bytes(key) + "'");
      }
    }
    py::gil_scoped_release release;
    save_safetensors(path, ts, meta);
  }, py::arg("path"), py::arg("tensors"), py::arg("metadata") = py::none(),
  "Writes {name: tensor} (tensors or arrays) atomically as a safetensors file; metadata: {str: str}.");
  m.def("load_safetensors", [](py::handle path_arg, bool with_metadata) -> py::object {
    const std::string path = to_path(path_arg, "load_safetensors");
    std::map<std::string, std::string> meta;
    std::map<std::string, Tensor> ts;
    {
      py::gil_scoped_release release;
      ts = load_safetensors(path, &meta);
    }
    py::dict out;
    for (auto& [k, t] : ts) out[py::str(k)] = t;
    if (with_metadata) return py::make_tuple(out, meta);
    return out;
  }, py::arg("path"), py::arg("with_metadata") = false,
  "Reads every tensor of a safetensors file (validated first): {name: tensor}, or (tensors, metadata).");
}

}  // namespace memgrad::python
