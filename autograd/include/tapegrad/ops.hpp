#pragma once
// The built-in ops. Each records one node on its inputs' tape; its forward and backward live
// side by side in autograd/src/ops_*.cpp. All are available for float and double.
//
// Broadcasting follows NumPy: shapes are aligned from the right and a size-1 axis stretches.
// The gradient of a broadcast input is summed back to that input's shape.
// Axis arguments may be negative (counted from the end), as in NumPy.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapegrad/op.hpp"

namespace tapegrad {

// ---- element-wise arithmetic (broadcasting) ----
template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> div(const Var<T>& a, const Var<T>& b);
template <class T>
Var<T> neg(const Var<T>& a);
// scalar forms: a + s, a - s, s - a, a * s, a / s, s / a
template <class T>
Var<T> add_scalar(const Var<T>& a, T s);
template <class T>
Var<T> mul_scalar(const Var<T>& a, T s);
template <class T>
Var<T> rsub_scalar(const Var<T>& a, T s);  // s - a
template <class T>
Var<T> rdiv_scalar(const Var<T>& a, T s);  // s / a

// ---- element-wise functions ----
template <class T>
Var<T> exp(const Var<T>& x);
template <class T>
Var<T> log(const Var<T>& x);
template <class T>
Var<T> tanh(const Var<T>& x);
template <class T>
Var<T> sigmoid(const Var<T>& x);
template <class T>
Var<T> relu(const Var<T>& x);
template <class T>
Var<T> square(const Var<T>& x);
template <class T>
Var<T> pow(const Var<T>& x, T exponent);
template <class T>
Var<T> sqrt(const Var<T>& x);

// ---- linear algebra ----
/// [n,k] x [k,m] -> [n,m] through BLAS; [b,n,k] x [b,k,m] -> [b,n,m] (batched);
/// [b,n,k] x [k,m] -> [b,n,m] (one weight for the whole batch). With a Tape::one_hot a, the
/// product is a row gather of b (and linear's a column gather of the weight): no GEMM.
template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b);
/// x W^T (+ b) with the weight stored [out, in] as in PyTorch: x [n, in] or [b, n, in].
/// One GEMM that reads W transposed in place (no copy), the bias added in the same pass.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight);
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight, const Var<T>& bias);
/// addend + x W^T + b (PyTorch's addmm): the addend, shaped like the output, is copied into the
/// output and the GEMM adds onto it, so an RNN step h W_hh^T + b_hh + (x W_ih^T + b_ih) is one op.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight, const Var<T>& bias, const Var<T>& addend);
/// x W_x^T + h W_h^T (+ b_x + b_h), x [n, in_x], h [n, in_h], both weights [out, in_*]: a
/// recurrent cell's pre-activation in one op (one output written once, one pass over its
/// gradient for both biases). A Tape::one_hot x or h is a column gather of its weight.
template <class T>
Var<T> linear_pair(const Var<T>& x, const Var<T>& weight_x, const Var<T>& h,
                   const Var<T>& weight_h);
template <class T>
Var<T> linear_pair(const Var<T>& x, const Var<T>& weight_x, const Var<T>& h, const Var<T>& weight_h,
                   const Var<T>& bias_x, const Var<T>& bias_h);
/// Permutes axes; with no permutation, reverses them (a matrix's transpose).
template <class T>
Var<T> transpose(const Var<T>& x, const std::vector<std::size_t>& perm = {});

// ---- shape ----
/// Same elements in a new shape; one entry may be -1 (inferred).
template <class T>
Var<T> reshape(const Var<T>& x, const std::vector<std::ptrdiff_t>& shape);
/// Elements start, start+step, ... (< stop) along `axis`. stop is clamped to the axis length.
template <class T>
Var<T> slice(const Var<T>& x, std::ptrdiff_t axis, std::size_t start, std::size_t stop,
             std::size_t step = 1);
/// Joins tensors along an existing axis; all other axes must agree.
template <class T>
Var<T> concat(const std::vector<Var<T>>& xs, std::ptrdiff_t axis);
/// Joins same-shaped tensors along a new axis.
template <class T>
Var<T> stack(const std::vector<Var<T>>& xs, std::ptrdiff_t axis = 0);

// ---- reductions ----
template <class T>
Var<T> sum(const Var<T>& x);  // all elements -> shape []
template <class T>
Var<T> sum(const Var<T>& x, std::ptrdiff_t axis, bool keepdims = false);
template <class T>
Var<T> mean(const Var<T>& x);
template <class T>
Var<T> mean(const Var<T>& x, std::ptrdiff_t axis, bool keepdims = false);

// ---- softmax family ----
template <class T>
Var<T> softmax(const Var<T>& x, std::ptrdiff_t axis = -1);
template <class T>
Var<T> log_softmax(const Var<T>& x, std::ptrdiff_t axis = -1);

// ---- losses ----
/// Mean over rows of -log softmax(logits)[target]: logits [N, C] (or [C] for one row), one
/// class index per row. Fused and stable: the gradient is (softmax - one_hot) / N.
template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const Indices& targets);
/// Same, with targets held in a tensor of whole numbers (e.g. read from a float data file);
/// a non-integer, negative or out-of-range target is an error.
template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const Tensor<T>& targets);
/// mean((prediction - target)^2); both shapes must be equal.
template <class T>
Var<T> mse_loss(const Var<T>& prediction, const Var<T>& target);

// ---- lookup ----
/// Rows of `table` [V, D] at `indices` -> [N, D]: an embedding lookup. The backward adds each
/// row's gradient into its table row (repeated indices accumulate).
template <class T>
Var<T> gather_rows(const Var<T>& table, const Indices& indices);
/// [N, num_classes] with a 1 at each index: data, not differentiable (use tape.constant()).
template <class T>
Tensor<T> one_hot(const Indices& indices, std::size_t num_classes);

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
