#pragma once
// Shapes and gradients for op authors: NumPy broadcasting, axis arguments, and the loops that
// write an output or add into an input's gradient without allocating on a reused tape.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>

#include "tapegrad/error.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad {

template <class T>
class ForwardContext;
template <class T>
class BackwardContext;

namespace detail {

/// A NumPy axis (possibly negative) as an index into a shape of `rank` axes.
inline std::size_t normalize_axis(const char* op, std::ptrdiff_t axis, std::size_t rank) {
  const auto r = static_cast<std::ptrdiff_t>(rank);
  if (axis < -r || axis >= r)
    throw Error(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for a " +
                std::to_string(rank) + "-D input");
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

/// A shape seen as [outer, len, inner] around one axis: element (o, j, i) of a row-major tensor
/// sits at (o * len + j) * inner + i. Every axis-wise op (sum, softmax, slice, concat) walks it.
struct AxisSplit {
  std::size_t outer = 1, len = 1, inner = 1;
};
template <class S>
AxisSplit split_at(const S& shape, std::size_t axis) {
  AxisSplit s;
  for (std::size_t k = 0; k < axis; ++k) s.outer *= shape[k];
  s.len = shape[axis];
  for (std::size_t k = axis + 1; k < shape.size(); ++k) s.inner *= shape[k];
  return s;
}

/// NumPy's broadcast of two shapes, or an Error naming the op.
inline Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t da = k < n - a.size() ? 1 : a[k - (n - a.size())];
    const std::size_t db = k < n - b.size() ? 1 : b[k - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                  " do not broadcast (axis " + std::to_string(k) + ": " + std::to_string(da) +
                  " vs " + std::to_string(db) + ")");
    out[k] = da == 1 ? db : da;
  }
  return out;
}

/// Adds g, summed over its broadcast axes, into dst (whose shape g broadcasts from): the
/// gradient of a broadcast input. With overwrite, dst's old contents are ignored. Defined for
/// float and double.
template <class T>
void sum_to(const Tensor<T>& g, Tensor<T>& dst, bool overwrite);

/// The op's output buffer, resized to `shape` only when it differs (a reused tape keeps it).
template <class T, class S>
Tensor<T>& output_shaped(ForwardContext<T>& c, const S& shape) {
  Tensor<T>& y = c.output();
  if (!detail::same_shape(y.shape(), shape)) y.resize(shape);
  return y;
}

/// At least n elements of t, a workspace (ForwardContext::workspace): it only ever grows, so
/// once ops of different sizes have shared it, a reused tape reallocates nothing.
template <class T>
T* at_least(Tensor<T>& t, std::size_t n) {
  if (t.size() < n) t.resize(std::array<std::size_t, 1>{n});
  return t.data();
}

/// t as a flat buffer of exactly n elements (an op's saved tensor), resized only when its size
/// differs: a reused tape keeps it.
template <class T>
T* exactly(Tensor<T>& t, std::size_t n) {
  if (t.size() != n || t.dimension() != 1) t.resize(std::array<std::size_t, 1>{n});
  return t.data();
}

/// dst [cols, rows] = src [rows, cols]^T, in 32 x 32 tiles so that both sides stay in cache
/// (a hidden-by-hidden weight of 1024 is 4 MiB).
template <class T>
void transpose_into(const T* src, std::size_t rows, std::size_t cols, T* dst) {
  constexpr std::size_t kTile = 32;
  for (std::size_t r0 = 0; r0 < rows; r0 += kTile)
    for (std::size_t c0 = 0; c0 < cols; c0 += kTile) {
      const std::size_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
    }
}

/// grad(input i) (= or +=) f(k) for every element k, input i having the output's size: the
/// element-wise backward of a same-shape op as one plain (vectorisable) loop. Does nothing when
/// input i needs no gradient.
template <class T, class F>
void grad_elementwise(BackwardContext<T>& c, std::size_t i, F f) {
  if (!c.needs_grad(i)) return;
  bool fresh = false;
  Tensor<T>& gt = c.grad_buffer(i, fresh);
  T* __restrict g = gt.data();
  const std::size_t n = gt.size();
  if (fresh)
    for (std::size_t k = 0; k < n; ++k) g[k] = f(k);
  else
    for (std::size_t k = 0; k < n; ++k) g[k] += f(k);
}

/// dst (= or +=) src, element by element, over n elements.
template <class T>
void add_into(T* dst, const T* src, std::size_t n, bool overwrite) {
  if (overwrite)
    std::memcpy(dst, src, n * sizeof(T));
  else
    for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace detail
}  // namespace tapegrad
