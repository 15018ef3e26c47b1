#pragma once
// What the two hand-written ceilings (bench_rnn_ceiling, bench_lstm_ceiling) share: SIMD
// element-wise helpers, the one-hot input gather and its scatter-add, the softmax-cross-entropy
// head with its gradient, and plain SGD. cblas and xsimd only; no tapegrad.
#include <cblas.h>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "workload.hpp"

namespace bench::ceiling {

using batch = xsimd::batch<float>;
constexpr std::size_t kLanes = batch::size;

// Loads, stores and the two activations for one float or one SIMD batch, so that each fused
// element-wise pass is written once (as a template on F) and runs batches with a scalar tail.
inline float load(const float* p, float) { return *p; }
inline batch load(const float* p, batch) { return batch::load_unaligned(p); }
inline void store(float* p, float v) { *p = v; }
inline void store(float* p, batch v) { v.store_unaligned(p); }
inline float tanh_of(float x) { return std::tanh(x); }
inline batch tanh_of(batch x) { return xsimd::tanh(x); }
inline float sigmoid_of(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline batch sigmoid_of(batch x) { return batch(1.0f) / (batch(1.0f) + xsimd::exp(-x)); }

/// Calls body(F{}, j) for j = 0, kLanes, ... with F = batch, then for the tail with F = float.
template <class Body>
void for_lanes(std::size_t n, Body&& body) {
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) body(batch(0.0f), j);
  for (; j < n; ++j) body(0.0f, j);
}

/// c[m, n] += a[m, k] op(b), row-major: op(b) = b [k, n], or b^T for b stored [n, k] when
/// b_transposed. The per-step products of the recurrences. A batch of one sequence (m == 1) is
/// a matrix-vector product, and runs as sgemv: sgemm packs both operands first, which at
/// (100, 1, 25, 65) took a quarter of the RNN ceiling's time (sgemm_itcopy, under perf).
inline void step_product(int m, int n, int k, const float* a, const float* b, bool b_transposed,
                         float* c) {
  if (m == 1) {  // c^T += op(b)^T a^T: y[n] += b^T x (b [k, n]) or b x (b [n, k])
    if (b_transposed)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, b, k, a, 1, 1.0f, c, 1);
    else
      cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1.0f, b, n, a, 1, 1.0f, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
              a, k, b, b_transposed ? k : n, 1.0f, c, n);
}

/// rows[r] = table[index[r]] + bias for every r: the one-hot input projection x W_ih^T + b of
/// all T*B inputs at once, with the table stored as W_ih^T [V, width] so a row is contiguous.
inline void gather_rows(const std::vector<std::int64_t>& index, const float* table,
                        const float* bias, std::size_t width, float* rows) {
  for (std::size_t r = 0; r < index.size(); ++r) {
    const float* w = table + std::size_t(index[r]) * width;
    float* out = rows + r * width;
    for_lanes(width,
              [&](auto f, std::size_t j) { store(out + j, load(w + j, f) + load(bias + j, f)); });
  }
}

/// The gather's gradient for rows [begin, end): table_grad[index[r]] += d[r], bias_grad += d[r].
inline void scatter_rows(const std::vector<std::int64_t>& index, std::size_t begin, std::size_t end,
                         const float* d, std::size_t width, float* table_grad, float* bias_grad) {
  for (std::size_t r = begin; r < end; ++r) {
    const float* dr = d + r * width;
    float* g = table_grad + std::size_t(index[r]) * width;
    for_lanes(width, [&](auto f, std::size_t j) {
      const auto x = load(dr + j, f);
      store(g + j, load(g + j, f) + x);
      store(bias_grad + j, load(bias_grad + j, f) + x);
    });
  }
}

/// The head over all N = T*B rows after logits = Hs W_hy^T: adds b_y, and in one pass per row
/// replaces the logits with dlogits = (softmax - one_hot(target)) / N and adds them into
/// by_grad (which it zeroes first). Returns the mean cross-entropy (summed in double).
inline double softmax_xent(float* logits, std::size_t N, std::size_t V, const float* by,
                           const std::vector<std::int64_t>& targets, float* by_grad) {
  std::fill(by_grad, by_grad + V, 0.0f);
  double loss = 0;
  const float inv_n = 1.0f / float(N);
  for (std::size_t r = 0; r < N; ++r) {
    float* z = logits + r * V;
    float mx = -INFINITY;
    for (std::size_t v = 0; v < V; ++v) mx = std::max(mx, z[v] += by[v]);
    const std::size_t y = std::size_t(targets[r]);
    const float zy = z[y] - mx;
    batch lanes(0.0f);
    std::size_t v = 0;
    for (; v + kLanes <= V; v += kLanes) {  // exp once per logit, kept for the gradient
      const batch e = xsimd::exp(batch::load_unaligned(z + v) - batch(mx));
      e.store_unaligned(z + v);
      lanes += e;
    }
    float sum = xsimd::hadd(lanes);
    for (; v < V; ++v) sum += (z[v] = std::exp(z[v] - mx));
    loss += double(std::log(sum)) - double(zy);
    const float scale = inv_n / sum;
    for_lanes(V, [&](auto f, std::size_t j) {
      const auto d = load(z + j, f) * scale;
      store(z + j, d);
      store(by_grad + j, load(by_grad + j, f) + d);
    });
    z[y] -= inv_n;
    by_grad[y] -= inv_n;
  }
  return loss / double(N);
}

/// dst [cols, rows] = src [rows, cols]^T, in 32 x 32 tiles so both sides stay in cache.
/// bench_rnn_ceiling keeps W_hh in both layouts and re-transposes it after each update (H x H
/// floats): its per-step forward GEMM h_{t-1} W_hh^T then reads W_hh^T without a transpose flag,
/// which OpenBLAS ran 10% faster at [32, 512] x [512, 512] (219 against 240 us on a quiet core;
/// its packing of a transposed right operand is slower), while backward's dh_{t-1} += dpre_t W_hh
/// reads W_hh itself, also without a flag. (The LSTM's [32, 512] x [512, 2048] gained nothing
/// from it, see bench_lstm_ceiling.)
inline void transpose(const float* src, std::size_t rows, std::size_t cols, float* dst) {
  constexpr std::size_t kTile = 32;
  for (std::size_t r0 = 0; r0 < rows; r0 += kTile)
    for (std::size_t c0 = 0; c0 < cols; c0 += kTile)
      for (std::size_t r = r0; r < std::min(rows, r0 + kTile); ++r)
        for (std::size_t c = c0; c < std::min(cols, c0 + kTile); ++c)
          dst[c * rows + r] = src[r * cols + c];
}

/// w -= lr * g.
inline void sgd(std::vector<float>& w, const std::vector<float>& g) {
  cblas_saxpy(int(w.size()), -kLearningRate, g.data(), 1, w.data(), 1);
}

}  // namespace bench::ceiling
