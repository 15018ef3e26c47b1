#pragma once
// Regression on a sequence: an RNN reads a window of past values, a linear head predicts the
// next one, trained with mean squared error.
#include <tapegrad/nn/nn.hpp>

namespace tapegrad::models {

template <class T>
class SineRegressor : public nn::Module<T> {
 public:
  SineRegressor(std::size_t hidden, nn::Rng& rng, std::size_t layers = 1)
      : rnn(1, hidden, layers, rng), head(hidden, 1, rng) {
    this->register_module("rnn", rnn);
    this->register_module("head", head);
  }

  /// windows [batch, window] (oldest value first) -> predictions [batch, 1]
  Var<T> operator()(Tape<T>& tape, const Tensor<T>& windows) const {
    if (windows.dimension() != 2 || windows.shape()[1] == 0)
      throw Error("SineRegressor: expected windows [batch, window >= 1], got " +
                  shape_str(windows.shape()));
    const std::size_t batch = windows.shape()[0], window = windows.shape()[1];
    std::vector<Var<T>> steps;
    for (std::size_t k = 0; k < window; ++k) {
      Tensor<T> column = Tensor<T>::from_shape({batch, 1});
      for (std::size_t b = 0; b < batch; ++b) column(b, 0) = windows(b, k);
      steps.push_back(tape.constant(column));
    }
    return head(rnn(steps).outputs.back());
  }

  /// mean squared error of the predictions against targets [batch, 1]
  Var<T> loss(Tape<T>& tape, const Tensor<T>& windows, const Tensor<T>& targets) const {
    return mse_loss((*this)(tape, windows), tape.constant(targets));
  }

  nn::RNN<T> rnn;
  nn::Linear<T> head;
};

}  // namespace tapegrad::models
