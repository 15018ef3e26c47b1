#pragma once
// Shape ops: reshape, slice, concat, stack, select (and unstack), squeeze, unsqueeze. They only
// move elements, so forward copies blocks and backward adds the same blocks back; the
// [outer, len, inner] view of an axis does the work.
#include <array>

#include "tapegrad/op.hpp"

namespace tapegrad {
namespace detail {
// `shape` without its axis `axis` (select, squeeze).
inline Shape shape_without(const Shape& shape, std::size_t axis) {
  Shape out(shape.size() - 1);
  for (std::size_t k = 0, j = 0; k < shape.size(); ++k)
    if (k != axis) out[j++] = shape[k];
  return out;
}
// dx += gy for an op whose output is its input's elements in the same row-major order under
// another shape (reshape, squeeze, unsqueeze).
template <class T>
void add_grad_unchanged(BackwardContext<T>& c) {
  bool fresh = false;
  Tensor<T>& g = c.grad_buffer(0, fresh);
  add_into(g.data(), c.grad_output().data(), g.size(), fresh);
}
}  // namespace detail

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
    detail::add_grad_unchanged(c);
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

// y = x[..., index, ...] along axis (that axis removed);  dx[..., index, ...] += gy
// Row-major, the selected part of each outer row is one run of `inner` elements: one copy per
// outer row. unstack() is one Select per index, so a [T, B, H] sequence read step by step costs
// one [B, H] copy per step.
struct Select {
  static constexpr const char* name = "select";
  static constexpr OpMath math{"y = x[index] along axis, which is removed",
                               {{"x", "gy at index along axis, 0 elsewhere"}}};
  std::size_t axis, index;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const detail::AxisSplit a = detail::split_at(x.shape(), axis);
    T* y = detail::output_shaped(c, detail::shape_without(x.shape(), axis)).data();
    for (std::size_t o = 0; o < a.outer; ++o)
      std::memcpy(y + o * a.inner, x.data() + (o * a.len + index) * a.inner, a.inner * sizeof(T));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const detail::AxisSplit a = detail::split_at(c.input(0).shape(), axis);
    const T* gy = c.grad_output().data();
    // As in Slice: a fresh buffer is written whole, zeros around the selected run.
    bool fresh = false;
    T* g = c.grad_buffer(0, fresh).data();
    const std::size_t row = a.len * a.inner, lead = index * a.inner;
    for (std::size_t o = 0; o < a.outer; ++o) {
      T* go = g + o * row;
      if (fresh) {
        std::fill(go, go + lead, T(0));
        std::fill(go + lead + a.inner, go + row, T(0));
      }
      detail::add_into(go + lead, gy + o * a.inner, a.inner, fresh);
    }
  }
};
TAPEGRAD_BUILTIN_OP(Select);

// Squeeze and unsqueeze change only the shape: the elements keep their row-major order, so
// forward is one copy into the kept output buffer and backward one add (as in Reshape). They
// carry just the axis, not a whole target shape.
// y = x without its size-1 axis `axis`;  dx = gy
struct Squeeze {
  static constexpr const char* name = "squeeze";
  static constexpr OpMath math{"y = x without its size-1 axis", {{"x", "gy with the shape of x"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    std::copy(x.data(), x.data() + x.size(),
              detail::output_shaped(c, detail::shape_without(x.shape(), axis)).data());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    detail::add_grad_unchanged(c);
  }
};
TAPEGRAD_BUILTIN_OP(Squeeze);

// y = x with a new size-1 axis at position `axis` of y;  dx = gy
struct Unsqueeze {
  static constexpr const char* name = "unsqueeze";
  static constexpr OpMath math{"y = x with a new size-1 axis", {{"x", "gy with the shape of x"}}};
  std::size_t axis;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    Shape s(x.dimension() + 1);
    for (std::size_t k = 0, j = 0; k < s.size(); ++k) s[k] = k == axis ? 1 : x.shape()[j++];
    std::copy(x.data(), x.data() + x.size(), detail::output_shaped(c, s).data());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    detail::add_grad_unchanged(c);
  }
};
TAPEGRAD_BUILTIN_OP(Unsqueeze);

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

/// The slice at `index` along `axis`, with that axis removed: x [T, B, H], select(x, 0, t) ->
/// [B, H]. A negative axis or index counts from the end.
template <class T>
Var<T> select(const Var<T>& x, std::ptrdiff_t axis, std::ptrdiff_t index) {
  if (x.dim() == 0) throw Error("select: expected an input with at least one axis, got []");
  const std::size_t ax = detail::normalize_axis("select", axis, x.dim());
  const auto len = static_cast<std::ptrdiff_t>(x.shape()[ax]);
  if (index < -len || index >= len)
    throw Error("select: index " + std::to_string(index) + " is out of range for axis " +
                std::to_string(ax) + " of " + shape_str(x.shape()) + " (expected " +
                (len == 0 ? std::string("none: the axis is empty")
                          : std::to_string(-len) + " to " + std::to_string(len - 1)) +
                ")");
  return apply(ops::Select{ax, static_cast<std::size_t>(index < 0 ? index + len : index)}, x);
}

/// Every select along `axis`, in order: the inverse of stack(xs, axis). A [T, B, H] sequence
/// becomes T Vars of [B, H].
template <class T>
std::vector<Var<T>> unstack(const Var<T>& x, std::ptrdiff_t axis = 0) {
  if (x.dim() == 0) throw Error("unstack: expected an input with at least one axis, got []");
  const std::size_t ax = detail::normalize_axis("unstack", axis, x.dim());
  std::vector<Var<T>> parts;
  parts.reserve(x.shape()[ax]);
  for (std::size_t i = 0; i < x.shape()[ax]; ++i) parts.push_back(apply(ops::Select{ax, i}, x));
  return parts;
}

/// x without its axis `axis`, which must have size 1: [B, 1, H] -> [B, H] for axis 1.
template <class T>
Var<T> squeeze(const Var<T>& x, std::ptrdiff_t axis) {
  if (x.dim() == 0) throw Error("squeeze: expected an input with at least one axis, got []");
  const std::size_t ax = detail::normalize_axis("squeeze", axis, x.dim());
  if (x.shape()[ax] != 1)
    throw Error("squeeze: axis " + std::to_string(axis) + " of " + shape_str(x.shape()) +
                " has size " + std::to_string(x.shape()[ax]) + "; expected size 1");
  return apply(ops::Squeeze{ax}, x);
}

/// x with a new axis of size 1 at position `axis` of the result: [B, H] -> [B, 1, H] for axis 1;
/// axis -1 appends it.
template <class T>
Var<T> unsqueeze(const Var<T>& x, std::ptrdiff_t axis) {
  const auto rank = static_cast<std::ptrdiff_t>(x.dim()) + 1;  // of the result
  if (axis < -rank || axis >= rank)
    throw Error("unsqueeze: axis " + std::to_string(axis) + " is out of range for a " +
                std::to_string(rank - 1) + "-D input of shape " + shape_str(x.shape()) +
                " (expected " + std::to_string(-rank) + " to " + std::to_string(rank - 1) + ")");
  return apply(ops::Unsqueeze{detail::normalize_axis("unsqueeze", axis, x.dim() + 1)}, x);
}

}  // namespace tapegrad
