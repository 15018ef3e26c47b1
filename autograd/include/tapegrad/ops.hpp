#pragma once
// The built-in ops. Each records one node on its inputs' tape. An op lives in one place, its
// family's header in ops/: the struct with its math, forward and backward side by side, then
// the public function that checks the inputs and records it. All work for float and double;
// docs/derivatives.md lists every op's vector-Jacobian products.
//
// Broadcasting follows NumPy: shapes are aligned from the right and a size-1 axis stretches.
// The gradient of a broadcast input is summed back to that input's shape.
// Axis arguments may be negative (counted from the end), as in NumPy.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapegrad/op.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/loss.hpp"
#include "tapegrad/ops/recurrent.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"

namespace tapegrad {

// ---- operators ----
// The scalar side is not deduced, so `x * 2.0` works on a Var<float>.
namespace detail {
template <class T>
struct nondeduced {
  using type = T;
};
template <class T>
using scalar_t = typename nondeduced<T>::type;
}  // namespace detail
template <class T>
Var<T> operator+(const Var<T>& a, const Var<T>& b) {
  return add(a, b);
}
template <class T>
Var<T> operator-(const Var<T>& a, const Var<T>& b) {
  return sub(a, b);
}
template <class T>
Var<T> operator*(const Var<T>& a, const Var<T>& b) {
  return mul(a, b);
}
template <class T>
Var<T> operator/(const Var<T>& a, const Var<T>& b) {
  return div(a, b);
}
template <class T>
Var<T> operator-(const Var<T>& a) {
  return neg(a);
}
template <class T>
Var<T> operator+(const Var<T>& a, detail::scalar_t<T> s) {
  return add_scalar(a, s);
}
template <class T>
Var<T> operator+(detail::scalar_t<T> s, const Var<T>& a) {
  return add_scalar(a, s);
}
template <class T>
Var<T> operator-(const Var<T>& a, detail::scalar_t<T> s) {
  return add_scalar(a, -s);
}
template <class T>
Var<T> operator-(detail::scalar_t<T> s, const Var<T>& a) {
  return rsub_scalar(a, s);
}
template <class T>
Var<T> operator*(const Var<T>& a, detail::scalar_t<T> s) {
  return mul_scalar(a, s);
}
template <class T>
Var<T> operator*(detail::scalar_t<T> s, const Var<T>& a) {
  return mul_scalar(a, s);
}
template <class T>
Var<T> operator/(const Var<T>& a, detail::scalar_t<T> s) {
  return mul_scalar(a, T(1) / s);
}
template <class T>
Var<T> operator/(detail::scalar_t<T> s, const Var<T>& a) {
  return rdiv_scalar(a, s);
}

}  // namespace tapegrad
