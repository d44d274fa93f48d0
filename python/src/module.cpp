// memgrad._C: the extension module. Each area binds itself (common.h); the Python package memgrad
// re-exports and extends it. C++ exceptions arrive as Python exceptions with the same message:
// memgrad::Error (std::invalid_argument) as ValueError, memgrad::RuntimeError and other
// std::exceptions as RuntimeError, as in pybind11's standard translation, but decoded with
// errors="backslashreplace": a message with bytes that are not UTF-8 (a file name, a C library's
// text) arrives whole instead of as a UnicodeDecodeError. (memgrad's own messages are valid UTF-8
// without NUL bytes already: core/error.h.)
#include <cstring>
#include <exception>
#include <new>

#include "common.h"

namespace {

namespace py = pybind11;

void set_error(PyObject* type, const char* what) {
  PyObject* text = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "backslashreplace");
  if (!text) {  // cannot happen with backslashreplace; keep the type at least
    PyErr_Clear();
    PyErr_SetString(type, "(undecodable message)");
    return;
  }
  PyErr_SetObject(type, text);
  Py_DECREF(text);
}

// Registered last, so tried first; exceptions it does not handle (pybind11's own, Python errors
// already set) go on to pybind11's translators.
void translate(std::exception_ptr p) {
  try {
    std::rethrow_exception(p);
  } catch (const py::error_already_set&) {
    throw;
  } catch (const py::builtin_exception&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::out_of_range& e) {
    set_error(PyExc_IndexError, e.what());
  } catch (const std::overflow_error& e) {
    set_error(PyExc_OverflowError, e.what());
  } catch (const std::invalid_argument& e) {  // memgrad::Error
    set_error(PyExc_ValueError, e.what());
  } catch (const std::domain_error& e) {
    set_error(PyExc_ValueError, e.what());
  } catch (const std::length_error& e) {
    set_error(PyExc_ValueError, e.what());
  } catch (const std::range_error& e) {
    set_error(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {  // memgrad::RuntimeError and the rest
    set_error(PyExc_RuntimeError, e.what());
  }
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  namespace mp = memgrad::python;
  m.doc() = "memgrad C++ core: tensors, autograd, attention, nn, optim, safetensors, LRA tasks.";
  py::register_exception_translator(&translate);
  mp::bind_tensor(m);
  mp::bind_autograd(m);
  mp::bind_attention(m);
  mp::bind_memory(m);
  mp::bind_nn(m);
  mp::bind_optim(m);
  mp::bind_serialization(m);
  mp::bind_lra(m);
  mp::bind_distributed(m);
}
