#pragma once
// Launchers of the index kernels (cuda_index.cu). Tensors are contiguous and split around `dim`
// as [A, S, B] (the sizes before, at and after it); index arrays are int32 or int64 (I).
// Elements only copied are moved as raw bits (E: uint8_t, uint32_t or uint64_t by item size).
// Default stream; the caller checks each launch.
#include <cstdint>

namespace memgrad::cuda {

// *first_bad = the smallest i with idx[i] outside [0, size) (an entry equal to `ignore` is fine
// when has_ignore), left alone when there is none: it must start at ~0ull.
template <class I>
void launch_find_bad_index(const I* idx, int64_t n, int64_t size, bool has_ignore, int64_t ignore,
                           unsigned long long* first_bad);

// out[a, l, b] = src[a, idx[l], b]; src [A, S, B], out [A, L, B].
template <class E, class I>
void launch_index_select(const E* src, const I* idx, E* out, int64_t A, int64_t S, int64_t L, int64_t B);

// dst[a, idx[l], b] += src[a, l, b] (atomic); dst [A, S, B], src [A, L, B].
template <class T, class I>
void launch_index_add(T* dst, const I* idx, const T* src, int64_t A, int64_t S, int64_t L, int64_t B);

// out[a, j, b] = src[a, idx[a, j, b], b]; idx and out [A, J, B], src [A, S, SB] (SB == B for
// matching shapes; the CPU kernel likewise strides src by its own trailing size).
template <class E, class I>
void launch_gather(const E* src, const I* idx, E* out, int64_t A, int64_t J, int64_t B, int64_t S, int64_t SB);

// dst[a, idx[a, j, b], b] += src[a, j, b] (atomic); idx and src [A, J, B], dst [A, S, SB].
template <class T, class I>
void launch_scatter_add(T* dst, const I* idx, const T* src, int64_t A, int64_t J, int64_t B, int64_t S, int64_t SB);

}  // namespace memgrad::cuda
