#pragma once
// Element-wise ops. Each struct: forward, then its vector-Jacobian product.
// Binary ops broadcast (NumPy rules); accumulate_grad sums gradients back to each input's shape.
#include <cmath>
#include <cstdint>
#include <string>

#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "tapegrad/detail/simd.hpp"
#include "tapegrad/op.hpp"

namespace tapegrad {
namespace ops {

template <class T>
void check_broadcast(const char* op, ForwardContext<T>& c) {
  if (!detail::same_shape(c.input(0).shape(), c.input(1).shape()))
    detail::broadcast_shapes(op, c.input(0).shape(), c.input(1).shape());
}

// The common case of a binary op, both inputs of one shape, as a plain loop y[k] = f(a[k], b[k])
// (no broadcasting machinery). Returns false when the shapes differ: the caller broadcasts.
template <class T, class F>
bool same_shape_forward(ForwardContext<T>& c, F f) {
  const Tensor<T>& a = c.input(0);
  const Tensor<T>& b = c.input(1);
  if (!detail::same_shape(a.shape(), b.shape())) return false;
  T* __restrict y = detail::output_shaped(c, a.shape()).data();
  const T* pa = a.data();
  const T* pb = b.data();
  for (std::size_t k = 0, n = a.size(); k < n; ++k) y[k] = f(pa[k], pb[k]);
  return true;
}
template <class T>
bool same_shape_as_output(BackwardContext<T>& c, std::size_t i) {
  return detail::same_shape(c.input(i).shape(), c.grad_output().shape());
}

struct Add {
  static constexpr const char* name = "add";
  static constexpr OpMath math{"y = a + b", {{"a", "gy"}, {"b", "gy"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    if (same_shape_forward(c, [](T a, T b) { return a + b; })) return;
    check_broadcast(name, c);
    xt::noalias(c.output()) = c.input(0) + c.input(1);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    for (std::size_t i = 0; i < 2; ++i) {
      if (same_shape_as_output(c, i))
        detail::grad_elementwise(c, i, [gy](std::size_t k) { return gy[k]; });
      else
        c.accumulate_grad(i, c.grad_output());
    }
  }
};
TAPEGRAD_BUILTIN_OP(Add);

struct Sub {
  static constexpr const char* name = "sub";
  static constexpr OpMath math{"y = a - b", {{"a", "gy"}, {"b", "-gy"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    if (same_shape_forward(c, [](T a, T b) { return a - b; })) return;
    check_broadcast(name, c);
    xt::noalias(c.output()) = c.input(0) - c.input(1);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    if (same_shape_as_output(c, 0))
      detail::grad_elementwise(c, 0, [gy](std::size_t k) { return gy[k]; });
    else
      c.accumulate_grad(0, c.grad_output());
    if (same_shape_as_output(c, 1))
      detail::grad_elementwise(c, 1, [gy](std::size_t k) { return -gy[k]; });
    else
      c.accumulate_grad(1, -c.grad_output());
  }
};
TAPEGRAD_BUILTIN_OP(Sub);

struct Mul {
  static constexpr const char* name = "mul";
  static constexpr OpMath math{"y = a * b", {{"a", "gy * b"}, {"b", "gy * a"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    if (same_shape_forward(c, [](T a, T b) { return a * b; })) return;
    check_broadcast(name, c);
    xt::noalias(c.output()) = c.input(0) * c.input(1);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    if (same_shape_as_output(c, 0) && same_shape_as_output(c, 1)) {
      const T* a = c.input(0).data();
      const T* b = c.input(1).data();
      detail::grad_elementwise(c, 0, [gy, b](std::size_t k) { return gy[k] * b[k]; });
      detail::grad_elementwise(c, 1, [gy, a](std::size_t k) { return gy[k] * a[k]; });
      return;
    }
    c.accumulate_grad(0, c.grad_output() * c.input(1));
    c.accumulate_grad(1, c.grad_output() * c.input(0));
  }
};
TAPEGRAD_BUILTIN_OP(Mul);

struct Div {
  static constexpr const char* name = "div";
  static constexpr OpMath math{"y = a / b", {{"a", "gy / b"}, {"b", "-gy * y / b"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    if (same_shape_forward(c, [](T a, T b) { return a / b; })) return;
    check_broadcast(name, c);
    xt::noalias(c.output()) = c.input(0) / c.input(1);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / c.input(1));
    c.accumulate_grad(1, -c.grad_output() * c.output() / c.input(1));
  }
};
TAPEGRAD_BUILTIN_OP(Div);

// y = f(x) element by element, as a plain loop.
template <class T, class F>
void unary_forward(ForwardContext<T>& c, F f) {
  const Tensor<T>& x = c.input(0);
  T* __restrict y = detail::output_shaped(c, x.shape()).data();
  const T* px = x.data();
  for (std::size_t k = 0, n = x.size(); k < n; ++k) y[k] = f(px[k]);
}

struct Neg {
  static constexpr const char* name = "neg";
  static constexpr OpMath math{"y = -x", {{"x", "-gy"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    unary_forward(c, [](T x) { return -x; });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    detail::grad_elementwise(c, 0, [gy](std::size_t k) { return -gy[k]; });
  }
};
TAPEGRAD_BUILTIN_OP(Neg);

struct AddScalar {
  static constexpr const char* name = "add_scalar";
  static constexpr OpMath math{"y = x + s", {{"x", "gy"}}};
  double s;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    unary_forward(c, [v = T(s)](T x) { return x + v; });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    detail::grad_elementwise(c, 0, [gy](std::size_t k) { return gy[k]; });
  }
};
TAPEGRAD_BUILTIN_OP(AddScalar);

struct MulScalar {
  static constexpr const char* name = "mul_scalar";
  static constexpr OpMath math{"y = x * s", {{"x", "gy * s"}}};
  double s;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    unary_forward(c, [v = T(s)](T x) { return x * v; });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    detail::grad_elementwise(c, 0, [gy, v = T(s)](std::size_t k) { return gy[k] * v; });
  }
};
TAPEGRAD_BUILTIN_OP(MulScalar);

struct RSubScalar {
  static constexpr const char* name = "rsub_scalar";
  static constexpr OpMath math{"y = s - x", {{"x", "-gy"}}};
  double s;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    unary_forward(c, [v = T(s)](T x) { return v - x; });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    detail::grad_elementwise(c, 0, [gy](std::size_t k) { return -gy[k]; });
  }
};
TAPEGRAD_BUILTIN_OP(RSubScalar);

struct RDivScalar {
  static constexpr const char* name = "rdiv_scalar";
  static constexpr OpMath math{"y = s / x", {{"x", "-gy * y / x"}}};
  double s;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = T(s) / c.input(0);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, -c.grad_output() * c.output() / c.input(0));
  }
};
TAPEGRAD_BUILTIN_OP(RDivScalar);

struct Exp {
  static constexpr const char* name = "exp";
  static constexpr OpMath math{"y = exp(x)", {{"x", "gy * y"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    detail::simd::exp(detail::output_shaped(c, x.shape()).data(), x.data(), x.size());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    const T* y = c.output().data();
    detail::grad_elementwise(c, 0, [gy, y](std::size_t k) { return gy[k] * y[k]; });
  }
};
TAPEGRAD_BUILTIN_OP(Exp);

struct Log {
  static constexpr const char* name = "log";
  static constexpr OpMath math{"y = log(x)", {{"x", "gy / x"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::log(c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / c.input(0));
  }
};
TAPEGRAD_BUILTIN_OP(Log);

struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr OpMath math{"y = tanh(x)", {{"x", "gy * (1 - y^2)"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    detail::simd::tanh(detail::output_shaped(c, x.shape()).data(), x.data(), x.size());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    const T* y = c.output().data();
    detail::grad_elementwise(c, 0, [gy, y](std::size_t k) { return gy[k] * (T(1) - y[k] * y[k]); });
  }
};
TAPEGRAD_BUILTIN_OP(Tanh);

// For x -> -inf, e^-x -> inf and y -> 0: no NaN.
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr OpMath math{"y = 1 / (1 + exp(-x))", {{"x", "gy * y * (1 - y)"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    detail::simd::sigmoid(detail::output_shaped(c, x.shape()).data(), x.data(), x.size());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    const T* y = c.output().data();
    detail::grad_elementwise(c, 0, [gy, y](std::size_t k) { return gy[k] * y[k] * (T(1) - y[k]); });
  }
};
TAPEGRAD_BUILTIN_OP(Sigmoid);

struct Relu {
  static constexpr const char* name = "relu";
  static constexpr OpMath math{"y = max(x, 0)", {{"x", "gy * (x > 0)"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    // where(x < 0, 0, x) rather than max(x, 0): a NaN input stays NaN, as in PyTorch.
    xt::noalias(c.output()) = xt::where(c.input(0) < T(0), T(0), c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, xt::where(c.input(0) > T(0), c.grad_output(), T(0)));
  }
};
TAPEGRAD_BUILTIN_OP(Relu);

struct Square {
  static constexpr const char* name = "square";
  static constexpr OpMath math{"y = x^2", {{"x", "2 * gy * x"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    unary_forward(c, [](T x) { return x * x; });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    const T* x = c.input(0).data();
    detail::grad_elementwise(c, 0, [gy, x](std::size_t k) { return T(2) * gy[k] * x[k]; });
  }
};
TAPEGRAD_BUILTIN_OP(Square);

struct Pow {
  static constexpr const char* name = "pow";
  static constexpr OpMath math{"y = x^p", {{"x", "gy * p * x^(p - 1)  (0 when p = 0)"}}};
  double p;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::pow(c.input(0), T(p));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    if (p == 0) return;  // y = 1: zero gradient, also at x = 0 where 0 * x^-1 would be NaN
    c.accumulate_grad(0, c.grad_output() * T(p) * xt::pow(c.input(0), T(p - 1)));
  }
};
TAPEGRAD_BUILTIN_OP(Pow);

struct Sqrt {
  static constexpr const char* name = "sqrt";
  static constexpr OpMath math{"y = sqrt(x)", {{"x", "gy / (2 * y)"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::sqrt(c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / (T(2) * c.output()));
  }
};
TAPEGRAD_BUILTIN_OP(Sqrt);

// Inverted dropout. The mask is not stored: element k is kept when a hash of (seed, k) --
// splitmix64's finaliser over seed + (k + 1) * 2^64/phi, a bijection, so neighbouring elements
// get unrelated bits -- taken as a 53-bit fraction u_k in [0, 1) is >= p. Forward and backward
// recompute it, so the mask costs no memory on the tape, and one seed fixes the whole mask
// (gradient checks re-record the op with the same seed and see the same function).
struct Dropout {
  static constexpr const char* name = "dropout";
  static constexpr OpMath math{"y = x * m / (1 - p),  m_k = [u(seed, k) >= p]",
                               {{"x", "gy * m / (1 - p)"}}};
  double p;
  std::uint64_t seed;

  static std::uint64_t hash(std::uint64_t seed, std::size_t k) {
    std::uint64_t z = seed + (std::uint64_t(k) + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // u_k >= p  <=>  (hash >> 11) >= p * 2^53, and p * 2^53 is exact in a double: the integer
  // compare keeps exactly the elements the real-number rule keeps.
  std::uint64_t threshold() const { return std::uint64_t(std::ceil(p * 9007199254740992.0)); }
  /// Whether element k is kept.
  bool keeps(std::size_t k) const { return (hash(seed, k) >> 11) >= threshold(); }

  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    T* __restrict y = detail::output_shaped(c, x.shape()).data();
    const T* px = x.data();
    const T scale = T(1 / (1 - p));
    const std::uint64_t cut = threshold();
    for (std::size_t k = 0, n = x.size(); k < n; ++k)
      y[k] = (hash(seed, k) >> 11) >= cut ? px[k] * scale : T(0);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T* gy = c.grad_output().data();
    const T scale = T(1 / (1 - p));
    const std::uint64_t cut = threshold();
    const std::uint64_t s = seed;
    detail::grad_elementwise(c, 0, [gy, scale, cut, s](std::size_t k) {
      return (hash(s, k) >> 11) >= cut ? gy[k] * scale : T(0);
    });
  }
};
TAPEGRAD_BUILTIN_OP(Dropout);

}  // namespace ops

// ---- element-wise arithmetic (NumPy broadcasting) ----
template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b) {
  return apply(ops::Add{}, a, b);
}
template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b) {
  return apply(ops::Sub{}, a, b);
}
template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b) {
  return apply(ops::Mul{}, a, b);
}
template <class T>
Var<T> div(const Var<T>& a, const Var<T>& b) {
  return apply(ops::Div{}, a, b);
}
template <class T>
Var<T> neg(const Var<T>& a) {
  return apply(ops::Neg{}, a);
}
// Scalar forms: a + s, a * s, s - a, s / a.
template <class T>
Var<T> add_scalar(const Var<T>& a, T s) {
  return apply(ops::AddScalar{s}, a);
}
template <class T>
Var<T> mul_scalar(const Var<T>& a, T s) {
  return apply(ops::MulScalar{s}, a);
}
template <class T>
Var<T> rsub_scalar(const Var<T>& a, T s) {
  return apply(ops::RSubScalar{s}, a);
}
template <class T>
Var<T> rdiv_scalar(const Var<T>& a, T s) {
  return apply(ops::RDivScalar{s}, a);
}
// ---- element-wise functions ----
template <class T>
Var<T> exp(const Var<T>& x) {
  return apply(ops::Exp{}, x);
}
template <class T>
Var<T> log(const Var<T>& x) {
  return apply(ops::Log{}, x);
}
template <class T>
Var<T> tanh(const Var<T>& x) {
  return apply(ops::Tanh{}, x);
}
template <class T>
Var<T> sigmoid(const Var<T>& x) {
  return apply(ops::Sigmoid{}, x);
}
template <class T>
Var<T> relu(const Var<T>& x) {
  return apply(ops::Relu{}, x);
}
template <class T>
Var<T> square(const Var<T>& x) {
  return apply(ops::Square{}, x);
}
template <class T>
Var<T> pow(const Var<T>& x, T p) {
  return apply(ops::Pow{p}, x);
}
template <class T>
Var<T> sqrt(const Var<T>& x) {
  return apply(ops::Sqrt{}, x);
}
/// Inverted dropout: each element kept with probability 1 - p and scaled by 1 / (1 - p), so
/// E[y] = x; the mask is a function of `seed` (ops::Dropout), which a caller draws from its
/// seeded generator once per call. The identity (x itself, nothing recorded) when p is 0 or
/// gradients are off (NoGradGuard): evaluation never drops. p outside [0, 1) is an Error.
template <class T>
Var<T> dropout(const Var<T>& x, double p, std::uint64_t seed) {
  if (!(p >= 0 && p < 1))
    throw Error("dropout: expected a probability in [0, 1), got " + std::to_string(p));
  if (p == 0 || !grad_enabled()) return x;
  return apply(ops::Dropout{p, seed}, x);
}

#define TAPEGRAD_BINARY(fn)

}  // namespace tapegrad
