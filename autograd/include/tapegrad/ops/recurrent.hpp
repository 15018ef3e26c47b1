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
//
// The LSTM (lstm_sequence) is the same op with four gates: its backward forms the four gates'
// pre-activation gradients of every step into one [T, B, 4H] buffer, and nn::LSTM's sequence
// form runs on it the way nn::RNN's runs on rnn_tanh_sequence.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "tapegrad/detail/blas.hpp"
#include "tapegrad/detail/simd.hpp"
#include "tapegrad/op.hpp"
#include "tapegrad/ops/linalg.hpp"  // fill_rows

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

// What the backward of both sequence ops needs of the lengths forward saved: which rows hold at
// which step, and how many steps ran at all.
struct HeldRows {
  const Indices* lengths;  // null: every row runs every step
  bool operator()(std::size_t t, std::size_t r) const {
    return lengths && t >= static_cast<std::size_t>((*lengths)[r]);
  }
  std::size_t running(std::size_t steps) const {
    return lengths ? static_cast<std::size_t>(*std::max_element(lengths->begin(), lengths->end()))
                   : steps;
  }
};
// Steps until every row has ended, for forward (all of them without lengths).
inline std::size_t running_steps(const std::size_t* lengths, std::size_t steps, std::size_t B) {
  return lengths ? std::min(steps, *std::max_element(lengths, lengths + B)) : steps;
}
// Each of the B lengths in [1, T] for x [T, B, ...].
inline void check_length_range(const char* op, const std::size_t* lengths, const Shape& x) {
  if (!lengths) return;
  for (std::size_t r = 0; r < x[1]; ++r)
    if (lengths[r] < 1 || lengths[r] > x[0])
      throw Error(std::string(op) + ": lengths[" + std::to_string(r) + "] is " +
                  std::to_string(lengths[r]) + "; expected a length in [1, " +
                  std::to_string(x[0]) + "] (x is " + shape_str(x) + ")");
}

// ||a + b||^2 over n elements (b may be null), summed in double: one step's share of a state
// gradient's norm, for a sequence op asked for them (state_grad_norms).
template <class T>
double squared_norm_of_sum(const T* a, const T* b, std::size_t n) {
  double sum = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double v = double(a[k]) + (b ? double(b[k]) : 0.0);
    sum += v * v;
  }
  return sum;
}

// The norms a sequence op's backward reports, one per step, all 0 to start; null when the
// caller asked for none.
inline double* state_grad_norms_of(std::vector<double>* norms, std::size_t steps) {
  if (!norms) return nullptr;
  norms->assign(steps, 0.0);
  return norms->data();
}

// Where a sequence op's backward forms the gradient d of its pre-activations (the gates), n
// elements shaped like x: x's own gradient buffer when that is fresh (then dx = d with no
// copy), else the tape's workspace 0, added into x's gradient by finish().
template <class T>
struct GateGradient {
  T* gx = nullptr;  // x's gradient buffer, or null when x needs none
  T* d = nullptr;
  bool x_fresh = false;
  GateGradient(BackwardContext<T>& c, std::size_t n) {
    if (c.needs_grad(0)) gx = c.grad_buffer(0, x_fresh).data();
    d = x_fresh ? gx : at_least(c.workspace(0), n);
  }
  void finish(std::size_t n) const {
    if (gx && !x_fresh) add_into(gx, d, n, false);
  }
};

// dW (+)= sum over the running steps t of d_t^T h_{t-1}, W [G, H] the input wi of the op:
// d [T, B, G] and the states y (h_t at row t) give one GEMM over steps 1..running-1 (K =
// (running-1) B), and step 0 one more with h0.
template <class T>
void recurrent_weight_grad(BackwardContext<T>& c, std::size_t wi, const T* d, const T* y,
                           const T* h0, std::size_t running, std::size_t B, std::size_t G,
                           std::size_t H) {
  if (!c.needs_grad(wi)) return;
  bool fresh = false;
  T* gw = c.grad_buffer(wi, fresh).data();
  T beta = fresh ? T(0) : T(1);
  if (running > 1) {
    gemm(true, false, G, H, (running - 1) * B, d + B * G, y, beta, gw);
    beta = T(1);
  }
  gemm(true, false, G, H, B, d, h0, beta, gw);
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
  // Null, or where backward puts ||s_t|| for every step (the whole batch's; see
  // rnn_tanh_sequence): the caller's, alive until backward.
  std::vector<double>* state_grad_norms = nullptr;

  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const Tensor<T>& h0 = c.input(1);
    const Tensor<T>& w = c.input(2);
    check_shapes(x, h0, w, bias ? &c.input(3) : nullptr);
    const std::size_t steps = x.shape()[0], B = x.shape()[1], H = x.shape()[2], BH = B * H;
    const std::size_t running = detail::running_steps(lengths, steps, B);
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
      fill_rows<T>(B, H, xt, b, nullptr, yt);  // x_t + b, which the GEMM then adds onto
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
    const detail::HeldRows held{lengths ? &c.saved_indices() : nullptr};
    const std::size_t running = held.running(steps);
    const detail::GateGradient<T> grad(c, steps * BH);
    T* d = grad.d;
    T* gb = nullptr;
    if (bias && c.needs_grad(3)) gb = c.grad_buffer_zeroed(3).data();
    // carry = what step t+1 sends back to y_t; s keeps s_t itself for held rows.
    T* carry = detail::at_least(c.workspace(1), BH);
    T* s = lengths ? detail::at_least(c.workspace(2), BH) : nullptr;
    double* norms = detail::state_grad_norms_of(state_grad_norms, steps);

    for (std::size_t t = steps; t-- > 0;) {
      T* dt = d + t * BH;
      const T* yt = y + t * BH;
      const T* gyt = gy + t * BH;
      const bool last = t + 1 == steps;
      if (t >= running) {  // every row held: s_t goes on whole, d_t = 0
        for (std::size_t k = 0; k < BH; ++k) carry[k] = gyt[k] + (last ? T(0) : carry[k]);
        std::fill(dt, dt + BH, T(0));
        if (norms) norms[t] = std::sqrt(detail::squared_norm_of_sum<T>(carry, nullptr, BH));
        continue;
      }
      double squared = 0;  // ||s_t||^2, when asked for
      for (std::size_t r = 0; r < B; ++r) {
        const std::size_t o = r * H;
        if (held(t, r)) {  // d_t = 0; the whole of s_t goes on to y_{t-1}
          for (std::size_t j = 0; j < H; ++j) s[o + j] = gyt[o + j] + (last ? T(0) : carry[o + j]);
          std::fill(dt + o, dt + o + H, T(0));
          if (norms) squared += detail::squared_norm_of_sum<T>(s + o, nullptr, H);
          continue;
        }
        if (norms) squared += detail::squared_norm_of_sum(gyt + o, last ? nullptr : carry + o, H);
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
      if (norms) norms[t] = std::sqrt(squared);
      if (t > 0) {
        detail::gemm(false, false, B, H, H, dt, w, T(0), carry);  // d_t W
        if (lengths)
          for (std::size_t r = 0; r < B; ++r)
            if (held(t, r)) std::memcpy(carry + r * H, s + r * H, H * sizeof(T));
      } else if (c.needs_grad(1)) {  // lengths are at least 1: no row is held at t = 0
        bool fresh = false;
        T* gh0 = c.grad_buffer(1, fresh).data();
        detail::gemm(false, false, B, H, H, dt, w, fresh ? T(0) : T(1), gh0);
      }
    }
    // d_t is 0 at every step from `running` on: those steps add nothing to dW.
    detail::recurrent_weight_grad(c, 2, d, y, h0, running, B, H, H);
    grad.finish(steps * BH);
  }

 private:
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
    detail::check_length_range(name, lengths, s);
  }
};
TAPEGRAD_BUILTIN_OP(RnnTanhSequence);

// The LSTM, PyTorch's gate order i, f, g, o, for t = 0..T-1 from (h_{-1}, c_{-1}) = (h0, c0):
//   [i, f, g, o]_t = [sigmoid, sigmoid, tanh, sigmoid](x_t + b + h_{t-1} W^T)
//   c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)
// x [T, B, 4H] (x_t W_ih^T + b_ih for every step), h0 and c0 [B, H], W [4H, H], b [4H].
// An op has one output, so the last cell state rides in it: y [T + 1, B, H] with y[t] = h_t for
// t < T and y[T] = c_{T-1}. With lengths, row r runs while t < lengths[r] and then holds both:
// h_t[r] = h_{t-1}[r] and c_t[r] = c_{t-1}[r] (so y[T-1] and y[T] are each row's last h and c).
//
// Backward. sh_t = dL/dh_t in all (gy_t plus what step t+1 sends back), sc_t = dL/dc_t in all:
//   sc_t = cc_t + sh_t o (1 - tanh(c_t)^2)     cc_t: step t+1's f sc_{t+1}; cc_{T-1} = gy_T
//   d_t = [sc_t g i (1 - i), sc_t c_{t-1} f (1 - f), sc_t i (1 - g^2), sh_t tanh(c_t) o (1 - o)]
//   sent to h_{t-1}: d_t W;  to c_{t-1}: sc_t f      (a held row: d_t = 0, sh_t and sc_t whole)
//   dx_t = d_t,  dh0 = d_0 W,  dc0 = sc_0 f_0,  dW = sum_t d_t^T h_{t-1},  db = sum of d_t
// As in RnnTanhSequence, d lives in x's gradient buffer when fresh, the pass that forms d_t also
// sums db, and dW is one GEMM over the running steps 1.. plus d_0^T h0. Forward saves the
// activated gates [T, B, 4H], c [T, B, H] and tanh(c) [T, B, H]: backward then evaluates no
// transcendental function.
struct LstmSequence {
  static constexpr const char* name = "lstm_sequence";
  static constexpr OpMath math{
      "y = [h_0, ..., h_{T-1}, c_{T-1}]: [i, f, g, o]_t = act(x_t + h_{t-1} @ W^T + b), "
      "c_t = f c_{t-1} + i g, h_t = o tanh(c_t) for t = 0..T-1, (h_{-1}, c_{-1}) = (h0, c0)",
      {{"x",
        "d_t = [sc g i (1-i), sc c_{t-1} f (1-f), sc i (1-g^2), sh tanh(c_t) o (1-o)] with "
        "sh = gy_t + d_{t+1} @ W and sc = f_{t+1} sc_{t+1} + sh o (1 - tanh(c_t)^2) (gy_T in "
        "place of f_{t+1} sc_{t+1} at t = T-1), from t = T-1 down"},
       {"h0", "d_0 @ W"},
       {"c0", "f_0 sc_0"},
       {"W", "sum over t of d_t^T @ h_{t-1}"},
       {"b", "sum over t and rows of d_t"}}};
  bool bias;
  // One length per row of the batch, or null: read while recording only (as RnnTanhSequence's).
  const std::size_t* lengths;
  // Null, or where backward puts ||sh_t|| for every step (as RnnTanhSequence's).
  std::vector<double>* state_grad_norms = nullptr;

  template <class T>
  void forward(ForwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const Tensor<T>& h0 = c.input(1);
    const Tensor<T>& c0 = c.input(2);
    const Tensor<T>& w = c.input(3);
    check_shapes(x, h0, c0, w, bias ? &c.input(4) : nullptr);
    const std::size_t steps = x.shape()[0], B = x.shape()[1], G = x.shape()[2], H = G / 4;
    const std::size_t BH = B * H, BG = B * G;
    const std::size_t running = detail::running_steps(lengths, steps, B);
    Tensor<T>& out = detail::output_shaped(c, std::array<std::size_t, 3>{steps + 1, B, H});
    // What backward reads lives on the node; with no gradient to come, in the tape's scratch.
    const bool keep = c.requires_grad();
    const auto buffer = [&](std::size_t k, std::size_t n) {
      return keep ? detail::exactly(c.save(k), n) : detail::at_least(c.workspace(k), n);
    };
    T* gates = buffer(0, steps * BG);
    T* cs = buffer(1, steps * BH);
    T* tcs = buffer(2, steps * BH);
    T* y = out.data();
    const T* b = bias ? c.input(4).data() : nullptr;
    for (std::size_t t = 0; t < steps; ++t) {
      T* ht = y + t * BH;
      T* ct = cs + t * BH;
      const T* hp = t == 0 ? h0.data() : ht - BH;
      const T* cp = t == 0 ? c0.data() : ct - BH;
      // A held row's gates and tanh(c) are left as they are: backward reads neither.
      if (t >= running) {  // every row has ended: h and c are held, no step runs
        std::memcpy(ht, hp, BH * sizeof(T));
        std::memcpy(ct, cp, BH * sizeof(T));
        continue;
      }
      T* at = gates + t * BG;
      const T* xt = x.data() + t * BG;
      fill_rows<T>(B, G, xt, b, nullptr, at);  // x_t + b, which the GEMM then adds onto
      detail::gemm(false, true, B, G, H, hp, w.data(), T(1), at);
      for (std::size_t r = 0; r < B; ++r) {
        const std::size_t o = r * H;
        if (lengths && t >= lengths[r]) {
          std::memcpy(ht + o, hp + o, H * sizeof(T));
          std::memcpy(ct + o, cp + o, H * sizeof(T));
          continue;
        }
        // The activations in place: i and f are one sigmoid pass, then g, then o.
        T* a = at + r * G;
        detail::simd::sigmoid(a, a, 2 * H);
        detail::simd::tanh(a + 2 * H, a + 2 * H, H);
        detail::simd::sigmoid(a + 3 * H, a + 3 * H, H);
        const T *i = a, *f = a + H, *g = a + 2 * H, *og = a + 3 * H;
        T* cr = ct + o;
        T* tc = tcs + t * BH + o;
        for (std::size_t j = 0; j < H; ++j) cr[j] = f[j] * cp[o + j] + i[j] * g[j];
        detail::simd::tanh(tc, cr, H);
        for (std::size_t j = 0; j < H; ++j) ht[o + j] = og[j] * tc[j];
      }
    }
    std::memcpy(y + steps * BH, cs + (steps - 1) * BH, BH * sizeof(T));  // c_{T-1}
    if (lengths && keep) c.save_indices().assign(lengths, lengths + B);
  }

  template <class T>
  void backward(BackwardContext<T>& c) const {
    const Tensor<T>& x = c.input(0);
    const T* h0 = c.input(1).data();
    const T* c0 = c.input(2).data();
    const T* w = c.input(3).data();
    const std::size_t steps = x.shape()[0], B = x.shape()[1], G = x.shape()[2], H = G / 4;
    const std::size_t BH = B * H, BG = B * G;
    const T* gates = c.saved(0).data();
    const T* cs = c.saved(1).data();
    const T* tcs = c.saved(2).data();
    const T* y = c.output().data();
    const T* gy = c.grad_output().data();
    const detail::HeldRows held{lengths ? &c.saved_indices() : nullptr};
    const std::size_t running = held.running(steps);
    const detail::GateGradient<T> grad(c, steps * BG);
    T* d = grad.d;
    T* gb = nullptr;
    if (bias && c.needs_grad(4)) gb = c.grad_buffer_zeroed(4).data();
    // dh, dc: what step t+1 sends back to h_t and c_t (nothing to h_{T-1}; gy_T to c_{T-1}).
    // sh keeps a held row's sh_t while the GEMM overwrites dh.
    T* dh = detail::at_least(c.workspace(1), BH);
    T* dc = detail::at_least(c.workspace(2), BH);
    T* sh = lengths ? detail::at_least(c.workspace(3), BH) : nullptr;
    std::fill(dh, dh + BH, T(0));
    std::memcpy(dc, gy + steps * BH, BH * sizeof(T));
    double* norms = detail::state_grad_norms_of(state_grad_norms, steps);

    for (std::size_t t = steps; t-- > 0;) {
      T* dt = d + t * BG;
      const T* gyt = gy + t * BH;
      if (t >= running) {  // every row held: sh_t and sc_t go on whole, d_t = 0
        for (std::size_t k = 0; k < BH; ++k) dh[k] += gyt[k];
        std::fill(dt, dt + BG, T(0));
        if (norms) norms[t] = std::sqrt(detail::squared_norm_of_sum<T>(dh, nullptr, BH));
        continue;
      }
      const T* at = gates + t * BG;
      const T* cp = t == 0 ? c0 : cs + (t - 1) * BH;
      const T* tct = tcs + t * BH;
      double squared = 0;  // ||sh_t||^2, when asked for
      for (std::size_t r = 0; r < B; ++r) {
        const std::size_t o = r * H;
        T* dr = dt + r * G;
        if (norms) squared += detail::squared_norm_of_sum(gyt + o, dh + o, H);  // sh_t's row
        if (held(t, r)) {  // d_t = 0; dc[r] is already sc_t, what c_{t-1} receives
          for (std::size_t j = 0; j < H; ++j) sh[o + j] = gyt[o + j] + dh[o + j];
          std::fill(dr, dr + G, T(0));
          continue;
        }
        row_backward(H, at + r * G, gyt + o, dh + o, tct + o, cp + o, dc + o, dr);
        if (gb)
          for (std::size_t k = 0; k < G; ++k) gb[k] += dr[k];
      }
      if (norms) norms[t] = std::sqrt(squared);
      if (t > 0) {
        detail::gemm(false, false, B, H, G, dt, w, T(0), dh);  // d_t W
        if (lengths)
          for (std::size_t r = 0; r < B; ++r)
            if (held(t, r)) std::memcpy(dh + r * H, sh + r * H, H * sizeof(T));
        continue;
      }
      // t = 0 (lengths are at least 1: no row is held): the initial states' gradients.
      if (c.needs_grad(1)) {
        bool fresh = false;
        T* gh0 = c.grad_buffer(1, fresh).data();
        detail::gemm(false, false, B, H, G, dt, w, fresh ? T(0) : T(1), gh0);
      }
      if (c.needs_grad(2)) {
        bool fresh = false;
        T* gc0 = c.grad_buffer(2, fresh).data();  // before `fresh` is read: it sets it
        detail::add_into(gc0, dc, BH, fresh);
      }
    }
    // d_t is 0 at every step from `running` on: those steps add nothing to dW.
    detail::recurrent_weight_grad(c, 3, d, y, h0, running, B, G, H);
    grad.finish(steps * BG);
  }

 private:
  // One running row at one step: its activated gates a = [i, f, g, o], gy_t, what step t+1 sent
  // to h_t (dh), tanh(c_t), c_{t-1}; dc holds what step t+1 sent to c_t and leaves with f sc_t,
  // what c_{t-1} receives; d gets d_t = [d_i, d_f, d_g, d_o] (the math above the struct).
  // A function of its own for __restrict: none of these rows overlap, and without the promise
  // the compiler keeps the loop scalar (it cannot check so many pointers for overlap).
  template <class T>
  static void row_backward(std::size_t H, const T* __restrict a, const T* __restrict gy,
                           const T* __restrict dh, const T* __restrict tc,
                           const T* __restrict c_prev, T* __restrict dc, T* __restrict d) {
    const T *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
    for (std::size_t j = 0; j < H; ++j) {
      const T s_h = gy[j] + dh[j];
      const T s_c = dc[j] + s_h * o[j] * (T(1) - tc[j] * tc[j]);
      dc[j] = s_c * f[j];
      d[j] = s_c * g[j] * i[j] * (T(1) - i[j]);
      d[H + j] = s_c * c_prev[j] * f[j] * (T(1) - f[j]);
      d[2 * H + j] = s_c * i[j] * (T(1) - g[j] * g[j]);
      d[3 * H + j] = s_h * tc[j] * o[j] * (T(1) - o[j]);
    }
  }
  template <class T>
  void check_shapes(const Tensor<T>& x, const Tensor<T>& h0, const Tensor<T>& c0,
                    const Tensor<T>& w, const Tensor<T>* b) const {
    const auto& s = x.shape();
    const bool x_ok = x.dimension() == 3 && s[0] > 0 && s[1] > 0 && s[2] > 0 && s[2] % 4 == 0;
    const std::size_t B = x_ok ? s[1] : 0, G = x_ok ? s[2] : 0, H = G / 4;
    const auto is = [](const Tensor<T>& v, std::size_t rows, std::size_t cols) {
      return v.dimension() == 2 && v.shape()[0] == rows && v.shape()[1] == cols;
    };
    const bool ok = x_ok && is(h0, B, H) && is(c0, B, H) && is(w, G, H) &&
                    (!b || (b->dimension() == 1 && b->shape()[0] == G));
    if (!ok)
      throw Error(
          "lstm_sequence: expected x [steps, batch, 4 hidden] (none of them 0), h0 and c0 "
          "[batch, hidden], W [4 hidden, hidden]" +
          std::string(b ? " and b [4 hidden]" : "") + "; got x " + shape_str(s) + ", h0 " +
          shape_str(h0.shape()) + ", c0 " + shape_str(c0.shape()) + ", W " + shape_str(w.shape()) +
          (b ? ", b " + shape_str(b->shape()) : std::string()));
    detail::check_length_range(name, lengths, s);
  }
};
TAPEGRAD_BUILTIN_OP(LstmSequence);

}  // namespace ops

/// The tanh RNN over a whole sequence as one op (see the top of this header):
///   y_t = tanh(x_t + y_{t-1} W^T + b),  y_{-1} = h0
/// x [T, B, H]: every step's input part x_t W_ih^T + b_ih, computed for all steps at once (one
/// linear over the sequence, or a gather for one-hot input); h0 [B, H]; W [H, H] (PyTorch's
/// weight_hh); b [H] (bias_hh). Returns y [T, B, H], the state after every step.
/// lengths (optional, one per row of the batch, each in [1, T]): row r stops after step
/// lengths[r] - 1 and holds its state from then on, so y[T-1] is every row's last state.
/// state_grad_norms (optional): the next backward pass sets it to T norms, ||dL/dy_t|| over
/// the whole batch for every step, where dL/dy_t is the state's whole gradient: what y
/// receives from outside at row t plus what step t+1 sends back. It is what a hook on each
/// step's state reads when the cell runs step by step (the gradient that vanishes or explodes
/// along the sequence), which y's own gradient, the outside part alone, does not show. The
/// vector must outlive that backward pass.
template <class T>
Var<T> rnn_tanh_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& w,
                         const std::vector<std::size_t>& lengths = {},
                         std::vector<double>* state_grad_norms = nullptr) {
  detail::check_lengths("rnn_tanh_sequence", lengths, x.shape());
  return apply(
      ops::RnnTanhSequence{false, lengths.empty() ? nullptr : lengths.data(), state_grad_norms}, x,
      h0, w);
}
template <class T>
Var<T> rnn_tanh_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& w, const Var<T>& b,
                         const std::vector<std::size_t>& lengths = {},
                         std::vector<double>* state_grad_norms = nullptr) {
  detail::check_lengths("rnn_tanh_sequence", lengths, x.shape());
  return apply(
      ops::RnnTanhSequence{true, lengths.empty() ? nullptr : lengths.data(), state_grad_norms}, x,
      h0, w, b);
}

/// The LSTM over a whole sequence as one op (gates in PyTorch's order i, f, g, o):
///   [i, f, g, o]_t = [sigmoid, sigmoid, tanh, sigmoid](x_t + h_{t-1} W^T + b)
///   c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   (h_{-1}, c_{-1}) = (h0, c0)
/// x [T, B, 4H]: every step's input part x_t W_ih^T + b_ih, computed for all steps at once;
/// h0 and c0 [B, H]; W [4H, H] (PyTorch's weight_hh); b [4H] (bias_hh).
/// Returns y [T + 1, B, H]: rows 0..T-1 are the hidden states h_t after every step, and row T
/// is the last cell state c_{T-1} (an op has one output, and the cell state is a layer's to
/// pass on). The caller takes them apart: slice(y, 0, 0, T) is the hidden states,
/// select(y, 0, T - 1) the last h and select(y, 0, T) the last c.
/// lengths (optional, one per row of the batch, each in [1, T]): row r stops after step
/// lengths[r] - 1 and holds both h and c from then on, so rows T-1 and T are every sequence's
/// last h and c.
/// state_grad_norms (optional): as rnn_tanh_sequence's, ||dL/dh_t|| for t = 0..T-1, h_t's
/// whole gradient (from outside at row t, and from step t+1).
template <class T>
Var<T> lstm_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& c0, const Var<T>& w,
                     const std::vector<std::size_t>& lengths = {},
                     std::vector<double>* state_grad_norms = nullptr) {
  detail::check_lengths("lstm_sequence", lengths, x.shape());
  return apply(
      ops::LstmSequence{false, lengths.empty() ? nullptr : lengths.data(), state_grad_norms}, x, h0,
      c0, w);
}
template <class T>
Var<T> lstm_sequence(const Var<T>& x, const Var<T>& h0, const Var<T>& c0, const Var<T>& w,
                     const Var<T>& b, const std::vector<std::size_t>& lengths = {},
                     std::vector<double>* state_grad_norms = nullptr) {
  detail::check_lengths("lstm_sequence", lengths, x.shape());
  return apply(
      ops::LstmSequence{true, lengths.empty() ? nullptr : lengths.data(), state_grad_norms}, x, h0,
      c0, w, b);
}

}  // namespace tapegrad
