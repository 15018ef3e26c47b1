#pragma once
// Shape ops: reshape, slice, concat, stack. They only move elements, so forward copies blocks
// and backward adds the same blocks back; the [outer, len, inner] view of an axis does the work.
#include <array>

#include "tapegrad/op.hpp"

namespace tapegrad {
namespace ops {

struct Reshape {
  static constexpr const char* name = "reshape";
  static constexpr OpMath math{"y = x with a new shape", {{"x", "gy with the shape of x"}}};
  std::array<std::size_t, 7> shape;
  std::uint8_t rank;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    Tensor<T>& y = c.output();
    y.resize(Shape(shape.begin(), shape.begin() + rank));
    std::copy(c.input(0).data(), c.input(0).data() + c.input(0).size(), y.data());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    bool fresh = false;
    Tensor<T>& g = c.grad_buffer(0, fresh);
    detail::add_into(g.data(), c.grad_output().data(), g.size(), fresh);
  }
};
TAPEGRAD_BUILTIN_OP(Reshape);

// y = x[..., start:stop:step, ...] along axis;  dx[those positions] += gy
// With step 1 the selected part of each outer row is one contiguous run of count * inner
// elements (an LSTM's gate block is a run of H in every row): one copy per row, not per element.
struct Slice {
  static constexpr const char* name = "slice";
  static constexpr OpMath math{"y = x[start:stop:step] along axis",
                               {{"x", "gy at the selected positions, 0 elsewhere"}}};
  std::size_t axis, start, count, step;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    Shape s = x.shape();
    const detail::AxisSplit a = detail::split_at(s, axis);
    s[axis] = count;
    T* y = detail::output_shaped(c, s).data();
    if (step == 1) {
      const std::size_t run = count * a.inner;
      for (std::size_t o = 0; o < a.outer; ++o)
        std::memcpy(y + o * run, x.data() + (o * a.len + start) * a.inner, run * sizeof(T));
      return;
    }
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t j = 0; j < count; ++j)
        std::memcpy(y + (o * count + j) * a.inner,
                    x.data() + (o * a.len + start + j * step) * a.inner, a.inner * sizeof(T));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const detail::AxisSplit a = detail::split_at(c.input(0).shape(), axis);
    const T* gy = c.grad_output().data();
    if (step == 1) {
      // A fresh gradient buffer is written whole: zeros outside the slice, gy inside it.
      bool fresh = false;
      T* g = c.grad_buffer(0, fresh).data();
      const std::size_t run = count * a.inner, row = a.len * a.inner, lead = start * a.inner;
      for (std::size_t o = 0; o < a.outer; ++o) {
        T* go = g + o * row;
        if (fresh) {
          std::fill(go, go + lead, T(0));
          std::fill(go + lead + run, go + row, T(0));
        }
        detail::add_into(go + lead, gy + o * run, run, fresh);
      }
      return;
    }
    Tensor<T>& g = c.grad_buffer_zeroed(0);
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t j = 0; j < count; ++j)
        detail::add_into(g.data() + (o * a.len + start + j * step) * a.inner,
                         gy + (o * count + j) * a.inner, a.inner, false);
  }
};
TAPEGRAD_BUILTIN_OP(Slice);

struct Concat {
  static constexpr const char* name = "concat";
  static constexpr OpMath math{"y = [x_0, x_1, ...] joined along axis",
                               {{"x_i", "block i of gy along axis"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Shape& s0 = c.input(0).shape();
    Shape s = s0;
    s[axis] = 0;
    for (std::size_t i = 0; i < c.num_inputs(); ++i) {
      const Shape& si = c.input(i).shape();
      bool ok = si.size() == s0.size();
      for (std::size_t k = 0; ok && k < si.size(); ++k) ok = k == axis || si[k] == s0[k];
      if (!ok)
        throw Error("concat: input " + std::to_string(i) + " has shape " + shape_str(si) +
                    ", which does not match input 0's " + shape_str(s0) + " outside axis " +
                    std::to_string(axis));
      s[axis] += si[axis];
    }
    Tensor<T>& y = c.output();
    y.resize(s);
    const detail::AxisSplit a = detail::split_at(s, axis);
    T* dst = y.data();
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t i = 0; i < c.num_inputs(); ++i) {
        const std::size_t block = c.input(i).shape()[axis] * a.inner;
        std::memcpy(dst, c.input(i).data() + o * block, block * sizeof(T));
        dst += block;
      }
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const detail::AxisSplit a = detail::split_at(c.output().shape(), axis);
    const T* gy = c.grad_output().data();
    std::size_t offset = 0;  // of input i's block within one outer row of gy
    for (std::size_t i = 0; i < c.num_inputs(); ++i) {
      const std::size_t block = c.input(i).shape()[axis] * a.inner;
      if (c.needs_grad(i)) {
        bool fresh = false;
        T* g = c.grad_buffer(i, fresh).data();
        for (std::size_t o = 0; o < a.outer; ++o)
          detail::add_into(g + o * block, gy + o * a.len * a.inner + offset, block, fresh);
      }
      offset += block;
    }
  }
};
TAPEGRAD_BUILTIN_OP(Concat);

struct Stack {
  static constexpr const char* name = "stack";
  static constexpr OpMath math{"y = [x_0, x_1, ...] stacked along a new axis",
                               {{"x_i", "gy[..., i, ...] along that axis"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Shape& s0 = c.input(0).shape();
    for (std::size_t i = 1; i < c.num_inputs(); ++i)
      if (c.input(i).shape() != s0)
        throw Error("stack: input " + std::to_string(i) + " has shape " +
                    shape_str(c.input(i).shape()) + ", input 0 has " + shape_str(s0) +
                    "; all inputs must have the same shape");
    Shape s(s0.size() + 1);
    for (std::size_t k = 0, j = 0; k < s.size(); ++k) s[k] = k == axis ? c.num_inputs() : s0[j++];
    Tensor<T>& y = c.output();
    y.resize(s);
    const detail::AxisSplit a = detail::split_at(s, axis);  // a.len == number of inputs
    for (std::size_t o = 0; o < a.outer; ++o)
      for (std::size_t i = 0; i < a.len; ++i)
        std::memcpy(y.data() + (o * a.len + i) * a.inner, c.input(i).data() + o * a.inner,
                    a.inner * sizeof(T));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const detail::AxisSplit a = detail::split_at(c.output().shape(), axis);
    const T* gy = c.grad_output().data();
    for (std::size_t i = 0; i < a.len; ++i) {
      if (!c.needs_grad(i)) continue;
      bool fresh = false;
      T* g = c.grad_buffer(i, fresh).data();
      for (std::size_t o = 0; o < a.outer; ++o)
        detail::add_into(g + o * a.inner, gy + (o * a.len + i) * a.inner, a.inner, fresh);
    }
  }
};
TAPEGRAD_BUILTIN_OP(Stack);

}  // namespace ops

/// Same elements in a new shape; one entry may be -1 (inferred).
template <class T>
Var<T> reshape(const Var<T>& x, const std::vector<std::ptrdiff_t>& shape) {
  ops::Reshape op{};
  if (shape.size() > op.shape.size())
    throw Error("reshape: supports up to 7 axes, got " + shape_str(shape));
  op.rank = static_cast<std::uint8_t>(shape.size());
  std::size_t known = 1, inferred = shape.size();
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == -1 && inferred == shape.size()) {
      inferred = k;
    } else if (shape[k] < 0) {
      throw Error("reshape: target shape " + shape_str(shape) +
                  " may hold one -1 and otherwise sizes >= 0");
    } else {
      op.shape[k] = static_cast<std::size_t>(shape[k]);
      known *= op.shape[k];
    }
  }
  const std::size_t n = x.size();
  if (inferred < shape.size()) op.shape[inferred] = known == 0 ? 0 : n / known;
  const bool fits = inferred < shape.size() ? known != 0 && n % known == 0 : known == n;
  if (!fits)
    throw Error("reshape: cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(n) +
                " elements) into " + shape_str(shape));
  return apply(op, x);
}

/// Elements start, start+step, ... (< stop) along `axis`. stop is clamped to the axis length.
template <class T>
Var<T> slice(const Var<T>& x, std::ptrdiff_t axis, std::size_t start, std::size_t stop,
             std::size_t step = 1) {
  const std::size_t ax = detail::normalize_axis("slice", axis, x.dim());
  const std::size_t len = x.shape()[ax];
  stop = std::min(stop, len);
  if (step == 0)
    throw Error("slice: step must be at least 1, got 0 (axis " + std::to_string(ax) + " of " +
                shape_str(x.shape()) + ")");
  if (start >= stop)
    throw Error("slice: empty range [" + std::to_string(start) + ", " + std::to_string(stop) +
                ") on axis " + std::to_string(ax) + " (length " + std::to_string(len) + ") of " +
                shape_str(x.shape()));
  return apply(ops::Slice{ax, start, (stop - start + step - 1) / step, step}, x);
}

/// Joins tensors along an existing axis; all other axes must agree.
template <class T>
Var<T> concat(const std::vector<Var<T>>& xs, std::ptrdiff_t axis) {
  if (xs.empty()) throw Error("concat: needs at least one input");
  return apply_list(ops::Concat{detail::normalize_axis("concat", axis, xs[0].dim())}, xs);
}

/// Joins same-shaped tensors along a new axis.
template <class T>
Var<T> stack(const std::vector<Var<T>>& xs, std::ptrdiff_t axis = 0) {
  if (xs.empty()) throw Error("stack: needs at least one input");
  const auto rank = static_cast<std::ptrdiff_t>(xs[0].dim()) + 1;  // of the result
  if (axis < -rank || axis >= rank)
    throw Error("stack: axis " + std::to_string(axis) + " is out of range for stacking " +
                std::to_string(rank - 1) + "-D inputs of shape " + shape_str(xs[0].shape()) +
                " (the result has " + std::to_string(rank) + " axes)");
  return apply_list(ops::Stack{detail::normalize_axis("stack", axis, xs[0].dim() + 1)}, xs);
}

}  // namespace tapegrad
