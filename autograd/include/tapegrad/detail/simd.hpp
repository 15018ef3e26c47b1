#pragma once
// Vectorised element-wise kernels over contiguous arrays (private to the library).
//
// Why not xtensor expressions: on the small tensors of a recurrent step (a [1, 5] hidden state,
// a [32, 128] gate block) xtensor's shape and stride machinery costs more than the arithmetic,
// and libm's scalar tanhf/expf costs ~20 ns per element. These loops run whole SIMD batches
// (xsimd, the library xtensor itself vectorises with) and finish a short tail through a padded
// batch, so a 5-element tanh is one batch, not five libm calls.
#include <cmath>
#include <cstddef>
#include <cstring>
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
// exp(src - shift): the stable form softmax needs.
template <class T>
inline void exp_shifted(T* dst, const T* src, T shift, std::size_t n) {
  map(dst, src, n, [shift](const auto& x) { return xsimd::exp(x - shift); });
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
inline void exp_shifted(T* dst, const T* src, T shift, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = std::exp(src[i] - shift);
}
template <class T>
inline void sigmoid(T* dst, const T* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = T(1) / (T(1) + std::exp(-src[i]));
}

#endif

}  // namespace tapegrad::detail::simd
