// Index ops: index_select, gather and embedding lookups; backward scatter-adds.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/backend.h"

namespace memgrad {
namespace {
using Grads = std::vector<Tensor>;

void check_index(const char* op, const Tensor& t, const Tensor& idx) {
  MG_CHECK(idx.dtype() == DType::int32 || idx.dtype() == DType::int64, op,
           "index must be int32 or int64, got {} {} (input {})", to_string(idx.dtype()), str(idx.shape()),
           str(t.shape()));
}
}  // namespace

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index) {
  Backend& be = backend_of("index_select", {&t, &index});
  check_index("index_select", t, index);
  MG_CHECK(index.dim() == 1, "index_select", "index must be 1-d, got shape {} (input {})", str(index.shape()),
           str(t.shape()));
  MG_CHECK(t.dim() >= 1, "index_select", "input must have at least one dim, got shape {}", str(t.shape()));
  dim = wrap_dim(dim, t.dim(), "index_select", t.shape());
  Shape os = t.shape();
  os[dim] = index.numel();
  Tensor out = empty(os, t.dtype(), t.device());
  be.index_select(t, dim, index, out);
  Tensor si = saved(index);
  Shape in = t.shape();
  return finish("index_select", {t}, out, [si, in, dim](const Tensor& g) {
    Tensor gin = zeros(in, g.dtype(), g.device());
    backend_for(g.device()).index_add(gin, dim, si, g);
    return Grads{gin};
  });
}

Tensor gather(const Tensor& t, int64_t dim, const Tensor& index) {
  Backend& be = backend_of("gather", {&t, &index});
  check_index("gather", t, index);
  dim = wrap_dim(dim, t.dim(), "gather", t.shape());
  bool ok = index.dim() == t.dim();
  for (int64_t d = 0; ok && d < t.dim(); ++d) ok = d == dim || index.shape()[d] == t.shape()[d];
  MG_CHECK(ok, "gather", "index of shape {} does not match input {} outside dim {}", str(index.shape()),
           str(t.shape()), dim);
  Tensor out = empty(index.shape(), t.dtype(), t.device());
  be.gather(t, dim, index, out);
  Tensor si = saved(index);
  Shape in = t.shape();
  return finish("gather", {t}, out, [si, in, dim](const Tensor& g) {
    Tensor gin = zeros(in, g.dtype(), g.device());
    backend_for(g.device()).scatter_add(gin, dim, si, g);
    return Grads{gin};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  MG_CHECK(weight.dim() == 2, "embedding", "weight must be [V, D], got {}", str(weight.shape()));
  check_index("embedding", weight, ids);
  Shape os = ids.shape();
  os.push_back(weight.shape()[1]);
  try {
    return reshape(index_select(weight, 0, reshape(ids, {-1})), os);
  } catch (const Error& e) {
    throw Error(fmt::format("[embedding] weight {}, ids {}: {}", str(weight.shape()), str(ids.shape()), e.what()));
  }
}

}  // namespace memgrad
