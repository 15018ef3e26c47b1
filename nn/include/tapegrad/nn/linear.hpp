#pragma once
#include <tapegrad/ops.hpp>

#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// y = x W^T + b with W [out, in] and b [out] (PyTorch's layout). Xavier-uniform weight, zero bias.
template <class T>
class Linear : public Module<T> {
 public:
  Linear(std::size_t in, std::size_t out, Rng& rng, bool with_bias = true)
      : in_features(in),
        out_features(out),
        weight(this->register_parameter("weight", xavier_uniform<T>({out, in}, rng))),
        bias(with_bias ? &this->register_parameter("bias", zeros<T>({out})) : nullptr) {}

  /// x [n, in] or [b, n, in] -> [.., out]
  Var<T> operator()(const Var<T>& x) const {
    Tape<T>& t = x.tape();
    return bias ? linear(x, t.param(weight), t.param(*bias)) : linear(x, t.param(weight));
  }

  const std::size_t in_features, out_features;
  Parameter<T>& weight;
  Parameter<T>* const bias;
};

/// Rows of a [vocabulary, dim] table: the learned replacement for one-hot inputs.
template <class T>
class Embedding : public Module<T> {
 public:
  Embedding(std::size_t vocabulary, std::size_t dim, Rng& rng)
      : num_embeddings(vocabulary),
        embedding_dim(dim),
        weight(this->register_parameter("weight", normal<T>({vocabulary, dim}, 0.0, 1.0, rng))) {}

  /// [indices.size(), dim]
  Var<T> operator()(Tape<T>& tape, const Indices& indices) const {
    return gather_rows(tape.param(weight), indices);
  }

  const std::size_t num_embeddings, embedding_dim;
  Parameter<T>& weight;
};

}  // namespace tapegrad::nn
