#pragma once
// Reductions (sum, mean; over everything or one axis) and the softmax family over any axis.
// All walk a tensor as [outer, len, inner] around the reduced axis; the sums accumulate in
// double so that float reductions of long rows stay accurate.
#include <cmath>
#include <limits>

#include "tapegrad/op.hpp"

namespace tapegrad {
namespace ops {

struct SumAll {
  static constexpr const char* name = "sum";
  static constexpr OpMath math{"y = sum(x)", {{"x", "gy (broadcast to every element)"}}};
  bool mean;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    if (mean && x.size() == 0) throw Error("mean: the input " + shape_str(x.shape()) + " is empty");
    double s = 0;
    const T* p = x.data();
    for (std::size_t i = 0, n = x.size(); i < n; ++i) s += p[i];
    Tensor<T>& y = c.output();
    y.resize(Shape{});
    y() = static_cast<T>(mean ? s / static_cast<double>(x.size()) : s);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const std::size_t n = c.input(0).size();
    const T g = c.grad_output()() * (mean ? T(1) / static_cast<T>(n) : T(1));
    bool fresh = false;
    Tensor<T>& gx = c.grad_buffer(0, fresh);
    T* p = gx.data();
    if (fresh)
      std::fill(p, p + n, g);
    else
      for (std::size_t i = 0; i < n; ++i) p[i] += g;
  }
};
TAPEGRAD_BUILTIN_OP(SumAll);
struct MeanAll : SumAll {
  static constexpr const char* name = "mean";
  static constexpr OpMath math{"y = sum(x) / n", {{"x", "gy / n"}}};
};
TAPEGRAD_BUILTIN_OP(MeanAll);

// y[o,i] = scale * sum_j x[o,j,i];  dx[o,j,i] += scale * gy[o,i]
struct SumAxis {
  static constexpr const char* name = "sum_axis";
  static constexpr OpMath math{"y = sum(x, axis)", {{"x", "gy broadcast along axis"}}};
  std::size_t axis;
  bool keepdims, mean;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const detail::AxisSplit a = detail::split_at(x.shape(), axis);
    if (mean && a.len == 0)
      throw Error("mean: axis " + std::to_string(axis) + " of " + shape_str(x.shape()) +
                  " is empty");
    Shape s;
    for (std::size_t k = 0; k < x.dimension(); ++k)
      if (k != axis)
        s.push_back(x.shape()[k]);
      else if (keepdims)
        s.push_back(1);
    Tensor<T>& y = c.output();
    y.resize(s);
    const double scale = mean ? 1.0 / static_cast<double>(a.len) : 1.0;
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t i = 0; i < a.inner; ++i) {
        double acc = 0;
        for (std::size_t j = 0; j < a.len; ++j) acc += x.data()[(o * a.len + j) * a.inner + i];
        y.data()[o * a.inner + i] = static_cast<T>(acc * scale);
      }
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const detail::AxisSplit a = detail::split_at(c.input(0).shape(), axis);
    const T scale = mean ? T(1) / static_cast<T>(a.len) : T(1);
    bool fresh = false;
    T* gx = c.grad_buffer(0, fresh).data();
    const T* gy = c.grad_output().data();
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t j = 0; j < a.len; ++j) {
        T* row = gx + (o * a.len + j) * a.inner;
        const T* src = gy + o * a.inner;
        for (std::size_t i = 0; i < a.inner; ++i) row[i] = (fresh ? T(0) : row[i]) + scale * src[i];
      }
  }
};
TAPEGRAD_BUILTIN_OP(SumAxis);
struct MeanAxis : SumAxis {
  static constexpr const char* name = "mean_axis";
  static constexpr OpMath math{"y = sum(x, axis) / len(axis)",
                               {{"x", "gy broadcast along axis / len(axis)"}}};
};
TAPEGRAD_BUILTIN_OP(MeanAxis);

// Runs f(row pointer, stride) over every 1-D line along the axis.
template <class F>
void for_each_line(const detail::AxisSplit& a, F&& f) {
  for (std::size_t o = 0; o < a.outer; ++o)
    for (std::size_t i = 0; i < a.inner; ++i) f(o * a.len * a.inner + i, a.inner);
}

struct Softmax {
  static constexpr const char* name = "softmax";
  static constexpr OpMath math{"y = exp(x - max) / sum(exp(x - max)) along axis",
                               {{"x", "y * (gy - sum(gy * y, axis))"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    Tensor<T>& y = c.output();
    y.resize(x.shape());
    const detail::AxisSplit a = detail::split_at(x.shape(), axis);
    for_each_line(a, [&](std::size_t base, std::size_t st) {
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t j = 0; j < a.len; ++j) m = std::max(m, x.data()[base + j * st]);
      double s = 0;
      for (std::size_t j = 0; j < a.len; ++j) {
        const T e = std::exp(x.data()[base + j * st] - m);
        y.data()[base + j * st] = e;
        s += e;
      }
      const T inv = static_cast<T>(1.0 / s);
      for (std::size_t j = 0; j < a.len; ++j) y.data()[base + j * st] *= inv;
    });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& y = c.output();
    const T* gy = c.grad_output().data();
    bool fresh = false;
    T* gx = c.grad_buffer(0, fresh).data();
    const detail::AxisSplit a = detail::split_at(y.shape(), axis);
    for_each_line(a, [&](std::size_t base, std::size_t st) {
      double dot = 0;
      for (std::size_t j = 0; j < a.len; ++j) dot += gy[base + j * st] * y.data()[base + j * st];
      for (std::size_t j = 0; j < a.len; ++j) {
        const std::size_t k = base + j * st;
        const T d = y.data()[k] * (gy[k] - static_cast<T>(dot));
        gx[k] = fresh ? d : gx[k] + d;
      }
    });
  }
};
TAPEGRAD_BUILTIN_OP(Softmax);

struct LogSoftmax {
  static constexpr const char* name = "log_softmax";
  static constexpr OpMath math{"y = x - max - log(sum(exp(x - max))) along axis",
                               {{"x", "gy - exp(y) * sum(gy, axis)"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    Tensor<T>& y = c.output();
    y.resize(x.shape());
    const detail::AxisSplit a = detail::split_at(x.shape(), axis);
    for_each_line(a, [&](std::size_t base, std::size_t st) {
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t j = 0; j < a.len; ++j) m = std::max(m, x.data()[base + j * st]);
      double s = 0;
      for (std::size_t j = 0; j < a.len; ++j) s += std::exp(x.data()[base + j * st] - m);
      const T lse = m + static_cast<T>(std::log(s));
      for (std::size_t j = 0; j < a.len; ++j)
        y.data()[base + j * st] = x.data()[base + j * st] - lse;
    });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& y = c.output();
    const T* gy = c.grad_output().data();
    bool fresh = false;
    T* gx = c.grad_buffer(0, fresh).data();
    const detail::AxisSplit a = detail::split_at(y.shape(), axis);
    for_each_line(a, [&](std::size_t base, std::size_t st) {
      double s = 0;
      for (std::size_t j = 0; j < a.len; ++j) s += gy[base + j * st];
      for (std::size_t j = 0; j < a.len; ++j) {
        const std::size_t k = base + j * st;
        const T d = gy[k] - std::exp(y.data()[k]) * static_cast<T>(s);
        gx[k] = fresh ? d : gx[k] + d;
      }
    });
  }
};
TAPEGRAD_BUILTIN_OP(LogSoftmax);

}  // namespace ops

/// Sum or mean of all elements (shape []), or along one axis.
template <class T>
Var<T> sum(const Var<T>& x) {
  return apply(ops::SumAll{false}, x);
}
template <class T>
Var<T> mean(const Var<T>& x) {
  return apply(ops::MeanAll{{true}}, x);
}
template <class T>
Var<T> sum(const Var<T>& x, std::ptrdiff_t axis, bool keepdims = false) {
  return apply(ops::SumAxis{detail::normalize_axis("sum", axis, x.dim()), keepdims, false}, x);
}
template <class T>
Var<T> mean(const Var<T>& x, std::ptrdiff_t axis, bool keepdims = false) {
  return apply(ops::MeanAxis{{detail::normalize_axis("mean", axis, x.dim()), keepdims, true}}, x);
}
/// softmax and log_softmax along one axis (the last by default).
template <class T>
Var<T> softmax(const Var<T>& x, std::ptrdiff_t axis = -1) {
  return apply(ops::Softmax{detail::normalize_axis("softmax", axis, x.dim())}, x);
}
template <class T>
Var<T> log_softmax(const Var<T>& x, std::ptrdiff_t axis = -1) {
  return apply(ops::LogSoftmax{detail::normalize_axis("log_softmax", axis, x.dim())}, x);
}

}  // namespace tapegrad
