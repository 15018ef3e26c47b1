#pragma once
// matmul through BLAS (2-D, batched 3-D, and a 3-D batch against one 2-D weight) and transpose.
#include <array>
#include <initializer_list>
#include <xtensor/xmanipulation.hpp>

#include "tapegrad/detail/blas.hpp"
#include "tapegrad/op.hpp"

namespace tapegrad {
namespace ops {

// Output units per block of a one-hot gather/scatter: 64 rows of a weight with up to ~128
// columns fit in L1 while every row of the batch visits them.
constexpr std::size_t kGatherBlock = 64;

// The three supported forms, reduced to `batch` products [n,k] x [k,m]. A shared 2-D weight
// (b_batched == false) folds the batch into the rows of one product.
struct MatmulDims {
  std::size_t batch, n, k, m;
  bool b_batched;
};
template <class T>
MatmulDims matmul_dims(const Tensor<T>& a, const Tensor<T>& b) {
  const auto& sa = a.shape();
  const auto& sb = b.shape();
  const auto fail = [&](const std::string& why) {
    throw Error("matmul: " + why + ": a is " + shape_str(sa) + ", b is " + shape_str(sb));
  };
  if (a.dimension() == 2 && b.dimension() == 2) {
    if (sa[1] != sb[0]) fail("inner dimensions differ");
    return {1, sa[0], sa[1], sb[1], false};
  }
  if (a.dimension() == 3 && b.dimension() == 2) {
    if (sa[2] != sb[0]) fail("inner dimensions differ");
    return {1, sa[0] * sa[1], sa[2], sb[1], false};
  }
  if (a.dimension() == 3 && b.dimension() == 3) {
    if (sa[0] != sb[0]) fail("batch sizes differ");
    if (sa[2] != sb[1]) fail("inner dimensions differ");
    return {sa[0], sa[1], sa[2], sb[2], true};
  }
  fail("expected [n,k] x [k,m], [b,n,k] x [b,k,m] or [b,n,k] x [k,m]");
  return {};
}

// Y = A B;  dA += dY B^T,  dB += A^T dY  (each a GEMM accumulating in place: beta = 1).
// A one-hot A (Tape::one_hot, 2-D) selects rows: Y[r] = B[idx[r]], dB[idx[r]] += dY[r].
struct Matmul {
  static constexpr const char* name = "matmul";
  static constexpr OpMath math{"y = a @ b  (batched: per matrix)",
                               {{"a", "gy @ b^T"}, {"b", "a^T @ gy"}}};
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& a = c.input(0);
    const Tensor<T>& b = c.input(1);
    const MatmulDims d = matmul_dims(a, b);
    Tensor<T>& y = c.output();
    if (a.dimension() == 2)
      y.resize({d.n, d.m});
    else
      y.resize({a.shape()[0], a.shape()[1], d.m});
    if (const Indices* hot = c.one_hot_input(0); hot && d.batch == 1) {
      for (std::size_t r = 0; r < d.n; ++r)
        std::memcpy(y.data() + r * d.m, b.data() + (*hot)[r] * d.m, d.m * sizeof(T));
      return;
    }
    for (std::size_t i = 0; i < d.batch; ++i)
      detail::gemm(false, false, d.n, d.m, d.k, a.data() + i * d.n * d.k, b.data() + i * d.k * d.m,
                   T(0), y.data() + i * d.n * d.m);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& a = c.input(0);
    const Tensor<T>& b = c.input(1);
    const Tensor<T>& gy = c.grad_output();
    const MatmulDims d = matmul_dims(a, b);
    bool fresh = false;
    if (c.needs_grad(0)) {
      T* ga = c.grad_buffer(0, fresh).data();
      const T beta = fresh ? T(0) : T(1);
      for (std::size_t i = 0; i < d.batch; ++i)
        detail::gemm(false, true, d.n, d.k, d.m, gy.data() + i * d.n * d.m,
                     b.data() + i * d.k * d.m, beta, ga + i * d.n * d.k);
    }
    if (c.needs_grad(1)) {
      T* gb = c.grad_buffer(1, fresh).data();
      if (const Indices* hot = c.one_hot_input(0); hot && d.batch == 1) {
        if (fresh) std::fill(gb, gb + d.k * d.m, T(0));
        for (std::size_t r = 0; r < d.n; ++r)
          detail::add_into(gb + (*hot)[r] * d.m, gy.data() + r * d.m, d.m, false);
        return;
      }
      const T beta = fresh ? T(0) : T(1);
      for (std::size_t i = 0; i < d.batch; ++i)
        detail::gemm(true, false, d.k, d.m, d.n, a.data() + i * d.n * d.k,
                     gy.data() + i * d.n * d.m, beta, gb + i * d.k * d.m);
    }
  }
};
TAPEGRAD_BUILTIN_OP(Matmul);

// ---- pieces shared by linear and linear_pair ----

// y[r, j] = a[r, j] + b1[j] + b2[j] + W[j, idx[r]] for a one-hot x (a, b1, b2 may each be null;
// a may be y itself): a column gather of W [out, in], in blocks of kGatherBlock output units so
// that the block's rows of W stay in L1 while every row of y gets its contiguous stretch.
template <class T>
void gather_columns(const Indices& idx, const T* w, std::size_t out, std::size_t in,
                    std::size_t rows, const T* a, const T* b1, const T* b2, T* y) {
  T bias[kGatherBlock];  // b1 + b2 over the block: the inner loops below carry no branches
  for (std::size_t j0 = 0; j0 < out; j0 += kGatherBlock) {
    const std::size_t n = std::min(out - j0, kGatherBlock);
    for (std::size_t j = 0; j < n; ++j)
      bias[j] = (b1 ? b1[j0 + j] : T(0)) + (b2 ? b2[j0 + j] : T(0));
    for (std::size_t r = 0; r < rows; ++r) {
      const T* wc = w + static_cast<std::size_t>(idx[r]) + j0 * in;
      T* yr = y + r * out + j0;
      if (a) {
        const T* ar = a + r * out + j0;
        for (std::size_t j = 0; j < n; ++j) yr[j] = (ar[j] + bias[j]) + wc[j * in];
      } else {
        for (std::size_t j = 0; j < n; ++j) yr[j] = bias[j] + wc[j * in];
      }
    }
  }
}

// dW[j, idx[r]] += gy[r, j]: the gather's gradient, a scatter-add blocked the same way.
template <class T>
void scatter_columns(const Indices& idx, const T* gy, std::size_t out, std::size_t in,
                     std::size_t rows, T* gw) {
  for (std::size_t j0 = 0; j0 < out; j0 += kGatherBlock) {
    const std::size_t j1 = std::min(out, j0 + kGatherBlock);
    for (std::size_t r = 0; r < rows; ++r) {
      T* gc = gw + static_cast<std::size_t>(idx[r]);
      const T* gyr = gy + r * out;
      for (std::size_t j = j0; j < j1; ++j) gc[j * in] += gyr[j];
    }
  }
}

// The same gather through W transposed: once the rows outnumber twice the classes, copying W
// [out, in] once into a workspace [in, out] (in * out elements) and reading each row's stretch
// contiguously -- a vectorised pass -- costs less than `out` strided reads per row. (A
// language model's input projection over all T * B steps at once: 2048 rows of 65 classes.)
inline bool gather_through_transpose(std::size_t rows, std::size_t in) { return rows >= 2 * in; }
// y[r, :] = a[r, :] + b1 + b2 + W[:, idx[r]], as gather_columns, choosing how to read W.
template <class T>
void gather_one_hot(ForwardContext<T>& c, const Indices& idx, const T* w, std::size_t out,
                    std::size_t in, std::size_t rows, const T* a, const T* b1, const T* b2, T* y) {
  if (!gather_through_transpose(rows, in))
    return gather_columns<T>(idx, w, out, in, rows, a, b1, b2, y);
  T* wt = detail::at_least(c.workspace(0), in * out);
  detail::transpose_into(w, out, in, wt);
  T* bias = detail::at_least(c.workspace(1), out);
  for (std::size_t j = 0; j < out; ++j) bias[j] = (b1 ? b1[j] : T(0)) + (b2 ? b2[j] : T(0));
  for (std::size_t r = 0; r < rows; ++r) {
    const T* __restrict wr = wt + static_cast<std::size_t>(idx[r]) * out;
    T* __restrict yr = y + r * out;
    if (a) {
      const T* ar = a + r * out;
      for (std::size_t j = 0; j < out; ++j) yr[j] = (ar[j] + bias[j]) + wr[j];
    } else {
      for (std::size_t j = 0; j < out; ++j) yr[j] = bias[j] + wr[j];
    }
  }
}
// dW[j, idx[r]] += gy[r, j] (= when fresh), as scatter_columns, choosing how: many rows add into
// the rows of a transposed workspace [in, out] (contiguous, vectorised), which is then added
// into dW once.
template <class T>
void scatter_one_hot(BackwardContext<T>& c, const Indices& idx, const T* gy, std::size_t out,
                     std::size_t in, std::size_t rows, T* gw, bool fresh) {
  if (!gather_through_transpose(rows, in)) {
    if (fresh) std::fill(gw, gw + out * in, T(0));
    return scatter_columns(idx, gy, out, in, rows, gw);
  }
  T* gt = detail::at_least(c.workspace(0), in * out);
  std::fill(gt, gt + in * out, T(0));
  for (std::size_t r = 0; r < rows; ++r) {
    T* __restrict gr = gt + static_cast<std::size_t>(idx[r]) * out;
    const T* __restrict gyr = gy + r * out;
    for (std::size_t j = 0; j < out; ++j) gr[j] += gyr[j];
  }
  for (std::size_t j = 0; j < out; ++j)
    for (std::size_t k = 0; k < in; ++k)
      gw[j * in + k] = (fresh ? T(0) : gw[j * in + k]) + gt[k * out + j];
}

// y[r, :] = a[r, :] + b1 + b2, the start value a GEMM then adds onto: a or b1 given, b2 only
// with b1 (linear: a and/or b; linear_pair: both biases). One loop per case, so that each is a
// plain vectorised pass.
template <class T>
void fill_rows(std::size_t rows, std::size_t out, const T* a, const T* b1, const T* b2, T* y) {
  if (!a) {  // the bias row, once, then copied
    if (rows == 0) return;
    if (b2)
      for (std::size_t j = 0; j < out; ++j) y[j] = b1[j] + b2[j];
    else
      std::memcpy(y, b1, out * sizeof(T));
    for (std::size_t r = 1; r < rows; ++r) std::memcpy(y + r * out, y, out * sizeof(T));
    return;
  }
  if (!b1) {
    std::memcpy(y, a, rows * out * sizeof(T));
    return;
  }
  for (std::size_t r = 0; r < rows; ++r) {
    T* yr = y + r * out;
    const T* ar = a + r * out;
    if (b2)
      for (std::size_t j = 0; j < out; ++j) yr[j] = ar[j] + b1[j] + b2[j];
    else
      for (std::size_t j = 0; j < out; ++j) yr[j] = ar[j] + b1[j];
  }
}

// y += x W^T for x [rows, in] (one-hot: a gather) with W [out, in].
template <class T>
void add_product(const Tensor<T>& x, const Indices* hot, const T* w, std::size_t rows,
                 std::size_t out, std::size_t in, T* y) {
  if (hot)
    gather_columns<T>(*hot, w, out, in, rows, y, nullptr, nullptr, y);
  else
    detail::gemm(false, true, rows, out, in, x.data(), w, T(1), y);
}

// The gradients of y = x W^T for input slots xi (x) and wi (W): dx += dy W, dW += dy^T x
// (a scatter-add when x is one-hot -- a GEMM would multiply by V - 1 zeros per row).
template <class T>
void product_backward(BackwardContext<T>& c, std::size_t xi, std::size_t wi, const T* gy,
                      std::size_t rows, std::size_t out, std::size_t in) {
  const Tensor<T>& x = c.input(xi);
  const T* w = c.input(wi).data();
  bool fresh = false;
  if (c.needs_grad(xi)) {
    T* gx = c.grad_buffer(xi, fresh).data();
    detail::gemm(false, false, rows, in, out, gy, w, fresh ? T(0) : T(1), gx);
  }
  if (c.needs_grad(wi)) {
    T* gw = c.grad_buffer(wi, fresh).data();
    if (const Indices* hot = c.one_hot_input(xi)) {
      scatter_one_hot(c, *hot, gy, out, in, rows, gw, fresh);
    } else {
      detail::gemm(true, false, out, in, rows, gy, x.data(), fresh ? T(0) : T(1), gw);
    }
  }
}

// db += sum over the rows of dy, for the bias in each of the given input slots that needs a
// gradient (one pass over dy, however many biases share it).
template <class T>
void bias_backward(BackwardContext<T>& c, std::initializer_list<std::size_t> slots, const T* gy,
                   std::size_t rows, std::size_t out) {
  T* gb[2] = {nullptr, nullptr};
  std::size_t n = 0;
  for (std::size_t i : slots) {
    if (!c.needs_grad(i)) continue;
    bool fresh = false;
    gb[n] = c.grad_buffer(i, fresh).data();
    if (fresh) std::fill(gb[n], gb[n] + out, T(0));
    ++n;
  }
  if (n == 0) return;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* gyr = gy + r * out;
    if (n == 1)
      for (std::size_t j = 0; j < out; ++j) gb[0][j] += gyr[j];
    else
      for (std::size_t j = 0; j < out; ++j) {
        gb[0][j] += gyr[j];
        gb[1][j] += gyr[j];
      }
  }
}

// y = x W^T (+ b) (+ addend), W stored [out, in] as in PyTorch;  dx += dy W,  dW += dy^T x,
// db += sum_rows dy,  d_addend += dy. The weight is used transposed inside the GEMM, never
// copied; an addend (PyTorch's addmm) is copied into y first and the GEMM adds onto it (beta 1).
// A one-hot x (Tape::one_hot) selects one column of W per row: a gather, no GEMM.
struct Linear {
  static constexpr const char* name = "linear";
  static constexpr OpMath math{
      "y = x @ W^T + b + addend",
      {{"x", "gy @ W"}, {"W", "gy^T @ x"}, {"b", "sum over rows of gy"}, {"addend", "gy"}}};
  bool bias, addend;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const Tensor<T>& w = c.input(1);
    const bool shapes_ok =
        (x.dimension() == 2 || x.dimension() == 3) && w.dimension() == 2 &&
        x.shape()[x.dimension() - 1] == w.shape()[1] &&
        (!bias || (c.input(2).dimension() == 1 && c.input(2).shape()[0] == w.shape()[0]));
    if (!shapes_ok)
      throw Error(std::string("linear: expected x [n, in] (or [b, n, in]), weight [out, in] and "
                              "bias [out]; got x ") +
                  shape_str(x.shape()) + ", weight " + shape_str(w.shape()) +
                  (bias ? ", bias " + shape_str(c.input(2).shape()) : std::string()));
    const std::size_t out = w.shape()[0], in = w.shape()[1],
                      rows = x.size() / std::max<std::size_t>(in, 1);
    Shape shape = x.shape();
    shape.back() = out;
    Tensor<T>& y = detail::output_shaped(c, shape);
    const T* a = addend ? c.input(bias ? 3 : 2).data() : nullptr;
    if (addend && !detail::same_shape(c.input(bias ? 3 : 2).shape(), y.shape()))
      throw Error("linear: the addend must have the output's shape " + shape_str(y.shape()) +
                  ", got " + shape_str(c.input(bias ? 3 : 2).shape()));
    const T* b = bias ? c.input(2).data() : nullptr;
    if (const Indices* hot = c.one_hot_input(0)) {
      gather_one_hot<T>(c, *hot, w.data(), out, in, rows, a, b, nullptr, y.data());
      return;
    }
    if (a || b) fill_rows<T>(rows, out, a, b, nullptr, y.data());
    detail::gemm(false, true, rows, out, in, x.data(), w.data(), (a || b) ? T(1) : T(0), y.data());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const std::size_t out = c.input(1).shape()[0], in = c.input(1).shape()[1],
                      rows = c.input(0).size() / std::max<std::size_t>(in, 1);
    const T* gy = c.grad_output().data();
    product_backward(c, 0, 1, gy, rows, out, in);
    if (bias) bias_backward(c, {2}, gy, rows, out);
    const std::size_t ia = bias ? 3 : 2;
    if (addend && c.needs_grad(ia)) {
      bool fresh = false;
      T* ga = c.grad_buffer(ia, fresh).data();
      detail::add_into(ga, gy, rows * out, fresh);
    }
  }
};
TAPEGRAD_BUILTIN_OP(Linear);

// y = x W_x^T + h W_h^T (+ b_x + b_h): the pre-activation of a recurrent cell's step (every
// gate of an RNN, LSTM) as one op. Against linear(h, W_h, b_h, linear(x, W_x, b_x)) it skips
// the intermediate output, the pass that copies it into y, the addend's gradient copy, and one
// of the two passes that sum dy into the biases. Inputs: x, W_x, h, W_h (, b_x, b_h).
struct LinearPair {
  static constexpr const char* name = "linear_pair";
  static constexpr OpMath math{"y = x @ W_x^T + h @ W_h^T + b_x + b_h",
                               {{"x", "gy @ W_x"},
                                {"W_x", "gy^T @ x"},
                                {"h", "gy @ W_h"},
                                {"W_h", "gy^T @ h"},
                                {"b_x", "sum over rows of gy"},
                                {"b_h", "sum over rows of gy"}}};
  bool bias;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const Tensor<T>& wx = c.input(1);
    const Tensor<T>& h = c.input(2);
    const Tensor<T>& wh = c.input(3);
    const auto is_bias = [&](std::size_t i) {
      return c.input(i).dimension() == 1 && c.input(i).shape()[0] == wx.shape()[0];
    };
    const bool shapes_ok = x.dimension() == 2 && wx.dimension() == 2 && h.dimension() == 2 &&
                           wh.dimension() == 2 && x.shape()[1] == wx.shape()[1] &&
                           h.shape()[1] == wh.shape()[1] && h.shape()[0] == x.shape()[0] &&
                           wh.shape()[0] == wx.shape()[0] && (!bias || (is_bias(4) && is_bias(5)));
    if (!shapes_ok)
      throw Error(
          "linear_pair: expected x [n, in_x], weight_x [out, in_x], h [n, in_h], "
          "weight_h [out, in_h]" +
          std::string(bias ? " and biases [out]" : "") + "; got x " + shape_str(x.shape()) +
          ", weight_x " + shape_str(wx.shape()) + ", h " + shape_str(h.shape()) + ", weight_h " +
          shape_str(wh.shape()) +
          (bias ? ", biases " + shape_str(c.input(4).shape()) + " and " +
                      shape_str(c.input(5).shape())
                : std::string()));
    const std::size_t rows = x.shape()[0], out = wx.shape()[0];
    Tensor<T>& y = detail::output_shaped(c, std::array<std::size_t, 2>{rows, out});
    const T* bx = bias ? c.input(4).data() : nullptr;
    const T* bh = bias ? c.input(5).data() : nullptr;
    if (const Indices* hot = c.one_hot_input(0)) {
      gather_one_hot<T>(c, *hot, wx.data(), out, wx.shape()[1], rows, nullptr, bx, bh, y.data());
    } else {
      if (bias) fill_rows<T>(rows, out, nullptr, bx, bh, y.data());
      detail::gemm(false, true, rows, out, wx.shape()[1], x.data(), wx.data(), bias ? T(1) : T(0),
                   y.data());
    }
    add_product(h, c.one_hot_input(2), wh.data(), rows, out, wh.shape()[1], y.data());
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const std::size_t rows = c.input(0).shape()[0], out = c.input(1).shape()[0];
    const T* gy = c.grad_output().data();
    product_backward(c, 0, 1, gy, rows, out, c.input(1).shape()[1]);
    product_backward(c, 2, 3, gy, rows, out, c.input(3).shape()[1]);
    if (bias) bias_backward(c, {4, 5}, gy, rows, out);
  }
};
TAPEGRAD_BUILTIN_OP(LinearPair);

struct Transpose {
  static constexpr const char* name = "transpose";
  static constexpr OpMath math{"y = x with its axes permuted by perm",
                               {{"x", "gy with its axes permuted back"}}};
  std::array<std::uint8_t, 8> perm;
  std::uint8_t rank;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) =
        xt::transpose(c.input(0), std::vector<std::size_t>(perm.begin(), perm.begin() + rank));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    std::vector<std::size_t> inverse(rank);
    for (std::size_t k = 0; k < rank; ++k) inverse[perm[k]] = k;
    c.accumulate_grad(0, xt::transpose(c.grad_output(), inverse));
  }
};
TAPEGRAD_BUILTIN_OP(Transpose);

}  // namespace ops

/// [n,k] x [k,m] -> [n,m] through BLAS; [b,n,k] x [b,k,m] -> [b,n,m] (batched);
/// [b,n,k] x [k,m] -> [b,n,m] (one weight for the whole batch). With a Tape::one_hot a, the
/// product is a row gather of b (and linear's a column gather of the weight): no GEMM.
template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b) {
  return apply(ops::Matmul{}, a, b);
}

/// x W^T (+ b) with the weight stored [out, in] as in PyTorch: x [n, in] or [b, n, in].
/// One GEMM that reads W transposed in place (no copy), the bias added in the same pass.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight) {
  return apply(ops::Linear{false, false}, x, weight);
}

template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight, const Var<T>& bias) {
  return apply(ops::Linear{true, false}, x, weight, bias);
}

/// addend + x W^T + b (PyTorch's addmm): the addend, shaped like the output, is copied into the
/// output and the GEMM adds onto it, so an RNN step h W_hh^T + b_hh + (x W_ih^T + b_ih) is one op.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& weight, const Var<T>& bias, const Var<T>& addend) {
  return apply(ops::Linear{true, true}, x, weight, bias, addend);
}

/// x W_x^T + h W_h^T (+ b_x + b_h), x [n, in_x], h [n, in_h], both weights [out, in_*]: a
/// recurrent cell's pre-activation in one op (one output written once, one pass over its
/// gradient for both biases). A Tape::one_hot x or h is a column gather of its weight.
template <class T>
Var<T> linear_pair(const Var<T>& x, const Var<T>& weight_x, const Var<T>& h,
                   const Var<T>& weight_h) {
  return apply(ops::LinearPair{false}, x, weight_x, h, weight_h);
}

template <class T>
Var<T> linear_pair(const Var<T>& x, const Var<T>& weight_x, const Var<T>& h, const Var<T>& weight_h,
                   const Var<T>& bias_x, const Var<T>& bias_h) {
  return apply(ops::LinearPair{true}, x, weight_x, h, weight_h, bias_x, bias_h);
}

/// Permutes axes; with no permutation, reverses them (a matrix's transpose).
template <class T>
Var<T> transpose(const Var<T>& x, const std::vector<std::size_t>& perm = {}) {
  const std::size_t rank = x.dim();
  if (rank > 8) throw Error("transpose: supports up to 8 axes, got " + shape_str(x.shape()));
  ops::Transpose op{};
  op.rank = static_cast<std::uint8_t>(rank);
  if (perm.empty()) {
    for (std::size_t k = 0; k < rank; ++k) op.perm[k] = static_cast<std::uint8_t>(rank - 1 - k);
  } else {
    std::array<bool, 8> seen{};
    bool ok = perm.size() == rank;
    for (std::size_t k = 0; ok && k < rank; ++k) {
      ok = perm[k] < rank && !seen[perm[k]];
      if (ok) seen[perm[k]] = true;
      op.perm[k] = static_cast<std::uint8_t>(perm[k]);
    }
    if (!ok)
      throw Error("transpose: permutation " + shape_str(perm) + " is not a permutation of the " +
                  std::to_string(rank) + " axes of " + shape_str(x.shape()));
  }
  return apply(op, x);
}

}  // namespace tapegrad
