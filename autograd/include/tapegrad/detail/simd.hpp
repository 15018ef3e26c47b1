#pragma once
// Vectorised element-wise kernels over contiguous arrays (private to the library).
//
// Why not xtensor expressions: on the small tensors of a recurrent step (a [1, 5] hidden state,
// a [32, 128] gate block) xtensor's shape and stride machinery costs more than the arithmetic,
// and libm's scalar tanhf/expf costs ~20 ns per element. These loops run whole SIMD batches
// (xsimd, the library xtensor itself vectorises with) and finish a short tail through a padded
// batch, so a 5-element tanh is one batch, not five libm calls.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#ifdef XTENSOR_USE_XSIMD
#include <xsimd/xsimd.hpp>
#endif

namespace tapegrad::detail::simd {

#ifdef XTENSOR_USE_XSIMD

// Applies f (batch -> batch) to n elements of src, writing dst (which may equal src).
template <class T, class F>
inline void map(T* dst, const T* src, std::size_t n, F f) {
  using B = xsimd::batch<T>;
  constexpr std::size_t W = B::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) f(B::load_unaligned(src + i)).store_unaligned(dst + i);
  if (i < n) {
    alignas(64) T buf[W] = {};
    std::memcpy(buf, src + i, (n - i) * sizeof(T));
    f(B::load_aligned(buf)).store_aligned(buf);
    std::memcpy(dst + i, buf, (n - i) * sizeof(T));
  }
}

template <class T>
inline void tanh(T* dst, const T* src, std::size_t n) {
  map(dst, src, n, [](const auto& x) { return xsimd::tanh(x); });
}
template <class T>
inline void exp(T* dst, const T* src, std::size_t n) {
  map(dst, src, n, [](const auto& x) { return xsimd::exp(x); });
}
// The largest of src[0, n), n >= 1 (a softmax row's shift).
template <class T>
inline T max_of(const T* src, std::size_t n) {
  using B = xsimd::batch<T>;
  constexpr std::size_t W = B::size;
  T m = src[0];
  std::size_t i = 0;
  if (n >= W) {
    B acc = B::load_unaligned(src);
    for (i = W; i + W <= n; i += W) acc = xsimd::max(acc, B::load_unaligned(src + i));
    alignas(64) T lanes[W];
    acc.store_aligned(lanes);
    for (T v : lanes) m = std::max(m, v);
  }
  for (; i < n; ++i) m = std::max(m, src[i]);
  return m;
}
// dst = exp(src - shift), returning the sum of dst: a softmax row's exponentials and their
// normaliser in one pass. The tail runs as one batch padded with -inf (whose exp adds 0).
template <class T>
inline T exp_shifted_sum(T* dst, const T* src, T shift, std::size_t n) {
  using B = xsimd::batch<T>;
  constexpr std::size_t W = B::size;
  B acc(T(0));
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const B e = xsimd::exp(B::load_unaligned(src + i) - B(shift));
    e.store_unaligned(dst + i);
    acc += e;
  }
  if (i < n) {
    alignas(64) T buf[W];
    std::fill(buf, buf + W, -std::numeric_limits<T>::infinity());
    std::memcpy(buf, src + i, (n - i) * sizeof(T));
    const B e = xsimd::exp(B::load_aligned(buf) - B(shift));
    e.store_aligned(buf);
    std::memcpy(dst + i, buf, (n - i) * sizeof(T));
    acc += e;
  }
  return xsimd::hadd(acc);
}
// 1 / (1 + e^-x). For x -> -inf, e^-x -> inf and the result -> 0: no NaN.
template <class T>
inline void sigmoid(T* dst, const T* src, std::size_t n) {
  map(dst, src, n, [](const auto& x) {
    using B = std::decay_t<decltype(x)>;
    return B(T(1)) / (B(T(1)) + xsimd::exp(-x));
  });
}

#else  // scalar fallback when xtensor is built without xsimd

template <class T>
inline void tanh(T* dst, const T* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = std::tanh(src[i]);
}
template <class T>
inline void exp(T* dst, const T* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = std::exp(src[i]);
}
template <class T>
inline T max_of(const T* src, std::size_t n) {
  T m = src[0];
  for (std::size_t i = 1; i < n; ++i) m = std::max(m, src[i]);
  return m;
}
template <class T>
inline T exp_shifted_sum(T* dst, const T* src, T shift, std::size_t n) {
  T s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (dst[i] = std::exp(src[i] - shift));
  return s;
}
template <class T>
inline void sigmoid(T* dst, const T* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = T(1) / (T(1) + std::exp(-src[i]));
}

#endif

}  // namespace tapegrad::detail::simd
