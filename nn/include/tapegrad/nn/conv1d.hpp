#pragma once
// 1-D convolution (cross-correlation, as in PyTorch; no padding), composed from engine ops:
// each output position is a linear map of one input window, and the positions are stacked.
// Its backward comes from slice, reshape, linear and stack; nothing here differentiates.
#include <tapegrad/ops.hpp>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

template <class T>
class Conv1d : public Module<T> {
 public:
  Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel, Rng& rng,
         std::size_t stride = 1, bool bias = true)
      : in_channels(in_channels),
        out_channels(out_channels),
        kernel_size(kernel),
        stride(stride),
        weight(this->register_parameter(
            "weight", xavier_uniform<T>({out_channels, in_channels, kernel}, rng))),
        bias(bias ? &this->register_parameter("bias", zeros<T>({out_channels})) : nullptr) {
    if (in_channels == 0 || out_channels == 0 || kernel == 0 || stride == 0)
      throw Error("Conv1d: channels, kernel size and stride must be positive");
  }

  /// Output length for an input of length `length` (valid convolution).
  std::size_t output_length(std::size_t length) const {
    return length < kernel_size ? 0 : (length - kernel_size) / stride + 1;
  }

  /// x [batch, in_channels, length] -> [batch, out_channels, output_length(length)]
  Var<T> operator()(const Var<T>& x) const {
    const Shape& s = x.shape();
    if (s.size() != 3 || s[1] != in_channels || s[2] < kernel_size)
      throw Error("Conv1d: expected an input [batch, " + std::to_string(in_channels) +
                  ", length >= " + std::to_string(kernel_size) + "], got " + shape_str(s));
    Tape<T>& t = x.tape();
    const auto window = static_cast<std::ptrdiff_t>(in_channels * kernel_size);
    Var<T> w = reshape(t.param(weight), {static_cast<std::ptrdiff_t>(out_channels), window});
    Var<T> b = bias ? t.param(*bias) : Var<T>();
    std::vector<Var<T>> columns;
    for (std::size_t j = 0, n = output_length(s[2]); j < n; ++j) {
      Var<T> patch = reshape(slice(x, 2, j * stride, j * stride + kernel_size),
                             {static_cast<std::ptrdiff_t>(s[0]), window});
      columns.push_back(bias ? linear(patch, w, b) : linear(patch, w));
    }
    return stack(columns, 2);
  }

  const std::size_t in_channels, out_channels, kernel_size, stride;
  Parameter<T>& weight;
  Parameter<T>* const bias;
};

}  // namespace tapegrad::nn
