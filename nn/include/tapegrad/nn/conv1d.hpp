#pragma once
// 1-D convolution (cross-correlation, as in PyTorch; no padding), composed from engine ops:
// each output position is a linear map of one input window, and the positions are stacked.
// Its backward comes from slice, reshape, linear and stack; nothing here differentiates.
#include <tapegrad/ops.hpp>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// Weight [out_channels, in_channels, kernel] and bias [out_channels], as PyTorch's (and named
/// alike); Xavier-uniform weight and zero bias, drawn from `rng` or, without one, from
/// default_generator().
template <class T>
class Conv1d : public Module<T> {
 public:
  Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel, Rng& rng,
         std::size_t stride = 1, bool with_bias = true)
      : in_channels(in_channels),
        out_channels(out_channels),
        kernel_size(kernel),
        stride(stride),
        weight_(this->register_parameter(
            "weight", xavier_uniform<T>({out_channels, in_channels, kernel}, rng))),
        bias_(with_bias ? &this->register_parameter("bias", zeros<T>({out_channels})) : nullptr) {
    if (in_channels == 0 || out_channels == 0 || kernel == 0 || stride == 0)
      throw Error("Conv1d: channels, kernel size and stride must be positive");
  }
  Conv1d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel,
         std::size_t stride = 1, bool with_bias = true)
      : Conv1d(in_channels, out_channels, kernel, default_generator(), stride, with_bias) {}

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
    Var<T> w = reshape(t.param(weight_), {static_cast<std::ptrdiff_t>(out_channels), window});
    Var<T> b = bias_ ? t.param(*bias_) : Var<T>();
    std::vector<Var<T>> columns;
    for (std::size_t j = 0, n = output_length(s[2]); j < n; ++j) {
      Var<T> patch = reshape(slice(x, 2, j * stride, j * stride + kernel_size),
                             {static_cast<std::ptrdiff_t>(s[0]), window});
      columns.push_back(bias_ ? linear(patch, w, b) : linear(patch, w));
    }
    return stack(columns, 2);
  }

  /// W [out_channels, in_channels, kernel]
  Parameter<T>& weight() { return weight_; }
  const Parameter<T>& weight() const { return weight_; }
  /// b [out_channels]; an Error naming the layer if it has none.
  Parameter<T>& bias() { return detail::bias_or_throw(bias_, describe()); }
  const Parameter<T>& bias() const { return detail::bias_or_throw(bias_, describe()); }
  bool has_bias() const { return bias_ != nullptr; }

  const std::size_t in_channels, out_channels, kernel_size, stride;

 private:
  std::string describe() const {
    return "Conv1d(" + std::to_string(in_channels) + " -> " + std::to_string(out_channels) +
           ", kernel " + std::to_string(kernel_size) + ")";
  }
  Parameter<T>& weight_;
  Parameter<T>* const bias_;
};

}  // namespace tapegrad::nn
