#include "core/tensor.h"

#include "core/allocator.h"

#include <cmath>
#include <ostream>

namespace memgrad {

TensorImpl* Tensor::checked() const {
  if (!impl_) throw Error("[tensor] use of an undefined tensor");
  return impl_.get();
}

void Tensor::check_dtype(DType t, const char* op) const {
  MG_CHECK(dtype() == t, op, "tensor has dtype {}, accessed as {}", to_string(dtype()), to_string(t));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size", shape())]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // nothing to lay out
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  auto* t = checked();
  return static_cast<char*>(t->storage->data()) + t->offset * static_cast<int64_t>(itemsize(t->dtype));
}

Tensor& Tensor::set_requires_grad(bool r) {
  MG_CHECK(!r || is_floating(dtype()), "requires_grad", "only float tensors can require gradients, got {}",
           to_string(dtype()));
  MG_CHECK(is_leaf() || r, "requires_grad", "cannot turn off requires_grad on a non-leaf tensor; use detach()");
  checked()->requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked()->grad); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    MG_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad", "grad of shape {} {} for tensor {} {}",
             memgrad::str(g.shape()), to_string(g.dtype()), memgrad::str(shape()), to_string(dtype()));
  checked()->grad = g.impl_ptr();
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  const int64_t n = check_shape(shape, itemsize(dtype), "empty");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(n) * itemsize(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

void replace_data(const Tensor& t, const Tensor& value) {
  const Tensor keep = value;  // value's impl stays alive while it is read, even when it is t's only owner
  TensorImpl* d = t.impl();
  const TensorImpl* s = keep.impl();
  d->storage = s->storage;
  d->offset = s->offset;
  d->shape = s->shape;
  d->strides = s->strides;
  d->dtype = s->dtype;
  d->grad = nullptr;
}

Tensor alias(const Tensor& base, const Shape& shape, const Strides& strides, int64_t offset) {
  // a view may be larger than its storage (stride 0), but its element count must exist
  (void)numel(shape, "view");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

namespace {

void require_cpu(const Tensor& t, const char* op) {
  MG_CHECK(t.device().is_cpu(), op, "needs a cpu tensor, got {} (use to(Device::cpu()) or to_vector())",
           t.device().str());
}

}  // namespace

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>(), "to_vector");
  std::vector<T> out(static_cast<size_t>(numel()));
  if (numel() == 0) return out;
  const T* p = static_cast<const T*>(raw_data());
  std::vector<unsigned char> host;  // a device tensor: the elements its view spans, copied over
  if (!device().is_cpu()) {
    int64_t lo = 0, hi = 0;  // element offsets (relative to raw_data) of the view's first and last element
    for (int64_t d = 0; d < dim(); ++d) (strides()[d] < 0 ? lo : hi) += (shape()[d] - 1) * strides()[d];
    host.resize(static_cast<size_t>(hi - lo + 1) * sizeof(T));
    copy_device_to_host(host.data(), p + lo, host.size());
    p = reinterpret_cast<const T*>(host.data()) - lo;
  }
  for (int64_t i = 0; i < numel(); ++i) out[i] = p[strided_offset(shape(), strides(), i, dim())];
  return out;
}

template <class T>
T Tensor::item() const {
  MG_CHECK(numel() == 1, "item", "needs a tensor with one element, got shape {}", memgrad::str(shape()));
  return to_vector<T>()[0];
}

template <class T>
T Tensor::at(std::initializer_list<int64_t> index) const {
  require_cpu(*this, "at");
  check_dtype(dtype_of<T>(), "at");
  MG_CHECK(static_cast<int64_t>(index.size()) == dim(), "at", "index of {} dims for shape {}", index.size(),
           memgrad::str(shape()));
  int64_t off = 0, d = 0;
  for (int64_t i : index) {
    MG_CHECK(i >= 0 && i < shape()[d], "at", "index {} out of range for dim {} of shape {}", i, d, memgrad::str(shape()));
    off += i * strides()[d++];
  }
  return static_cast<const T*>(raw_data())[off];
}

#define MG_INSTANTIATE(T)                                                \
  template std::vector<T> Tensor::to_vector<T>() const;                  \
  template T Tensor::item<T>() const;                                    \
  template T Tensor::at<T>(std::initializer_list<int64_t>) const;
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
MG_INSTANTIATE(int32_t)
MG_INSTANTIATE(int64_t)
MG_INSTANTIATE(bool)
#undef MG_INSTANTIATE

// ---- printing -------------------------------------------------------------------------------

namespace {

std::string format_value(const Tensor& t, int64_t off) {
  return dispatch_all(t.dtype(), "print", [&]<class T>() -> std::string {
    T v = static_cast<const T*>(t.raw_data())[off];
    if constexpr (std::is_floating_point_v<T>) return fmt::format("{:.4g}", v);
    else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
    else return fmt::format("{}", v);
  });
}

// Prints dim `d` starting at element offset `off`, eliding the middle of long dims.
void print_dim(std::string& out, const Tensor& t, int64_t d, int64_t off, int indent) {
  constexpr int64_t kEdge = 3;
  int64_t n = t.shape()[d];
  bool elide = n > 2 * kEdge + 1 && t.numel() > 1000;
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (elide && i == kEdge) {
      out += d + 1 == t.dim() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - kEdge - 1;
      continue;
    }
    int64_t o = off + i * t.strides()[d];
    if (d + 1 == t.dim()) out += format_value(t, o);
    else print_dim(out, t, d + 1, o, indent + 1);
    if (i + 1 < n) out += d + 1 == t.dim() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::string body;
  if (!device().is_cpu()) body = fmt::format("<{} values on {}>", numel(), device().str());
  else if (dim() == 0) body = format_value(*this, 0);
  else print_dim(body, *this, 0, 0, 7);
  std::string s = fmt::format("tensor({}, shape={}, dtype={}, device={}", body, memgrad::str(shape()),
                              to_string(dtype()), device().str());
  if (requires_grad()) s += ", requires_grad=true";
  return s + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace memgrad
