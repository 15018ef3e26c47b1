#pragma once
// Dropout as a module: the dropout op (ops::Dropout) with the generator its masks come from, so
// that the masks are reproducible from the model's seed and resumable from a checkpoint.
#include <cstdint>
#include <string>

#include <tapegrad/ops.hpp>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// Inverted dropout with probability p while training (each call draws a fresh mask); the
/// identity in eval() mode and under NoGradGuard, where it draws nothing, so evaluating a
/// model never changes the masks its training sees next.
template <class T>
class Dropout : public Module<T> {
 public:
  /// `seed` starts the generator of the masks (a model draws it from the generator of its
  /// initial weights, so that one seed decides both). p outside [0, 1) is an Error.
  Dropout(double p, std::uint64_t seed) : p(p), rng_(seed) {
    if (!(p >= 0 && p < 1))
      throw Error("Dropout: expected a probability in [0, 1), got " + std::to_string(p));
    this->register_generator("rng", rng_);
  }

  Var<T> operator()(const Var<T>& x) const {
    if (p == 0 || !this->training() || !grad_enabled()) return x;
    return dropout(x, p, stream_seed(rng_.next(), this->random_stream()));
  }

  /// The seed of a mask in random stream `stream` (Module::set_random_stream): the drawn seed
  /// itself in stream 0, so that one process draws what it always drew; in every other stream
  /// the dropout op's own hash of (seed, stream), as unrelated as that hash makes its elements.
  static std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t stream) {
    return stream == 0 ? seed : ops::Dropout::hash(seed, stream - 1);
  }

  const double p;

 private:
  // A forward pass is const on a model; drawing a mask is the one thing it changes, and the
  // generator's state is saved with the model (Module::named_generators) like a parameter.
  mutable Rng rng_;
};

}  // namespace tapegrad::nn
