#pragma once
// Next-word prediction, the tutorial's way: a vanilla RNN over word vectors (one-hot, or a
// learned embedding) and a softmax over the vocabulary at every step.
//
//   a_t = x_t W_xh^T + b_h + h_{t-1} W_hh^T,   h_t = tanh(a_t),   y_t = h_t W_hy^T + b_y
//
// Every intermediate of a forward pass is kept in a Trace, so that after backward() the
// gradients BPTT computed -- dy_t, dh_t, da_t (through tanh) and what step t hands back to
// h_{t-1} -- can be read from the tape rather than recomputed.
#include <string>
#include <vector>

#include <tapegrad/nn/nn.hpp>

namespace tapegrad::models {

template <class T>
class NextWordModel : public nn::Module<T> {
 public:
  enum class Input { one_hot, embedding };

  struct Trace {
    std::vector<Var<T>> x;       // input vectors [1, V] (one-hot) or [1, E] (embedded)
    std::vector<Var<T>> h_prev;  // h_{t-1} as step t reads it: its grad is dh_next
    std::vector<Var<T>> a;       // pre-activations: grad is dh_raw
    std::vector<Var<T>> h;       // hidden states: grad is dh
    std::vector<Var<T>> logits;  // grad is dy
    Var<T> probabilities;        // softmax of the logits, [steps, V] (when asked for)
  };

  /// Xavier-uniform weights, zero biases (the tutorial's initialisation).
  NextWordModel(std::vector<std::string> vocabulary, std::size_t hidden, nn::Rng& rng,
                Input input = Input::one_hot, std::size_t embedding_dim = 0)
      : vocabulary(std::move(vocabulary)), input(input) {
    const std::size_t V = this->vocabulary.size();
    if (V < 2 || hidden == 0)
      throw Error("NextWordModel: needs a vocabulary of 2+ words and hidden > 0");
    if (input == Input::embedding && embedding_dim == 0)
      throw Error("NextWordModel: embedding input needs embedding_dim > 0");
    const std::size_t in = input == Input::one_hot ? V : embedding_dim;
    if (input == Input::embedding)
      embed =
          &this->register_parameter("embedding", nn::normal<T>({V, embedding_dim}, 0.0, 1.0, rng));
    W_xh = &this->register_parameter("W_xh", nn::xavier_uniform<T>({hidden, in}, rng));
    W_hh = &this->register_parameter("W_hh", nn::xavier_uniform<T>({hidden, hidden}, rng));
    b_h = &this->register_parameter("b_h", nn::zeros<T>({hidden}));
    W_hy = &this->register_parameter("W_hy", nn::xavier_uniform<T>({V, hidden}, rng));
    b_y = &this->register_parameter("b_y", nn::zeros<T>({V}));
  }

  /// Index of a word, or an Error naming it and the vocabulary.
  std::int64_t index_of(const std::string& word) const {
    for (std::size_t i = 0; i < vocabulary.size(); ++i)
      if (vocabulary[i] == word) return static_cast<std::int64_t>(i);
    std::string known;
    for (const auto& w : vocabulary) known += (known.empty() ? "" : ", ") + w;
    throw Error("NextWordModel: unknown word '" + word + "' (vocabulary: " + known + ")");
  }
  Indices encode(const std::vector<std::string>& words) const {
    Indices out;
    for (const auto& w : words) out.push_back(index_of(w));
    return out;
  }

  /// Runs the words through the network from h_0 = 0, recording everything; the softmax of
  /// the logits (Trace::probabilities) only when `probabilities` is set, since a training step
  /// does not read it.
  Trace forward(Tape<T>& tape, const Indices& words, bool probabilities = true) const {
    if (words.empty()) throw Error("NextWordModel: the input has no words");
    const std::size_t V = vocabulary.size(), H = W_hh->value.shape()[0];
    Trace tr;
    Var<T> wxh = tape.param(*W_xh), whh = tape.param(*W_hh), bh = tape.param(*b_h);
    Var<T> why = tape.param(*W_hy), by = tape.param(*b_y);
    Var<T> h = tape.constant(nn::zeros<T>({1, H}));
    for (std::size_t t = 0; t < words.size(); ++t) {
      const std::int64_t w = words[t];
      const auto at_step = tape.scope("t=", t + 1);  // the tutorial's t: h_1 reads the first word
      if (w < 0 || static_cast<std::size_t>(w) >= V)
        throw Error("NextWordModel: word index " + std::to_string(w) +
                    " is outside the vocabulary of " + std::to_string(V));
      tr.x.push_back(input == Input::one_hot ? tape.one_hot(Indices{w}, V)
                                             : gather_rows(tape.param(*embed), Indices{w}));
      tr.h_prev.push_back(reshape(h, {1, static_cast<std::ptrdiff_t>(H)}));
      tr.a.push_back(linear(tr.x.back(), wxh, bh) + linear(tr.h_prev.back(), whh));
      h = tanh(tr.a.back());
      tr.h.push_back(h);
      tr.logits.push_back(linear(h, why, by));
    }
    if (probabilities) {
      const auto at_output = tape.scope("output");
      tr.probabilities = softmax(concat(tr.logits, 0), 1);
    }
    return tr;
  }

  /// Mean cross-entropy of predicting words[t+1] after words[0..t], for every t.
  Var<T> loss(Tape<T>& tape, const Indices& words, Trace* trace = nullptr) const {
    if (words.size() < 2) throw Error("NextWordModel: a training sentence needs 2+ words");
    Indices inputs(words.begin(), words.end() - 1), targets(words.begin() + 1, words.end());
    Trace tr = forward(tape, inputs, trace != nullptr);
    const auto at_loss = tape.scope("loss");
    Var<T> l = softmax_cross_entropy(concat(tr.logits, 0), targets);
    if (trace) *trace = std::move(tr);
    return l;
  }

  /// P(next word | words), as a [V] tensor.
  Tensor<T> predict(const Indices& words) const {
    Tape<T> tape;
    NoGradGuard no_grad;
    const Trace tr = forward(tape, words);
    const Tensor<T>& p = tr.probabilities.value();
    const std::size_t V = vocabulary.size(), last = words.size() - 1;
    Tensor<T> out = Tensor<T>::from_shape({V});
    for (std::size_t j = 0; j < V; ++j) out(j) = p(last, j);
    return out;
  }

  const std::vector<std::string> vocabulary;
  const Input input;
  Parameter<T>* embed = nullptr;
  Parameter<T>* W_xh;
  Parameter<T>* W_hh;
  Parameter<T>* b_h;
  Parameter<T>* W_hy;
  Parameter<T>* b_y;
};

}  // namespace tapegrad::models
