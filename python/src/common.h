#pragma once
// Shared helpers of the Python bindings (memgrad._C): conversions between Python objects and
// memgrad types, numpy interop, and the binders each area's .cpp file defines.
//
// GIL rules: long-running C++ work runs with the GIL released (py::call_guard or
// py::gil_scoped_release). Anything C++ may destroy or call later without the GIL — the owner of a
// numpy buffer wrapped by a Storage, a Python callable captured by an autograd node — is held
// through py_shared(), whose deleter takes the GIL first.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"

namespace memgrad::python {

namespace py = pybind11;

// A shared handle to a Python object that may be released from any thread, with or without the
// GIL (it takes the GIL to drop the reference; after interpreter shutdown it leaks instead).
std::shared_ptr<void> py_shared(py::object o);

// dtype arguments: a memgrad DType, a name ("float32"), a numpy dtype or scalar type, or the Python
// types float (float32), int (int64) and bool.
DType to_dtype(py::handle h);
std::optional<DType> to_dtype_opt(py::handle h);  // None -> nullopt
// device arguments: a Device or a string ("cpu", "cuda", "cuda:1"); None -> cpu.
Device to_device(py::handle h);

// Scalar arguments read from a py::object (optional or overloaded ones): an int (Python int, numpy
// integer, anything with __index__) or a number (int or float, numpy scalars); anything else is a
// TypeError naming the op and the argument: "[argmax] dim must be an int, got 'x'".
int64_t int_arg(py::handle h, const char* op, const char* what);
double float_arg(py::handle h, const char* op, const char* what);

// Shapes from a sequence of ints (or one int); `args` forms accept f(2, 3) and f((2, 3)).
// Anything else (floats, bools, str, a float tensor) is a TypeError naming `op`; an integer
// Tensor of 0 or 1 dims gives its values.
Shape to_shape(py::handle h, const char* op);
Shape shape_from_args(const py::args& args, const char* op);
// A file-system path argument (str, bytes or os.PathLike) as the bytes the OS takes (os.fsencode:
// undecodable names round-trip); a NUL byte is an Error naming `op`, another type a TypeError.
std::string to_path(py::handle h, const char* op);
// Dims for reductions: None -> {} (all dims), an int, or a sequence.
std::vector<int64_t> to_dims(py::handle h, const char* op);
// Rejects negative dims and shapes beyond core's size limit (core/shape.h, check_shape) before
// anything allocates.
void check_shape(const Shape& s, DType dtype, const char* op);

// numpy -> Tensor. Shares the array's memory (the Storage keeps the array alive) when the dtype
// is one of memgrad's, the array is aligned, writeable, in native byte order and its strides are
// non-negative multiples of the item size; copies otherwise (sets *copied when given).
Tensor from_numpy(py::array a, bool* copied = nullptr);
// Tensor -> numpy array viewing the same memory; the array's base keeps the storage alive.
// CPU tensors only.
py::array to_numpy(const Tensor& t);
py::dtype numpy_dtype(DType t);

// Any Python value as a tensor: a Tensor (itself), a numpy array (from_numpy), a numpy scalar,
// a Python scalar or a nested sequence (copied). Python floats become float32 and ints int64
// unless `dtype` says otherwise; arrays keep their dtype unless `dtype` is given.
Tensor as_tensor(py::handle h, std::optional<DType> dtype = std::nullopt);
// The same, but always a fresh copy (memgrad.tensor()).
Tensor copy_tensor(py::handle h, std::optional<DType> dtype = std::nullopt);

// The parameter type of ops that read a tensor argument: binds like `const Tensor&` but also takes
// what as_tensor converts (numpy arrays, sequences, scalars), so that every op accepts numpy input
// the way the binary ops do. The conversion runs in pybind11's argument loading, with the GIL, before
// a call guard releases it. A Tensor matches in pybind11's first (no-conversion) pass, anything else
// in the second; None, str and bytes never match (TypeError with the signatures). Not for in-place
// ops: a converted array may be a copy.
struct TensorArg : Tensor {
  TensorArg() = default;
  TensorArg(Tensor t) : Tensor(std::move(t)) {}  // NOLINT: implicit on purpose
};

// A str argument (a name, a dict key) as UTF-8; anything else (bytes included) is an error naming
// the op and `what` ("a tensor name"), the type and the value.
std::string to_str(py::handle h, const char* op, const std::string& what);

// True for Python / numpy scalars (bool, int, float, numpy generic, 0-d array).
bool is_scalar(py::handle h);
// numpy's kind letter of a scalar or array: 'b' bool, 'i' / 'u' integer, 'f' float (others as
// numpy has them). Not PyIndex_Check: numpy arrays have __index__ whatever their dtype.
char scalar_kind(py::handle h);
// The other operand of a binary op with `t`: scalars become 0-d tensors of t's dtype (an int or
// bool tensor meeting a float scalar is promoted to float32 first, as in PyTorch); arrays and
// sequences take t's dtype when both are floats. Returns (t possibly promoted, other).
std::pair<Tensor, Tensor> coerce_pair(const Tensor& t, py::handle other);

// AttentionOptions from the keyword arguments of functional.attention (attention.cpp).
AttentionOptions attention_options(const std::string& kind, py::handle scale, bool causal, py::handle key_padding_mask,
                                   py::handle key_lengths, py::handle q_chunk, py::handle k_chunk, int64_t top_k);

// Binders, one per source file.
void bind_tensor(py::module_& m);
void bind_indexing(py::class_<Tensor>& cls);
void bind_ops(py::module_& m, py::class_<Tensor>& cls);
void bind_autograd(py::module_& m);
void bind_attention(py::module_& m);
void bind_memory(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_serialization(py::module_& m);
void bind_lra(py::module_& m);
void bind_distributed(py::module_& m);

}  // namespace memgrad::python

namespace pybind11::detail {
template <>
struct type_caster<memgrad::python::TensorArg> {
  PYBIND11_TYPE_CASTER(memgrad::python::TensorArg, const_name("Tensor | ArrayLike"));
  bool load(handle src, bool convert) {
    if (isinstance<memgrad::Tensor>(src)) {
      value = src.cast<memgrad::Tensor>();
      return true;
    }
    if (!convert || src.is_none() || isinstance<str>(src) || isinstance<bytes>(src)) return false;
    value = memgrad::python::as_tensor(src);
    return true;
  }
  static handle cast(const memgrad::python::TensorArg& t, return_value_policy policy, handle parent) {
    return type_caster_base<memgrad::Tensor>::cast(static_cast<const memgrad::Tensor&>(t), policy, parent);
  }
};
}  // namespace pybind11::detail
