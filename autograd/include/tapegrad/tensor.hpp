#pragma once
// Tensors are xtensor arrays: dynamic rank, row-major. float for training, double for checks.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace tapegrad {

template <class T>
using Tensor = xt::xarray<T>;

/// A shape as xtensor stores it (inline storage up to rank 4, no heap allocation).
using Shape = xt::xarray<float>::shape_type;

/// Class indices for gather_rows, one_hot and softmax_cross_entropy.
using Indices = std::vector<std::int64_t>;

/// A tensor of the given shape with every element equal to `value` (NumPy's full).
/// Handy because xtensor's `Tensor<T>{{v}}` is ambiguous for a single element.
template <class T>
Tensor<T> full(const Shape& shape, T value) {
  Tensor<T> t = Tensor<T>::from_shape(shape);
  t.fill(value);
  return t;
}

namespace detail {
/// Whether two shapes are equal, compared in a plain loop: xtensor's operator== and std::equal
/// call memcmp, and on shapes of one to four numbers the call cost more than the comparison (4%
/// of the (5, 1, 4, 5) RNN step under perf, from the checks every op and gradient buffer makes).
template <class A, class B>
bool same_shape(const A& a, const B& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k] != b[k]) return false;
  return true;
}
}  // namespace detail

/// "[2, 3]" -- used in every error message that reports a shape.
template <class S>
std::string shape_str(const S& shape) {
  std::ostringstream os;
  os << '[';
  bool first = true;
  for (auto d : shape) {
    os << (first ? "" : ", ") << d;
    first = false;
  }
  os << ']';
  return os.str();
}

}  // namespace tapegrad
