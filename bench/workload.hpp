#pragma once
// The shared workload of the bench_rnn_* / bench_lstm_* programs: one training step of a
// character-level RNN (or LSTM) language model, float32, with the same initial weights and the
// same data in every program. Standard library only (no tapegrad, no torch), so that every
// implementation reads exactly the same numbers.
//
//   x_t = one_hot(c_t) [B, V];  h_0 = 0
//   h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)      (PyTorch's two biases)
//   logits_t = h_t W_hy^T + b_y;  loss = mean over B*T of cross_entropy(logits_t, c_{t+1})
//   full BPTT through all T steps; plain SGD, lr 0.1 (every parameter, both biases included)
//
// Weights are stored in PyTorch's layout (W_ih [G*H, V], W_hh [G*H, H], W_hy [V, H], G = 1 for
// the RNN, 4 for the LSTM with gates i, f, g, o) and element k (row-major) of the tensor with id
// `id` is init_value(id, k) / sqrt(H). Biases start at zero.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

constexpr float kLearningRate = 0.1f;
enum TensorId : std::uint64_t { kWeightIH = 1, kWeightHH = 2, kWeightHY = 3 };

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// In [-1, 1): the top 24 bits of the hash, so the value is exact in float.
inline float unit_value(std::uint64_t tensor_id, std::uint64_t index) {
  const std::uint64_t k = splitmix64(tensor_id * 1000003ULL + index) >> 40;
  return float(k) * (1.0f / 8388608.0f) - 1.0f;
}

/// A weight element: unit_value scaled by 1/sqrt(H), computed the same way everywhere.
inline float init_value(std::uint64_t tensor_id, std::uint64_t index, std::size_t hidden) {
  const float scale = 1.0f / std::sqrt(float(hidden));
  return unit_value(tensor_id, index) * scale;
}

/// rows x cols weight, row-major, in PyTorch's layout.
inline std::vector<float> init_weight(std::uint64_t tensor_id, std::size_t rows, std::size_t cols,
                                      std::size_t hidden) {
  std::vector<float> w(rows * cols);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = init_value(tensor_id, k, hidden);
  return w;
}

/// The B character streams, T + 1 characters each: chars[b * (T + 1) + t] = c[b][t].
inline std::vector<std::int64_t> make_chars(std::size_t B, std::size_t T, std::size_t V) {
  std::vector<std::int64_t> c(B * (T + 1));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t <= T; ++t)
      c[b * (T + 1) + t] = std::int64_t(splitmix64(777 + b * 100003ULL + t) % V);
  return c;
}

/// Inputs at step t for every stream: c[b][t], b = 0..B-1.
inline std::vector<std::int64_t> inputs_at(const std::vector<std::int64_t>& chars, std::size_t B,
                                           std::size_t T, std::size_t t) {
  std::vector<std::int64_t> out(B);
  for (std::size_t b = 0; b < B; ++b) out[b] = chars[b * (T + 1) + t];
  return out;
}

/// Targets of all B*T logits rows in time-major order (row t*B + b predicts c[b][t+1]).
/// The inputs of make_chars's B streams in time-major order: row t * B + b is stream b's
/// character t (what a hand-written program gathers for all T steps at once).
inline std::vector<std::int64_t> inputs_time_major(const std::vector<std::int64_t>& chars,
                                                   std::size_t B, std::size_t T) {
  std::vector<std::int64_t> out(B * T);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t b = 0; b < B; ++b) out[t * B + b] = chars[b * (T + 1) + t];
  return out;
}
inline std::vector<std::int64_t> targets_time_major(const std::vector<std::int64_t>& chars,
                                                    std::size_t B, std::size_t T) {
  std::vector<std::int64_t> out(B * T);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t b = 0; b < B; ++b) out[t * B + b] = chars[b * (T + 1) + t + 1];
  return out;
}

/// The intra-op threads a libtorch program uses: OMP_NUM_THREADS when it is a positive integer
/// (bench/run.sh sets 1 for the main table and 2 for the two-thread one, where the tapegrad and
/// ceiling programs get the same count through OPENBLAS_NUM_THREADS), else 1, never libtorch's
/// default of one thread per core.
inline int threads_from_env() {
  const char* text = std::getenv("OMP_NUM_THREADS");
  if (text == nullptr) return 1;
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && n >= 1 && n <= 1024 ? int(n) : 1;
}

/// What the program measures, from its command line (parse_args, args.hpp).
struct Args {
  std::size_t H = 0, B = 0, T = 0, V = 0;
  long steps = 1;        // time at least this many steps ...
  double seconds = 2.0;  // ... and at least this long
};

/// Steps per second of `step` (one full forward + backward + update), after a warm-up, over at
/// least a.steps steps and a.seconds seconds.
template <class Step>
double steps_per_second(const Args& a, Step&& step) {
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  const clock::time_point w0 = clock::now();  // warm-up: 2 steps, or 10% of the budget
  for (int n = 0; n < 2 || since(w0) < 0.1 * a.seconds; ++n) step();
  long n = 0;
  const clock::time_point t0 = clock::now();
  double elapsed = 0;
  do {
    step();
    ++n;
    elapsed = since(t0);
  } while (n < a.steps || elapsed < a.seconds);
  return double(n) / elapsed;
}

inline void print_result(const char* impl, const Args& a, double loss0, double loss1,
                         double steps_per_s) {
  std::printf(
      "{\"impl\": \"%s\", \"H\": %zu, \"B\": %zu, \"T\": %zu, \"V\": %zu, \"loss0\": %.9g, "
      "\"loss1\": %.9g, \"steps_per_s\": %.6g}\n",
      impl, a.H, a.B, a.T, a.V, loss0, loss1, steps_per_s);
  std::fflush(stdout);
}

}  // namespace bench
