#pragma once
// A recurrence over a whole sequence as one op: the sequence buffer.
//
// A recurrent cell run step by step (nn/recurrent.hpp) records a few nodes per step, each with
// a [B, H] value of its own, and BPTT is the tape's reverse walk over them. That is the form to
// read and to extend, and it stays. Its price shows at training sizes: the head needs every
// step's state in one [T*B, H] matrix (a concat: a copy, and one more for its gradient), the
// weight's gradient is T small GEMMs instead of one, and tanh's derivative is a pass of its own.
//
// Here the T states live in the op's one contiguous [T, B, H] output. Step t reads step t-1's
// state where it lies (a pointer into the buffer: the per-step slices are views, never copies),
// the head or the next layer reads the buffer whole, and the backward walks the steps inside
// the op: it forms every step's pre-activation gradient in one fused pass (tanh's derivative
// included) into one [T, B, H] buffer, so dW is a single GEMM over all steps. nn::RNN runs a
// [T, B, I] sequence tensor through it; the tests hold it to the unrolled cells (values and
// gradients) and to central differences.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "tapegrad/detail/blas.hpp"
#include "tapegrad/detail/simd.hpp"
#include "tapegrad/op.hpp"

namespace tapegrad {
namespace detail {
// One length per row of a [T, B, ...] sequence's batch, or none.
inline void check_lengths(const char* op, const std::vector<std::size_t>& lengths,
                          const Shape& sequence) {
  if (!lengths.empty() && sequence.size() == 3 && lengths.size() != sequence[1])
    throw Error(std::string(op) + ": " + std::to_string(lengths.size()) +
                " lengths given for a batch of " + std::to_string(sequence[1]) + " (x is " +
                shape_str(sequence) + ")");
}
}  // namespace detail

namespace ops {

// y_t = tanh(x_t + y_{t-1} W^T + b) for t = 0..T-1, y_{-1} = h0; x, y [T, B, H], W [H, H].
// x_t is the step's input part (x_t W_ih^T + b_ih, computed for all steps at once).
// With lengths, row r runs while t < lengths[r] and then holds: y_t[r] = y_{t-1}[r].
//
// Backward. s_t = dL/dy_t in all (gy_t from outside, plus what step t+1 sends back) and
// d_t = dL/d(x_t + y_{t-1} W^T + b), the pre-activation's gradient:
//   d_t = s_t (1 - y_t^2)                 (0 for a held row)
//   s_{t-1} = gy_{t-1} + d_t W            (+ s_t itself for a row held at step t)
//   dx_t = d_t,   dh0 = d_0 W,   dW = sum_t d_t^T y_{t-1},   db = sum over t and rows of d_t
// d lives in x's gradient buffer when that is fresh (else in a workspace): the pass that forms
// d_t also sums db, and dW is d[1..T-1]^T y[0..T-2] (one GEMM, K = (T-1) B) plus d_0^T h0.
struct RnnTanhSequence {
  static constexpr const char* name = "rnn_tanh_sequence";
  static constexpr OpMath math{
      "y_t = tanh(x_t + y_{t-1} @ W^T + b) for t = 0..T-1, y_{-1} = h0",
      {{"x", "d_t = (gy_t + d_{t+1} @ W) * (1 - y_t^2), from t = T-1 down"},
       {"h0", "d_0 @ W"},
       {"W", "sum over t of d_t^T @ y_{t-1}"},
       {"b", "sum over t and rows of d_t"}}};
  bool bias;
  // One length per row of the batch, or null: read while recording only (backward reads the
  // copy forward saves).
  const std::size_t* lengths;

  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const Tensor<T>& h0 = c.input(1);
    const Tensor<T>& w = c.input(2);
    check_shapes(x, h0, w, bias ? &c.input(3) : nullptr);
    const std::size_t steps = x.shape()[0], B = x.shape()[1], H = x.shape()[2], BH = B * H;
    const std::size_t running = running_steps(steps, B);
    Tensor<T>& y = detail::output_shaped(c, x.shape());
    const T* b = bias ? c.input(3).data() : nullptr;
    // W^T, made once for the T products below: with it each step's GEMM reads both operands
    // untransposed, which OpenBLAS runs faster for a batch of few rows. A batch of one is a
    // matrix-vector product, which reads W's rows in place as well as W^T's: there the copy
    // would only cost (a seventh of the (100, 1, 25, 65) step, under perf).
    const bool transposed = B > 1;
    const T* wt = w.data();
    if (transposed) {
      T* copy = detail::at_least(c.workspace(0), H * H);
      detail::transpose_into(w.data(), H, H, copy);
      wt = copy;
    }
    for (std::size_t t = 0; t < steps; ++t) {
      T* yt = y.data() + t * BH;
      const T* prev = t == 0 ? h0.data() : yt - BH;
      if (t >= running) {  // every row has ended: the state is held, no step runs
        std::memcpy(yt, prev, BH * sizeof(T));
        continue;
      }
      const T* xt = x.data() + t * BH;
      if (b) {
        for (std::size_t r = 0; r < B; ++r)
          for (std::size_t j = 0; j < H; ++j) yt[r * H + j] = xt[r * H + j] + b[j];
      } else {
        std::memcpy(yt, xt, BH * sizeof(T));
      }
      detail::gemm(false, !transposed, B, H, H, prev, wt, T(1), yt);
      detail::simd::tanh(yt, yt, BH);
      if (lengths)
        for (std::size_t r = 0; r < B; ++r)
          if (t >= lengths[r]) std::memcpy(yt + r * H, prev + r * H, H * sizeof(T));
    }
    if (lengths && c.requires_grad()) c.save_indices().assign(lengths, lengths + B);
  }

  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const T* h0 = c.input(1).data();
    const T* w = c.input(2).data();
    const std::size_t steps = x.shape()[0], B = x.shape()[1], H = x.shape()[2], BH = B * H;
    const T* y = c.output().data();
    const T* gy = c.grad_output().data();
    const Indices* len = lengths ? &c.saved_indices() : nullptr;
    const auto held = [len](std::size_t t, std::size_t r) {
      return len && t >= static_cast<std::size_t>((*len)[r]);
    };

    // d: x's own gradient buffer when it is fresh (dx = d exactly), else a workspace.
    bool x_fresh = false;
    T* gx = c.needs_grad(0) ? c.grad_buffer(0, x_fresh).data() : nullptr;
    T* d = x_fresh ? gx : detail::at_least(c.workspace(0), steps * BH);
    T* gb = nullptr;
    if (bias && c.needs_grad(3)) gb = c.grad_buffer_zeroed(3).data();
    // carry = what step t+1 sends back to y_t; s keeps s_t itself for held rows.
    T* carry = detail::at_least(c.workspace(1), BH);
    T* s = len ? detail::at_least(c.workspace(2), BH) : nullptr;

    std::size_t running = steps;
    if (len) running = static_cast<std::size_t>(*std::max_element(len->begin(), len->end()));
    for (std::size_t t = steps; t-- > 0;) {
      T* dt = d + t * BH;
      const T* yt = y + t * BH;
      const T* gyt = gy + t * BH;
      const bool last = t + 1 == steps;
      if (t >= running) {  // every row held: s_t goes on whole, d_t = 0
        for (std::size_t k = 0; k < BH; ++k) carry[k] = gyt[k] + (last ? T(0) : carry[k]);
        std::fill(dt, dt + BH, T(0));
        continue;
      }
      for (std::size_t r = 0; r < B; ++r) {
        const std::size_t o = r * H;
        if (held(t, r)) {  // d_t = 0; the whole of s_t goes on to y_{t-1}
          for (std::size_t j = 0; j < H; ++j) s[o + j] = gyt[o + j] + (last ? T(0) : carry[o + j]);
          std::fill(dt + o, dt + o + H, T(0));
          continue;
        }
        if (last) {
          for (std::size_t j = 0; j < H; ++j)
            dt[o + j] = gyt[o + j] * (T(1) - yt[o + j] * yt[o + j]);
        } else {
          for (std::size_t j = 0; j < H; ++j)
            dt[o + j] = (gyt[o + j] + carry[o + j]) * (T(1) - yt[o + j] * yt[o + j]);
        }
        if (gb)
          for (std::size_t j = 0; j < H; ++j) gb[j] += dt[o + j];
      }
      if (t > 0) {
        detail::gemm(false, false, B, H, H, dt, w, T(0), carry);  // d_t W
        if (len)
          for (std::size_t r = 0; r < B; ++r)
            if (held(t, r)) std::memcpy(carry + r * H, s + r * H, H * sizeof(T));
      } else if (c.needs_grad(1)) {  // lengths are at least 1: no row is held at t = 0
        bool fresh = false;
        T* gh0 = c.grad_buffer(1, fresh).data();
        detail::gemm(false, false, B, H, H, dt, w, fresh ? T(0) : T(1), gh0);
      }
    }
    if (c.needs_grad(2)) {
      bool fresh = false;
      T* gw = c.grad_buffer(2, fresh).data();
      T beta = fresh ? T(0) : T(1);
      if (steps > 1) {
        detail::gemm(true, false, H, H, (steps - 1) * B, d + BH, y, beta, gw);
        beta = T(1);
      }
      detail::gemm(true, false, H, H, B, d, h0, beta, gw);
    }
    if (gx && !x_fresh) detail::add_into(gx, d, steps * BH, false);
  }

 private:
  // Steps until every row has ended (all of them without lengths).
  std::size_t running_steps(std::size_t steps, std::size_t B) const {
    return lengths ? std::min(steps, *std::max_element(lengths, lengths + B)) : steps;
  }
  template <class T>
  void check_shapes(const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>& w,
                    const Tensor<T>* b) const {
    const auto& s = x.shape();
    const bool x_ok = x.dimension() == 3 && s[0] > 0 && s[1] > 0 && s[2] > 0;
    const std::size_t B = x_ok ? s[1] : 0, H = x_ok ? s[2] : 0;
    const bool ok = x_ok && h0.dimension() == 2 && h0.shape()[0] == B && h0.shape()[1] == H &&
                    w.dimension() == 2 && w.shape()[0] == H && w.shape()[1] == H &&
                    (!b || (b->dimension() == 1 && b->shape()[0] == H));
    if (!ok)
      throw Error(
          "rnn_tanh_sequence: expected x [steps, batch, hidden] (none of them 0), h0 "
          "[batch, hidden], W [hidden, hidden]" +
          std::string(b ? " and b [hidden]" : "") + "; got x " + shape_str(s) + ", h0 " +
          shape_str(h0.shape()) + ", W " + shape_str(w.shape()) +
          (b ? ", b " + shape_str(b->shape()) : std::string()));
    if (lengths)
      for (std::size_t r = 0; r < B; ++r)
        if (lengths[r] < 1 || lengths[r] > s[0])
          throw Error("rnn_tanh_sequence: lengths[" + std::to_string(r) + "] is " +
                      std::to_string(lengths[r]) + "; expected a length in [1, " +
                      std::to_string(s[0]) + "] (x is " + shape_str(s) + ")");
  }
};
TAPEGRAD_BUILTIN_OP(RnnTanhSequence);

}  // namespace ops

/// The tanh RNN over a whole sequence as one op (see the top of this header):
///   y_t = tanh(x_t + y_{t-1} W^T + b),  y_{-1} = h0
/// x [T, B, H]: every step's input part x_t W_ih^T + b_ih, computed for all steps at once (one
/// linear over the sequence, or a gather for one-hot input); h0 [B, H]; W [H, H] (PyTorch's
/// weight_hh); b [H] (bias_hh). Returns y [T, B, H], the state after every step.
/// lengths (optional, one per row of the batch, each in [1, T]): row r stops after step
/// lengths[r] - 1 and holds its state from then on, so y[T-1] is every row's last state.
template <class T>
Var<T> rnn_tanh_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& w,
                         const std::vector<std::size_t>& lengths = {}) {
  detail::check_lengths("rnn_tanh_sequence", lengths, x.shape());
  return apply(ops::RnnTanhSequence{false, lengths.empty() ? nullptr : lengths.data()}, x, h0, w);
}
template <class T>
Var<T> rnn_tanh_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& w, const Var<T>& b,
                         const std::vector<std::size_t>& lengths = {}) {
  detail::check_lengths("rnn_tanh_sequence", lengths, x.shape());
  return apply(ops::RnnTanhSequence{true, lengths.empty() ? nullptr : lengths.data()}, x, h0, w, b);
}

}  // namespace tapegrad
