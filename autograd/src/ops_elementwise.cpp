// Element-wise ops. Each struct: forward, then its vector-Jacobian product.
// Binary ops broadcast (NumPy rules); accumulate_grad sums gradients back to each input's shape.
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "kernels.hpp"
#include "simd.hpp"

namespace tapegrad {
namespace {

template <class T>
void check_broadcast(const char* op, ForwardContext<T>& c) {
  if (c.input(0).shape() != c.input(1).shape())
    detail::broadcast_shapes(op, c.input(0).shape(), c.input(1).shape());
}

// The common case of a binary op, both inputs of one shape, as a plain loop y[k] = f(a[k], b[k])
// (no broadcasting machinery). Returns false when the shapes differ: the caller broadcasts.
template <class T, class F>
bool same_shape_forward(ForwardContext<T>& c, F f) {
  const Tensor<T>& a = c.input(0);
  const Tensor<T>& b = c.input(1);
  if (a.shape() != b.shape()) return false;
  T* __restrict y = detail::output_shaped(c, a.shape()).data();
  const T* pa = a.data();
  const T* pb = b.data();
  for (std::size_t k = 0, n = a.size(); k < n; ++k) y[k] = f(pa[k], pb[k]);
  return true;
}
template <class T>
bool same_shape_as_output(BackwardContext<T>& c, std::size_t i) {
  return c.input(i).shape() == c.grad_output().shape();
}

// y = a + b;  da += gy, db += gy
struct Add {
  static constexpr const char* name = "add";
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

// y = a - b;  da += gy, db -= gy
struct Sub {
  static constexpr const char* name = "sub";
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

// y = a * b;  da += gy * b, db += gy * a
struct Mul {
  static constexpr const char* name = "mul";
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

// y = a / b;  da += gy / b, db -= gy * y / b
struct Div {
  static constexpr const char* name = "div";
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

// y = f(x) element by element, as a plain loop.
template <class T, class F>
void unary_forward(ForwardContext<T>& c, F f) {
  const Tensor<T>& x = c.input(0);
  T* __restrict y = detail::output_shaped(c, x.shape()).data();
  const T* px = x.data();
  for (std::size_t k = 0, n = x.size(); k < n; ++k) y[k] = f(px[k]);
}

// y = -x;  dx -= gy
struct Neg {
  static constexpr const char* name = "neg";
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

// y = x + s;  dx += gy
struct AddScalar {
  static constexpr const char* name = "add_scalar";
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

// y = x * s;  dx += gy * s
struct MulScalar {
  static constexpr const char* name = "mul_scalar";
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

// y = s - x;  dx -= gy
struct RSubScalar {
  static constexpr const char* name = "rsub_scalar";
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

// y = s / x;  dx -= gy * y / x
struct RDivScalar {
  static constexpr const char* name = "rdiv_scalar";
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

// y = e^x;  dx += gy * y
struct Exp {
  static constexpr const char* name = "exp";
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

// y = ln x;  dx += gy / x
struct Log {
  static constexpr const char* name = "log";
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::log(c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / c.input(0));
  }
};

// y = tanh x;  dx += gy * (1 - y^2)
struct Tanh {
  static constexpr const char* name = "tanh";
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

// y = 1 / (1 + e^-x);  dx += gy * y * (1 - y). For x -> -inf, e^-x -> inf and y -> 0: no NaN.
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
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

// y = max(x, 0);  dx += gy where x > 0
struct Relu {
  static constexpr const char* name = "relu";
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

// y = x^2;  dx += 2 gy x
struct Square {
  static constexpr const char* name = "square";
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

// y = x^p;  dx += gy p x^(p-1)
struct Pow {
  static constexpr const char* name = "pow";
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

// y = sqrt x;  dx += gy / (2 y)
struct Sqrt {
  static constexpr const char* name = "sqrt";
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::sqrt(c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / (T(2) * c.output()));
  }
};

}  // namespace

template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b) {
  return apply(Add{}, a, b);
}
template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b) {
  return apply(Sub{}, a, b);
}
template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b) {
  return apply(Mul{}, a, b);
}
template <class T>
Var<T> div(const Var<T>& a, const Var<T>& b) {
  return apply(Div{}, a, b);
}
template <class T>
Var<T> neg(const Var<T>& a) {
  return apply(Neg{}, a);
}
template <class T>
Var<T> add_scalar(const Var<T>& a, T s) {
  return apply(AddScalar{s}, a);
}
template <class T>
Var<T> mul_scalar(const Var<T>& a, T s) {
  return apply(MulScalar{s}, a);
}
template <class T>
Var<T> rsub_scalar(const Var<T>& a, T s) {
  return apply(RSubScalar{s}, a);
}
template <class T>
Var<T> rdiv_scalar(const Var<T>& a, T s) {
  return apply(RDivScalar{s}, a);
}
template <class T>
Var<T> exp(const Var<T>& x) {
  return apply(Exp{}, x);
}
template <class T>
Var<T> log(const Var<T>& x) {
  return apply(Log{}, x);
}
template <class T>
Var<T> tanh(const Var<T>& x) {
  return apply(Tanh{}, x);
}
template <class T>
Var<T> sigmoid(const Var<T>& x) {
  return apply(Sigmoid{}, x);
}
template <class T>
Var<T> relu(const Var<T>& x) {
  return apply(Relu{}, x);
}
template <class T>
Var<T> square(const Var<T>& x) {
  return apply(Square{}, x);
}
template <class T>
Var<T> pow(const Var<T>& x, T p) {
  return apply(Pow{p}, x);
}
template <class T>
Var<T> sqrt(const Var<T>& x) {
  return apply(Sqrt{}, x);
}

#define TAPEGRAD_BINARY(fn)                                                 \
  TAPEGRAD_INSTANTIATE(Var<float> fn(const Var<float>&, const Var<float>&), \
                       Var<double> fn(const Var<double>&, const Var<double>&))
#define TAPEGRAD_UNARY(fn) \
  TAPEGRAD_INSTANTIATE(Var<float> fn(const Var<float>&), Var<double> fn(const Var<double>&))
#define TAPEGRAD_SCALAR(fn)                                     \
  TAPEGRAD_INSTANTIATE(Var<float> fn(const Var<float>&, float), \
                       Var<double> fn(const Var<double>&, double))
TAPEGRAD_BINARY(add)
TAPEGRAD_BINARY(sub)
TAPEGRAD_BINARY(mul)
TAPEGRAD_BINARY(div)
TAPEGRAD_UNARY(neg)
TAPEGRAD_SCALAR(add_scalar)
TAPEGRAD_SCALAR(mul_scalar)
TAPEGRAD_SCALAR(rsub_scalar)
TAPEGRAD_SCALAR(rdiv_scalar)
TAPEGRAD_UNARY(exp)
TAPEGRAD_UNARY(log)
TAPEGRAD_UNARY(tanh)
TAPEGRAD_UNARY(sigmoid)
TAPEGRAD_UNARY(relu)
TAPEGRAD_UNARY(square)
TAPEGRAD_SCALAR(pow)
TAPEGRAD_UNARY(sqrt)

namespace detail {
void link_ops_elementwise() {}  // see registered_ops()
}  // namespace detail

}  // namespace tapegrad
