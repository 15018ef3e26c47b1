#pragma once
#include <string>

#include <tapegrad/ops.hpp>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// y = x W^T + b with W [out, in] and b [out] (PyTorch's layout and parameter names: weight,
/// bias). Xavier-uniform weight, zero bias, drawn from `rng` or, without one, from
/// default_generator().
template <class T>
class Linear : public Module<T> {
 public:
  Linear(std::size_t in, std::size_t out, Rng& rng, bool with_bias = true)
      : in_features(in),
        out_features(out),
        weight_(this->register_parameter("weight", xavier_uniform<T>({out, in}, rng))),
        bias_(with_bias ? &this->register_parameter("bias", zeros<T>({out})) : nullptr) {}
  Linear(std::size_t in, std::size_t out, bool with_bias = true)
      : Linear(in, out, default_generator(), with_bias) {}

  /// x [n, in] or [b, n, in] -> [.., out]
  Var<T> operator()(const Var<T>& x) const {
    Tape<T>& t = x.tape();
    return bias_ ? linear(x, t.param(weight_), t.param(*bias_)) : linear(x, t.param(weight_));
  }

  /// W [out, in]
  Parameter<T>& weight() { return weight_; }
  const Parameter<T>& weight() const { return weight_; }
  /// b [out]; an Error naming the layer if it has none.
  Parameter<T>& bias() { return detail::bias_or_throw(bias_, describe()); }
  const Parameter<T>& bias() const { return detail::bias_or_throw(bias_, describe()); }
  bool has_bias() const { return bias_ != nullptr; }

  const std::size_t in_features, out_features;

 private:
  std::string describe() const {
    return "Linear(" + std::to_string(in_features) + " -> " + std::to_string(out_features) + ")";
  }
  Parameter<T>& weight_;
  Parameter<T>* const bias_;
};

/// Rows of a [vocabulary, dim] table: the learned replacement for one-hot inputs. N(0, 1)
/// weights (PyTorch's default), drawn from `rng` or, without one, from default_generator().
template <class T>
class Embedding : public Module<T> {
 public:
  Embedding(std::size_t vocabulary, std::size_t dim, Rng& rng)
      : num_embeddings(vocabulary),
        embedding_dim(dim),
        weight_(this->register_parameter("weight", normal<T>({vocabulary, dim}, 0.0, 1.0, rng))) {}
  Embedding(std::size_t vocabulary, std::size_t dim)
      : Embedding(vocabulary, dim, default_generator()) {}

  /// [indices.size(), dim]
  Var<T> operator()(Tape<T>& tape, const Indices& indices) const {
    return gather_rows(tape.param(weight_), indices);
  }

  /// steps[t] holds the B indices at step t -> [T, B, dim], a sequence tensor: the same row
  /// lookup, recorded as one op.
  Var<T> operator()(Tape<T>& tape, const std::vector<Indices>& steps) const {
    return gather_rows(tape.param(weight_), steps);
  }

  /// The table [vocabulary, dim].
  Parameter<T>& weight() { return weight_; }
  const Parameter<T>& weight() const { return weight_; }

  const std::size_t num_embeddings, embedding_dim;

 private:
  Parameter<T>& weight_;
};

}  // namespace tapegrad::nn
