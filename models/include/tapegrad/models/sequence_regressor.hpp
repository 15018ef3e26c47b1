#pragma once
// Regression on a series: a stacked RNN, LSTM or GRU reads a window of past values, one value per
// step, and a linear head maps its last hidden state to the next value. Trained with mean
// squared error. What the windows and targets mean (levels, changes, scaled or not) is the
// caller's choice: tapegrad-forecast feeds changes relative to the window's last value.
#include <memory>

#include <tapegrad/nn/nn.hpp>

namespace tapegrad::models {

template <class T>
class SequenceRegressor : public nn::Module<T> {
 public:
  SequenceRegressor(nn::CellType cell, std::size_t hidden, std::size_t layers, nn::Rng& rng)
      : cell(cell), hidden_size(hidden) {
    switch (cell) {
      case nn::CellType::rnn:
        rnn = std::make_unique<nn::RNN<T>>(1, hidden, layers, rng);
        this->register_module("rnn", *rnn);
        break;
      case nn::CellType::lstm:
        lstm = std::make_unique<nn::LSTM<T>>(1, hidden, layers, rng);
        this->register_module("lstm", *lstm);
        break;
      case nn::CellType::gru:
        gru = std::make_unique<nn::GRU<T>>(1, hidden, layers, rng);
        this->register_module("gru", *gru);
        break;
    }
    head = std::make_unique<nn::Linear<T>>(hidden, 1, rng);
    this->register_module("head", *head);
  }

  /// windows [batch, window] (oldest value first) -> predictions [batch, 1]
  Var<T> operator()(Tape<T>& tape, const Tensor<T>& windows) const {
    if (windows.dimension() != 2 || windows.shape()[0] == 0 || windows.shape()[1] == 0)
      throw Error("SequenceRegressor: expected windows [batch >= 1, window >= 1], got " +
                  shape_str(windows.shape()));
    const std::size_t batch = windows.shape()[0], window = windows.shape()[1];
    // Step k's input is column k of the windows, [batch, 1].
    std::vector<Var<T>> steps;
    steps.reserve(window);
    Tensor<T> column = Tensor<T>::from_shape({batch, 1});
    for (std::size_t k = 0; k < window; ++k) {
      for (std::size_t b = 0; b < batch; ++b) column(b, 0) = windows(b, k);
      steps.push_back(tape.constant(column));
    }
    const Var<T> last = rnn    ? rnn->operator()(steps).outputs.back()
                        : lstm ? lstm->operator()(steps).outputs.back()
                               : gru->operator()(steps).outputs.back();
    return (*head)(last);
  }

  /// Mean squared error of the predictions against targets [batch, 1].
  Var<T> loss(Tape<T>& tape, const Tensor<T>& windows, const Tensor<T>& targets) const {
    return mse_loss((*this)(tape, windows), tape.constant(targets));
  }

  const nn::CellType cell;
  const std::size_t hidden_size;

 private:
  std::unique_ptr<nn::RNN<T>> rnn;
  std::unique_ptr<nn::LSTM<T>> lstm;
  std::unique_ptr<nn::GRU<T>> gru;
  std::unique_ptr<nn::Linear<T>> head;
};

}  // namespace tapegrad::models
