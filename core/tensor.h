#pragma once
// Tensor: a shared handle to (storage, offset, shape, strides, dtype) plus autograd metadata.
// Views share storage. The ops live in autograd/ops.h; this header only holds the data.
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace memgrad {

class Node;  // autograd/node.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Strides strides;  // in elements
  DType dtype = DType::float32;

  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_nr = 0;              // which output of grad_fn this is
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const { return checked()->shape; }
  const Strides& strides() const { return checked()->strides; }
  int64_t offset() const { return checked()->offset; }
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return memgrad::numel(shape()); }
  DType dtype() const { return checked()->dtype; }
  Device device() const { return checked()->storage->device(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(dtype()); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return checked()->storage; }
  bool shares_storage(const Tensor& o) const { return storage() == o.storage(); }

  // Pointer to element 0 of this view (the offset applied).
  void* raw_data() const;
  template <class T> T* data() const {
    check_dtype(dtype_of<T>(), "data");
    return static_cast<T*>(raw_data());
  }

  // Element access for tests and small programs (CPU tensors).
  template <class T> T item() const;
  template <class T> T at(std::initializer_list<int64_t> index) const;
  template <class T> std::vector<T> to_vector() const;  // row-major order

  // autograd
  bool requires_grad() const { return checked()->requires_grad; }
  Tensor& set_requires_grad(bool r = true);
  Tensor grad() const;
  void set_grad(const Tensor& g);
  std::shared_ptr<Node> grad_fn() const { return checked()->grad_fn; }
  bool is_leaf() const { return checked()->grad_fn == nullptr; }
  // Runs the backward pass from this tensor (defined in autograd/engine.cpp).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  std::string str() const;  // readable printing, as operator<<

 private:
  TensorImpl* checked() const;
  void check_dtype(DType t, const char* op) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Uninitialised storage of the given shape (contiguous).
Tensor empty(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
// A tensor that views `base`'s storage with other metadata and no autograd history.
Tensor alias(const Tensor& base, const Shape& shape, const Strides& strides, int64_t offset);
// Makes t hold value's storage and metadata (shape, strides, offset, dtype) in place, keeping t's
// TensorImpl, so every handle to t sees the change; t's gradient is dropped. What Module::to()
// does to parameters and Python's `Tensor.data = value` does to any tensor.
void replace_data(const Tensor& t, const Tensor& value);

}  // namespace memgrad
