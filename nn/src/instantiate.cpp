// Instantiates every layer and optimiser for float and double, so the library itself proves
// that all of them compile for both element types (users' code instantiates the same ones).
#include "tapegrad/nn/nn.hpp"

namespace tapegrad::nn {

template class Linear<float>;
template class Linear<double>;
template class Embedding<float>;
template class Embedding<double>;
template class RNNCell<float>;
template class RNNCell<double>;
template class LSTMCell<float>;
template class LSTMCell<double>;
template class GRUCell<float>;
template class GRUCell<double>;
template class Stacked<float, RNNCell>;
template class Stacked<double, RNNCell>;
template class Stacked<float, LSTMCell>;
template class Stacked<double, LSTMCell>;
template class Stacked<float, GRUCell>;
template class Stacked<double, GRUCell>;
template class Conv1d<float>;
template class Conv1d<double>;
template class SGD<float>;
template class SGD<double>;
template class Adagrad<float>;
template class Adagrad<double>;
template class Adam<float>;
template class Adam<double>;
template class AdamW<float>;
template class AdamW<double>;
template class Dropout<float>;
template class Dropout<double>;

}  // namespace tapegrad::nn
