// Index kernels: index_select / index_add along a dim, gather / scatter_add (torch semantics).
// Indices are checked before any parallel loop, so a bad index is an error, never a stray write.
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/parallel.h"
#include "backends/index_rule.h"
#include "backends/scalar_math.h"

namespace memgrad::cpu {
namespace {

// The indices as int64, each checked against `size`.
std::vector<int64_t> checked_indices(const Tensor& idx, int64_t size, const char* op, int64_t dim) {
  Tensor c = contiguous_copy(idx);
  std::vector<int64_t> out(static_cast<size_t>(c.numel()));
  dispatch_index(c.dtype(), op, [&]<class I>() {
    const I* p = c.data<I>();
    for (int64_t i = 0; i < c.numel(); ++i) {
      int64_t v = p[i];
      if (v < 0 || v >= size) index_out_of_range(op, v, dim, size);
      out[i] = v;
    }
  });
  return out;
}

}  // namespace

void CpuBackend::index_select(const Tensor& src_in, int64_t dim, const Tensor& idx, Tensor& out) {
  Tensor src = contiguous_copy(src_in);
  DimSplit s = split_at(src.shape(), dim);
  auto ix = checked_indices(idx, s.S, "index_select", dim);
  const int64_t L = static_cast<int64_t>(ix.size()), isz = static_cast<int64_t>(itemsize(src.dtype()));
  const char* ps = static_cast<const char*>(src.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  parallel_for(s.A * L, s.B, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t a = i / L, l = i % L;
      std::memcpy(po + i * s.B * isz, ps + (a * s.S + ix[l]) * s.B * isz, s.B * isz);
    }
  });
}

void CpuBackend::index_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src_in) {
  Tensor src = contiguous_copy(src_in);
  DimSplit d = split_at(dst.shape(), dim);
  auto ix = checked_indices(idx, d.S, "index_add", dim);
  const int64_t L = static_cast<int64_t>(ix.size());
  dispatch_numeric(dst.dtype(), "index_add", [&]<class T>() {
    T* pd = dst.data<T>();
    const T* ps = src.data<T>();
    // Parallel over (a, column block): rows with equal indices never race.
    constexpr int64_t kCols = 64;
    const int64_t cb = (d.B + kCols - 1) / kCols;
    parallel_for(d.A * cb, L * kCols, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t a = t / cb, c0 = (t % cb) * kCols, nc = std::min(kCols, d.B - c0);
        for (int64_t l = 0; l < L; ++l) {
          T* drow = pd + (a * d.S + ix[l]) * d.B + c0;
          const T* srow = ps + (a * L + l) * d.B + c0;
          for (int64_t c = 0; c < nc; ++c) drow[c] = wrap_add(drow[c], srow[c]);  // ints wrap
        }
      }
    });
  });
}

void CpuBackend::gather(const Tensor& src_in, int64_t dim, const Tensor& idx, Tensor& out) {
  Tensor src = contiguous_copy(src_in);
  DimSplit s = split_at(src.shape(), dim), o = split_at(idx.shape(), dim);
  auto ix = checked_indices(idx, s.S, "gather", dim);
  dispatch_all(src.dtype(), "gather", [&]<class T>() {
    const T* ps = src.data<T>();
    T* po = out.data<T>();
    parallel_for(o.A * o.S * o.B, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t a = i / (o.S * o.B), b = i % o.B;
        po[i] = ps[(a * s.S + ix[i]) * s.B + b];
      }
    });
  });
}

void CpuBackend::scatter_add(Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src_in) {
  Tensor src = contiguous_copy(src_in);
  DimSplit d = split_at(dst.shape(), dim), o = split_at(idx.shape(), dim);
  auto ix = checked_indices(idx, d.S, "scatter_add", dim);
  dispatch_numeric(dst.dtype(), "scatter_add", [&]<class T>() {
    T* pd = dst.data<T>();
    const T* ps = src.data<T>();
    // Each (a, b) column is owned by one task, so no two tasks write the same element.
    parallel_for(o.A * o.B, o.S, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t a = t / o.B, b = t % o.B;
        for (int64_t j = 0; j < o.S; ++j) {
          int64_t i = (a * o.S + j) * o.B + b;
          T& dv = pd[(a * d.S + ix[i]) * d.B + b];
          dv = wrap_add(dv, ps[i]);  // ints wrap
        }
      }
    });
  });
}

}  // namespace memgrad::cpu
