#pragma once
// Losses (fused softmax-cross-entropy, mean squared error), the embedding row gather and one_hot.
#include <cmath>
#include <limits>
#include <sstream>

#include "tapegrad/detail/simd.hpp"
#include "tapegrad/op.hpp"

namespace tapegrad {
namespace ops {

// The op structs below carry a pointer to the caller's index list. It is only read during
// forward (which runs inside apply, while the caller's list is alive) and copied to the node's
// saved indices there; backward reads the saved copy.

// Logits [..., C]: the number of classes C (the last axis), or an Error.
inline std::size_t cross_entropy_classes(const Shape& logits) {
  if (logits.empty())
    throw Error(
        "softmax_cross_entropy: logits must be [..., C] (e.g. [N, C], [T, B, C], or [C] for one "
        "row), got a 0-D tensor []");
  // Zero classes leave nothing to normalise over (and the op divides by the class count).
  if (logits.back() == 0)
    throw Error("softmax_cross_entropy: logits " + shape_str(logits) +
                " have no classes; expected at least one along the last axis");
  return logits.back();
}

struct SoftmaxCrossEntropy {
  static constexpr const char* name = "softmax_cross_entropy";
  static constexpr OpMath math{
      "y = mean over the n rows r with t[r] != ignore_index of (logsumexp(x[r]) - x[r, t[r]])",
      {{"x", "gy * (softmax(x) - one_hot(t)) / n on those rows, 0 on ignored rows"}}};
  const Indices* targets;
  std::int64_t ignore_index;
  std::size_t counted;  // rows whose target is not ignore_index (the public function counts)
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const std::size_t classes = x.shape()[x.dimension() - 1];
    const std::size_t rows = x.size() / classes;  // every leading axis, row-major
    // Row by row: p = exp(x - max) once (vectorised), lse = max + log(sum p); the loss adds
    // lse - x[target] in double, and p / sum is what backward needs. Without a gradient the
    // probabilities land in the same kept buffer, so no step allocates. An ignored row's p is
    // 0, so backward's one pass over p gives it no gradient without a test per element.
    Tensor<T>& probs = c.save(0);
    if (!detail::same_shape(probs.shape(), x.shape())) probs.resize(x.shape());
    if (c.requires_grad()) c.save_indices().assign(targets->begin(), targets->end());
    double total = 0;
    // The rows' log(sum p) are added as one log of their product: one log per op instead of
    // one per row (libm's log was 3% of the (5, 1, 4, 5) RNN step). Each sum lies in
    // [1, classes] (the max's own term is 1), so the product only grows; it is kept as
    // mantissa * 2^exponent, renormalised before it could overflow.
    double product = 1;
    int exponent = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const T* row = x.data() + r * classes;
      T* p = probs.data() + r * classes;
      if ((*targets)[r] == ignore_index) {
        std::fill(p, p + classes, T(0));
        continue;
      }
      const T m = detail::simd::max_of(row, classes);
      const T s = detail::simd::exp_shifted_sum(p, row, m, classes);
      total += static_cast<double>(m) - static_cast<double>(row[(*targets)[r]]);
      product *= static_cast<double>(s);
      if (product > 0x1p512) {
        int e = 0;
        product = std::frexp(product, &e);
        exponent += e;
      }
      const T inv = T(1) / s;
      for (std::size_t j = 0; j < classes; ++j) p[j] *= inv;
    }
    total += std::log(product) + exponent * 0.69314718055994530942;  // log 2
    Tensor<T>& y = c.output();
    y.resize(Shape{});
    // Every row ignored: 0, not PyTorch's 0/0 = NaN (see softmax_cross_entropy below).
    y() = counted == 0 ? T(0) : static_cast<T>(total / static_cast<double>(counted));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& p = c.saved(0);
    const Indices& t = c.saved_indices();
    const std::size_t rows = t.size(), classes = p.size() / rows;
    const T scale = counted == 0 ? T(0) : c.grad_output()() / static_cast<T>(counted);
    bool fresh = false;
    T* gx = c.grad_buffer(0, fresh).data();
    const T* pp = p.data();
    const std::size_t n = rows * classes;
    if (fresh)
      for (std::size_t k = 0; k < n; ++k) gx[k] = scale * pp[k];
    else
      for (std::size_t k = 0; k < n; ++k) gx[k] += scale * pp[k];
    for (std::size_t r = 0; r < rows; ++r)
      if (t[r] != ignore_index) gx[r * classes + static_cast<std::size_t>(t[r])] -= scale;
  }
};
TAPEGRAD_BUILTIN_OP(SoftmaxCrossEntropy);

struct MseLoss {
  static constexpr const char* name = "mse_loss";
  static constexpr OpMath math{"y = mean((p - t)^2)",
                               {{"p", "gy * 2 * (p - t) / n"}, {"t", "-gy * 2 * (p - t) / n"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& p = c.input(0);
    const Tensor<T>& t = c.input(1);
    if (p.shape() != t.shape())
      throw Error(std::string(name) + ": prediction " + shape_str(p.shape()) + " and target " +
                  shape_str(t.shape()) + " must have the same shape");
    if (p.size() == 0) throw Error(std::string(name) + ": empty input " + shape_str(p.shape()));
    double s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double d = static_cast<double>(p.data()[i]) - static_cast<double>(t.data()[i]);
      s += d * d;
    }
    Tensor<T>& y = c.output();
    y.resize(Shape{});
    y() = static_cast<T>(s / static_cast<double>(p.size()));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const T k = T(2) * c.grad_output()() / static_cast<T>(c.input(0).size());
    c.accumulate_grad(0, k * (c.input(0) - c.input(1)));
    c.accumulate_grad(1, k * (c.input(1) - c.input(0)));
  }
};
TAPEGRAD_BUILTIN_OP(MseLoss);

// y[r, :] = table[idx[r], :];  dtable[idx[r], :] += gy[r, :]  (scatter-add)
struct GatherRows {
  static constexpr const char* name = "gather_rows";
  static constexpr OpMath math{"y[r] = table[idx[r]]",
                               {{"table", "row idx[r] += gy[r] (scatter-add)"}}};
  // The rows to gather: `indices` (y [N, D]), or with `steps` set, steps[t][b] at y[t, b]
  // (y [T, B, D]; every step holds B). Read while recording only: backward reads the copy
  // forward saves.
  const Indices* indices;
  const std::vector<Indices>* steps = nullptr;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& table = c.input(0);
    if (table.dimension() != 2)
      throw Error(std::string(name) + ": the table must be 2-D [V, D], got " +
                  shape_str(table.shape()));
    const std::size_t rows = table.shape()[0], width = table.shape()[1];
    const std::size_t B = steps ? (*steps)[0].size() : 0;
    const std::size_t n = steps ? steps->size() * B : indices->size();
    // f(r, idx, t) for each index list in row order: `indices` whole, or each step t's.
    const auto each_list = [&](auto f) {
      if (!steps) return f(0, *indices, std::size_t(0));
      for (std::size_t t = 0; t < steps->size(); ++t) f(t * B, (*steps)[t], t);
    };
    each_list([&](std::size_t, const Indices& idx, std::size_t t) {
      for (std::size_t k = 0; k < idx.size(); ++k)
        if (idx[k] < 0 || static_cast<std::size_t>(idx[k]) >= rows)
          throw Error(std::string(name) + ": index " + std::to_string(idx[k]) + " at position " +
                      std::to_string(k) + (steps ? " of step " + std::to_string(t) : "") +
                      " is out of range for a table of " + std::to_string(rows) + " rows");
    });
    if (c.requires_grad()) {
      Indices& saved = c.save_indices();
      saved.resize(n);
      each_list([&](std::size_t first, const Indices& idx, std::size_t) {
        std::copy(idx.begin(), idx.end(), saved.begin() + std::ptrdiff_t(first));
      });
    }
    Tensor<T>& y =
        steps ? detail::output_shaped(c, std::array<std::size_t, 3>{steps->size(), B, width})
              : detail::output_shaped(c, std::array<std::size_t, 2>{n, width});
    each_list([&](std::size_t first, const Indices& idx, std::size_t) {
      T* out = y.data() + first * width;
      for (std::size_t k = 0; k < idx.size(); ++k)
        std::memcpy(out + k * width, table.data() + idx[k] * width, width * sizeof(T));
    });
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Indices& idx = c.saved_indices();
    const std::size_t width = c.input(0).shape()[1];
    T* g = c.grad_buffer_zeroed(0).data();
    const T* gy = c.grad_output().data();
    for (std::size_t r = 0; r < idx.size(); ++r)
      detail::add_into(g + idx[r] * width, gy + r * width, width, false);
  }
};
TAPEGRAD_BUILTIN_OP(GatherRows);

}  // namespace ops

/// PyTorch's default ignore_index: a target of -100 marks a row (a padded step) that adds
/// nothing to the loss.
inline constexpr std::int64_t kIgnoreIndex = -100;

/// Mean over rows of -log softmax(logits)[target]: logits [..., C] -- [N, C], [T, B, C], or [C]
/// for one row -- and one class index per row, the rows being every position of the leading
/// axes in row-major order (for [T, B, C], row t * B + b). Fused and stable: the gradient is
/// (softmax - one_hot) / n.
/// A row whose target is `ignore_index` (PyTorch's ignore_index, by default -100) is left out:
/// it adds nothing to the loss or its gradient, and n counts only the other rows. When every
/// row is ignored the loss is 0 with a zero gradient (PyTorch gives NaN): a batch of padding
/// alone has nothing to learn from, and a NaN would poison the parameters it reached.
template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const Indices& targets,
                             std::int64_t ignore_index = kIgnoreIndex) {
  const std::size_t classes = ops::cross_entropy_classes(logits.shape());
  std::size_t rows = 1;
  for (std::size_t k = 0; k + 1 < logits.dim(); ++k) rows *= logits.shape()[k];
  if (targets.size() != rows)
    throw Error("softmax_cross_entropy: logits " + shape_str(logits.shape()) + " have " +
                std::to_string(rows) + (rows == 1 ? " row but " : " rows but ") +
                std::to_string(targets.size()) + " targets were given");
  if (rows == 0)
    throw Error("softmax_cross_entropy: no rows (logits " + shape_str(logits.shape()) + ")");
  std::size_t counted = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    if (targets[r] == ignore_index) continue;
    if (targets[r] < 0 || static_cast<std::size_t>(targets[r]) >= classes)
      throw Error("softmax_cross_entropy: target " + std::to_string(targets[r]) + " at row " +
                  std::to_string(r) + " is out of range for " + std::to_string(classes) +
                  " classes (and is not the ignore index " + std::to_string(ignore_index) + ")");
    ++counted;
  }
  return apply(ops::SoftmaxCrossEntropy{&targets, ignore_index, counted}, logits);
}

/// Same, with targets held in a tensor of whole numbers (e.g. read from a float data file);
/// a non-integer, negative or out-of-range target other than ignore_index is an error.
template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const Tensor<T>& targets,
                             std::int64_t ignore_index = kIgnoreIndex) {
  const std::size_t classes = ops::cross_entropy_classes(logits.shape());
  if (targets.dimension() > 1)
    throw Error("softmax_cross_entropy: targets must be a 1-D list of class indices, got shape " +
                shape_str(targets.shape()));
  Indices idx(targets.size());
  for (std::size_t r = 0; r < targets.size(); ++r) {
    const T v = targets.data()[r];
    if (!(std::isfinite(v) && v == std::floor(v))) {
      std::ostringstream os;
      os << "softmax_cross_entropy: targets must be whole-number class indices; got " << v
         << " at row " << r;
      throw Error(os.str());
    }
    if (v == static_cast<T>(ignore_index)) {
      idx[r] = ignore_index;
      continue;
    }
    // Range-checked while still floating point: casting 1e30 to an integer is undefined.
    if (v < 0 || v >= static_cast<T>(classes)) {
      std::ostringstream os;
      os << "softmax_cross_entropy: target " << v << " at row " << r << " is out of range for "
         << classes << " classes (and is not the ignore index " << ignore_index << ")";
      throw Error(os.str());
    }
    idx[r] = static_cast<std::int64_t>(v);
  }
  return softmax_cross_entropy(logits, idx, ignore_index);
}

/// mean((prediction - target)^2); both shapes must be equal.
template <class T>
Var<T> mse_loss(const Var<T>& prediction, const Var<T>& target) {
  return apply(ops::MseLoss{}, prediction, target);
}

/// Rows of `table` [V, D] at `indices` -> [N, D]: an embedding lookup. The backward adds each
/// row's gradient into its table row (repeated indices accumulate).
template <class T>
Var<T> gather_rows(const Var<T>& table, const Indices& indices) {
  return apply(ops::GatherRows{&indices}, table);
}
/// The same for a sequence: steps[t] holds the B indices of step t -> [T, B, D], a sequence
/// tensor (as Tape::one_hot(steps, V) is) with no dense one-hot behind it.
template <class T>
Var<T> gather_rows(const Var<T>& table, const std::vector<Indices>& steps) {
  detail::check_steps("gather_rows", steps);
  return apply(ops::GatherRows{nullptr, &steps}, table);
}

/// [N, num_classes] with a 1 at each index: data, not differentiable (use tape.constant()).
template <class T>
Tensor<T> one_hot(const Indices& indices, std::size_t num_classes) {
  Tensor<T> y = Tensor<T>::from_shape({indices.size(), num_classes});
  y.fill(T(0));
  for (std::size_t r = 0; r < indices.size(); ++r) {
    const std::int64_t i = indices[r];
    if (i < 0 || static_cast<std::size_t>(i) >= num_classes)
      throw Error("one_hot: index " + std::to_string(i) + " at position " + std::to_string(r) +
                  " is out of range for " + std::to_string(num_classes) + " classes");
    y(r, static_cast<std::size_t>(i)) = T(1);
  }
  return y;
}

}  // namespace tapegrad
