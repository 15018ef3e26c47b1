#pragma once
// Initialisers. All randomness in nn/ comes from one seeded generator, Rng, so that a run is
// reproducible from its seed (the sequence is libstdc++'s mt19937_64 with our own uniform and
// normal transforms, identical across platforms).
#include <charconv>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>

#include <tapegrad/error.hpp>
#include <tapegrad/tensor.hpp>

namespace tapegrad::nn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : engine_(seed) {}
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * (double(engine_() >> 11) * (1.0 / 9007199254740992.0));
  }
  /// Standard normal (Box-Muller; both numbers of a pair are used).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0;
    while (u1 <= 0) u1 = uniform(0, 1);
    const double u2 = uniform(0, 1), r = std::sqrt(-2 * std::log(u1));
    spare_ = r * std::sin(2 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2 * M_PI * u2);
  }
  std::uint64_t next() { return engine_(); }

  /// Everything the next draws depend on, as text: the engine's words, then whether a normal is
  /// kept from the last pair and that normal (hexadecimal, exact). A checkpoint stores it so
  /// that a resumed run draws exactly what an uninterrupted run would have.
  std::string state() const {
    std::ostringstream out;
    out << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ';
    char buf[40];
    const auto end = std::to_chars(buf, buf + sizeof buf, spare_, std::chars_format::hex).ptr;
    out << std::string(buf, end);
    return out.str();
  }
  /// Restores what state() returned. Anything else is an Error, and the generator is unchanged.
  void set_state(const std::string& text) {
    std::istringstream in(text);
    std::mt19937_64 engine;
    int has_spare = -1;
    std::string spare_text;
    in >> engine >> has_spare >> spare_text;
    double spare = 0;
    const char* first = spare_text.data();
    const char* last = first + spare_text.size();
    const auto parsed = std::from_chars(first, last, spare, std::chars_format::hex);
    if (in.fail() || !(in >> std::ws).eof() || (has_spare != 0 && has_spare != 1) ||
        parsed.ec != std::errc() || parsed.ptr != last)
      throw Error(
          "Rng::set_state: expected the text Rng::state() writes (the engine's 313 "
          "numbers, 0 or 1, a hexadecimal number), got " +
          std::to_string(text.size()) + " characters that are not");
    engine_ = engine;
    has_spare_ = has_spare == 1;
    spare_ = spare;
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// The seed the default generator starts from, in every thread (the bits of "tapegrad").
inline constexpr std::uint64_t kDefaultSeed = 0x7461706567726164ull;

/// The generator layers draw their initial weights from when they are built without one
/// (`nn::Linear<float> fc(4, 3);`), like PyTorch's global generator. It is thread_local: each
/// thread has its own, starting from kDefaultSeed, so a thread's layers do not depend on what
/// other threads build at the same time, and building layers needs no lock. The weights a layer
/// gets therefore depend on how many numbers the thread drew before (the layers built before it
/// since the last manual_seed): pass an Rng of your own for weights that depend on nothing else.
inline Rng& default_generator() {
  thread_local Rng rng(kDefaultSeed);
  return rng;
}

/// Restarts the calling thread's default generator from `seed` (torch.manual_seed): the layers
/// built after it without a generator get the same weights in every run.
inline void manual_seed(std::uint64_t seed) { default_generator() = Rng(seed); }

/// fan_in and fan_out of a weight as PyTorch counts them: [out, in, k...] -> (in*k, out*k).
inline std::pair<double, double> fans(const Shape& shape) {
  if (shape.size() < 2)
    return {double(shape.empty() ? 1 : shape[0]), double(shape.empty() ? 1 : shape[0])};
  double receptive = 1;
  for (std::size_t k = 2; k < shape.size(); ++k) receptive *= double(shape[k]);
  return {double(shape[1]) * receptive, double(shape[0]) * receptive};
}

template <class T>
Tensor<T> uniform(const Shape& shape, double lo, double hi, Rng& rng) {
  Tensor<T> t;
  t.resize(shape);  // not from_shape: g++ 12 warns (falsely) in its inlined shape copy
  for (T& v : t) v = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

template <class T>
Tensor<T> normal(const Shape& shape, double mean, double stddev, Rng& rng) {
  Tensor<T> t;
  t.resize(shape);  // as in uniform
  for (T& v : t) v = static_cast<T>(mean + stddev * rng.normal());
  return t;
}

/// Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
template <class T>
Tensor<T> xavier_uniform(const Shape& shape, Rng& rng, double gain = 1.0) {
  const auto [in, out] = fans(shape);
  const double a = gain * std::sqrt(6.0 / (in + out));
  return uniform<T>(shape, -a, a, rng);
}

/// N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out)).
template <class T>
Tensor<T> xavier_normal(const Shape& shape, Rng& rng, double gain = 1.0) {
  const auto [in, out] = fans(shape);
  return normal<T>(shape, 0.0, gain * std::sqrt(2.0 / (in + out)), rng);
}

template <class T>
Tensor<T> zeros(const Shape& shape) {
  return full<T>(shape, T(0));
}

template <class T>
Tensor<T> constant(const Shape& shape, T value) {
  return full<T>(shape, value);
}

}  // namespace tapegrad::nn
