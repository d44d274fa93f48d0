// Index ops: index_select / index_add along a dim, gather / scatter_add (kernels in cuda_index.cu).
// Indices are checked on the device before any kernel uses them, so a bad index is an error
// naming the op, the index and the dim size (as on the CPU), never a stray write.
#include <cstdint>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/index_check.h"
#include "backends/cuda/index_kernels.h"
#include "backends/index_rule.h"

namespace memgrad::cuda {
namespace {

// idx as a contiguous tensor whose entries all lie in [0, size); errors as the CPU's check does.
Tensor checked_indices(const Tensor& idx, int64_t size, const char* op, int64_t dim) {
  Tensor c = contiguous_copy(idx);
  int64_t v = 0;
  const int64_t pos = first_bad_index(op, c, size, false, 0, v);
  if (pos >= 0) index_out_of_range(op, v, dim, size);
  return c;
}

// Calls f.template operator()<E>() with E an unsigned type of t's item size: copies move raw bits.
template <class F>
void dispatch_bits(DType t, F&& f) {
  switch (itemsize(t)) {
    case 1: return f.template operator()<uint8_t>();
    case 4: return f.template operator()<uint32_t>();
    default: return f.template operator()<uint64_t>();
  }
}

}  // namespace

int64_t first_bad_index(const char* op, const Tensor& idx, int64_t size, bool has_ignore, int64_t ignore,
                        int64_t& value) {
  return dispatch_index(idx.dtype(), op, [&]<class I>() -> int64_t {
    const int64_t n = idx.numel();
    if (n == 0) return -1;
    Tensor flag = empty({1}, DType::int64, idx.device());  // the first bad position, ~0 for none
    auto* first_bad = static_cast<unsigned long long*>(flag.raw_data());
    MG_CUDA_CHECK(op, cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), 0));
    launch_find_bad_index<I>(idx.data<I>(), n, size, has_ignore, ignore, first_bad);
    check_launch(op);
    unsigned long long pos = 0;
    MG_CUDA_CHECK(op, cudaMemcpy(&pos, first_bad, sizeof(pos), cudaMemcpyDeviceToHost));
    if (pos == ~0ull) return -1;
    I bad = 0;
    MG_CUDA_CHECK(op, cudaMemcpy(&bad, idx.data<I>() + pos, sizeof(I), cudaMemcpyDeviceToHost));
    value = static_cast<int64_t>(bad);
    return static_cast<int64_t>(pos);
  });
}

void CudaBackend::index_select(const Tensor& src_in, int64_t dim, const Tensor& idx_in, Tensor& out) {
  Tensor src = contiguous_copy(src_in);  // [A, S, B]
  const DimSplit s = split_at(src.shape(), dim);
  Tensor idx = checked_indices(idx_in, s.S, "index_select", dim);  // [L]
  const int64_t L = idx.numel();
  if (s.A * L * s.B == 0) return;
  dispatch_index(idx.dtype(), "index_select", [&]<class I>() {
    dispatch_bits(src.dtype(), [&]<class E>() {
      launch_index_select<E, I>(static_cast<const E*>(src.raw_data()), idx.data<I>(), static_cast<E*>(out.raw_data()),
                                s.A, s.S, L, s.B);
    });
  });
  check_launch("index_select");
}

void CudaBackend::index_add(Tensor& dst, int64_t dim, const Tensor& idx_in, const Tensor& src_in) {
  Tensor src = contiguous_copy(src_in);  // [A, L, B]
  const DimSplit d = split_at(dst.shape(), dim);  // dst [A, S, B]
  Tensor idx = checked_indices(idx_in, d.S, "index_add", dim);  // [L]
  const int64_t L = idx.numel();
  dispatch_numeric(dst.dtype(), "index_add", [&]<class T>() {
    if (d.A * L * d.B == 0) return;
    dispatch_index(idx.dtype(), "index_add", [&]<class I>() {
      launch_index_add<T, I>(dst.data<T>(), idx.data<I>(), src.data<T>(), d.A, d.S, L, d.B);
    });
    check_launch("index_add");
  });
}

void CudaBackend::gather(const Tensor& src_in, int64_t dim, const Tensor& idx_in, Tensor& out) {
  Tensor src = contiguous_copy(src_in);  // [A, S, B]
  const DimSplit s = split_at(src.shape(), dim), o = split_at(idx_in.shape(), dim);  // idx, out [A, J, B]
  Tensor idx = checked_indices(idx_in, s.S, "gather", dim);
  if (o.A * o.S * o.B == 0) return;
  dispatch_index(idx.dtype(), "gather", [&]<class I>() {
    dispatch_bits(src.dtype(), [&]<class E>() {
      launch_gather<E, I>(static_cast<const E*>(src.raw_data()), idx.data<I>(), static_cast<E*>(out.raw_data()), o.A,
                          o.S, o.B, s.S, s.B);
    });
  });
  check_launch("gather");
}

void CudaBackend::scatter_add(Tensor& dst, int64_t dim, const Tensor& idx_in, const Tensor& src_in) {
  Tensor src = contiguous_copy(src_in);  // [A, J, B], as idx
  const DimSplit d = split_at(dst.shape(), dim), o = split_at(idx_in.shape(), dim);  // dst [A, S, B]
  Tensor idx = checked_indices(idx_in, d.S, "scatter_add", dim);
  dispatch_numeric(dst.dtype(), "scatter_add", [&]<class T>() {
    if (o.A * o.S * o.B == 0) return;
    dispatch_index(idx.dtype(), "scatter_add", [&]<class I>() {
      launch_scatter_add<T, I>(dst.data<T>(), idx.data<I>(), src.data<T>(), o.A, o.S, o.B, d.S, d.B);
    });
    check_launch("scatter_add");
  });
}

}  // namespace memgrad::cuda
