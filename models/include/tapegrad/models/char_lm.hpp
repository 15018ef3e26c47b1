#pragma once
// A character-level language model: embedding (or one-hot) -> stacked RNN, LSTM or GRU ->
// linear head over the vocabulary. Trained with truncated BPTT: the state reached at the end of
// one chunk is carried, detached, into the next, so memory stays bounded by the chunk length.
// With dropout p, while training, the embedding's output, each recurrent layer's output on its
// way to the next layer, and the top layer's output on its way to the head are dropped with
// probability p (the placement char-rnn's and PyTorch's word-language-model examples use).
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/nn/nn.hpp>

namespace tapegrad::models {

template <class T>
class CharLM : public nn::Module<T> {
 public:
  using Cell = nn::CellType;
  static const std::vector<std::string>& cell_names() { return nn::cell_type_names(); }
  static Cell parse_cell(const std::string& name) { return nn::parse_cell_type(name); }
  static const char* cell_name(Cell c) { return nn::cell_type_name(c); }
  static std::size_t gates(Cell c) { return nn::gate_count(c); }

  /// How many parameters the constructor below creates, computed from the sizes alone, so that a
  /// program can check them (against a checkpoint's arrays, against a memory budget) before it
  /// allocates anything. In double: absurd sizes must not wrap around.
  static double parameter_count_for(std::size_t vocabulary, std::size_t embedding_dim,
                                    std::size_t hidden, std::size_t layers, Cell cell) {
    const double V = double(vocabulary), E = double(embedding_dim), H = double(hidden),
                 G = double(gates(cell));
    const double in = embedding_dim == 0 ? V : E;
    double n = V * E + H * V + V;  // embedding, head weight and bias
    for (std::size_t l = 0; l < layers; ++l)
      n += G * H * ((l == 0 ? in : H) + H) + 2 * G * H;  // weight_ih, weight_hh, two biases
    return n;
  }

  /// Choices beyond the sizes, all of which change the function the model learns.
  struct Options {
    double dropout = 0;  // in [0, 1); see the top of this file for where it applies
    nn::RecurrentInit init = nn::RecurrentInit::xavier;
    double forget_bias = 0;  // LSTM only (nn::RecurrentOptions::forget_bias)
  };

  /// The recurrent state between chunks, as plain tensors (no tape history): per layer
  /// h [batch, hidden] and, for an LSTM, c.
  struct State {
    std::vector<Tensor<T>> h, c;
  };

  /// embedding_dim 0 feeds one-hot vectors instead of a learned embedding.
  CharLM(std::size_t vocabulary, std::size_t embedding_dim, std::size_t hidden, std::size_t layers,
         Cell cell, nn::Rng& rng, const Options& options = {})
      : vocabulary_size(vocabulary),
        embedding_dim(embedding_dim),
        hidden_size(hidden),
        cell(cell),
        options(options) {
    if (vocabulary < 2) throw Error("CharLM: the vocabulary needs at least 2 symbols");
    if (!(options.dropout >= 0 && options.dropout < 1))
      throw Error("CharLM: expected a dropout probability in [0, 1), got " +
                  std::to_string(options.dropout));
    if (options.forget_bias != 0 && cell != Cell::lstm)
      throw Error(std::string("CharLM: a forget-gate bias is for an lstm, not a ") +
                  cell_name(cell));
    const std::size_t in = embedding_dim == 0 ? vocabulary : embedding_dim;
    if (embedding_dim > 0) {
      embedding = std::make_unique<nn::Embedding<T>>(vocabulary, embedding_dim, rng);
      this->register_module("embedding", *embedding);
    }
    nn::RecurrentOptions recurrent;  // dropout is set last, below
    recurrent.init = options.init;
    recurrent.forget_bias = options.forget_bias;
    switch (cell) {
      case Cell::rnn:
        rnn = std::make_unique<nn::RNN<T>>(in, hidden, layers, rng, recurrent);
        this->register_module("rnn", *rnn);
        break;
      case Cell::lstm:
        lstm = std::make_unique<nn::LSTM<T>>(in, hidden, layers, rng, recurrent);
        this->register_module("lstm", *lstm);
        break;
      case Cell::gru:
        gru = std::make_unique<nn::GRU<T>>(in, hidden, layers, rng, recurrent);
        this->register_module("gru", *gru);
        break;
    }
    head = std::make_unique<nn::Linear<T>>(hidden, vocabulary, rng);
    this->register_module("head", *head);
    if (options.dropout > 0) {  // seeded last: the weights do not depend on it
      if (rnn) rnn->set_dropout(options.dropout, rng.next());
      if (lstm) lstm->set_dropout(options.dropout, rng.next());
      if (gru) gru->set_dropout(options.dropout, rng.next());
      if (embedding) {
        embedding_dropout = std::make_unique<nn::Dropout<T>>(options.dropout, rng.next());
        this->register_module("embedding_dropout", *embedding_dropout);
      }
      head_dropout = std::make_unique<nn::Dropout<T>>(options.dropout, rng.next());
      this->register_module("head_dropout", *head_dropout);
    }
  }

  std::size_t num_layers() const {
    return rnn ? rnn->num_layers() : lstm ? lstm->num_layers() : gru->num_layers();
  }

  /// All-zero state for `batch` parallel streams.
  State zero_state(std::size_t batch) const {
    State s;
    for (std::size_t l = 0; l < num_layers(); ++l) {
      s.h.push_back(nn::zeros<T>({batch, hidden_size}));
      if (cell == Cell::lstm) s.c.push_back(nn::zeros<T>({batch, hidden_size}));
    }
    return s;
  }

  /// steps[t] holds the B symbols at time t. Returns logits [T, B, V] (softmax_cross_entropy
  /// reads them with the T * B targets in time-major order) and replaces `state` with the state
  /// after the last step. state_grad_norms (optional): the next backward pass sets it to
  /// ||dL/dh_t|| of the top layer's state at every step (see nn::Stacked's sequence form).
  Var<T> forward(Tape<T>& tape, const std::vector<Indices>& steps, State& state,
                 std::vector<double>* state_grad_norms = nullptr) const {
    const Var<T> top = recurrent(tape, steps, state, state_grad_norms);
    const auto at_head = tape.scope("head");
    return logits(head_dropout ? (*head_dropout)(top) : top);
  }

  /// The head alone: logits [..., V] of top-layer hidden states [..., hidden].
  Var<T> logits(const Var<T>& hidden) const { return (*head)(hidden); }

  /// The recurrent part alone: the top layer's hidden state after every step, [T, B, hidden],
  /// with `state` replaced by the state after the last step. Reading a prompt needs no logits
  /// but the last step's (logits(select(recurrent(...), 0, T - 1))). An RNN or LSTM runs as one
  /// op per layer over the whole sequence (nn::Stacked's sequence form).
  Var<T> recurrent(Tape<T>& tape, const std::vector<Indices>& steps, State& state,
                   std::vector<double>* state_grad_norms = nullptr) const {
    if (steps.empty()) throw Error("CharLM: no time steps given");
    const std::size_t batch = steps[0].size();
    check_state(state, batch);
    for (const Indices& s : steps)
      if (s.size() != batch) throw Error("CharLM: every time step must hold the same batch size");
    // With an embedding, the first layer sees x_t W_ih^T + b_ih = (E W_ih^T + b_ih)[c_t]: one
    // small GEMM over the V rows of the embedding table, then a row lookup for every symbol,
    // instead of a GEMM over all T * B embedded symbols forward and two backward. The same
    // function and gradients (the tape differentiates through the table); used while
    // V <= T * B, where it is the smaller product.
    // Dropout on the embedded symbols breaks the fold (each occurrence of a symbol gets its own
    // mask): then the T * B embedded rows are dropped, and the first layer projects them.
    const bool dropping = embedding_dropout && this->training() && grad_enabled();
    const bool fold = embedding && !dropping && vocabulary_size <= steps.size() * batch;
    Var<T> x;  // [T, B, ...]: the symbols, embedded, or the first layer's projections (fold)
    if (fold) {
      x = gather_rows(first_layer_projection(tape.param(embedding->weight())), steps);
    } else if (embedding) {
      x = (*embedding)(tape, steps);
      if (dropping) x = (*embedding_dropout)(x);
    } else {
      x = tape.one_hot(steps, vocabulary_size);
    }
    Var<T> top;
    auto run = [&](const auto& stack, auto make_state, auto store) {
      using St = typename std::decay_t<decltype(stack)>::State;
      std::vector<St> init;
      for (std::size_t l = 0; l < num_layers(); ++l) init.push_back(make_state(l));
      auto out = fold ? stack.from_projections(x, std::move(init), {}, state_grad_norms)
                      : stack(x, std::move(init), {}, state_grad_norms);
      top = out.output;
      for (std::size_t l = 0; l < num_layers(); ++l) store(l, out.last[l]);
    };
    auto h0 = [&](std::size_t l) { return tape.constant(state.h[l]); };
    auto keep_h = [&](std::size_t l, const Var<T>& h) { state.h[l] = h.value(); };
    if (rnn) run(*rnn, h0, keep_h);
    if (gru) run(*gru, h0, keep_h);
    if (lstm)
      run(
          *lstm,
          [&](std::size_t l) {
            return nn::LSTMState<T>{tape.constant(state.h[l]), tape.constant(state.c[l])};
          },
          [&](std::size_t l, const nn::LSTMState<T>& s) {
            state.h[l] = s.h.value();
            state.c[l] = s.c.value();
          });
    return top;
  }

  /// One time step of recurrent() for `symbols` (the B symbols at this step): returns the top
  /// layer's h [B, hidden] and replaces `state` with the state after it. For reading one symbol
  /// at a time (a keyboard): it builds no vectors and overwrites the state's tensors in place, so
  /// on a reused tape a step allocates nothing. The same function as recurrent() on a one-step
  /// sequence (with dropout while training, the embedding is dropped, then projected per step).
  Var<T> step(Tape<T>& tape, const Indices& symbols, State& state) const {
    check_state(state, symbols.size());
    Var<T> in = embedding ? (*embedding)(tape, symbols) : tape.one_hot(symbols, vocabulary_size);
    if (embedding_dropout) in = (*embedding_dropout)(in);  // a no-op unless training
    auto run = [&](const auto& stack) -> Var<T> {
      for (std::size_t l = 0; l < num_layers(); ++l) {
        if constexpr (std::is_same_v<std::decay_t<decltype(stack)>, nn::LSTM<T>>) {
          const nn::LSTMState<T> after = stack.step(
              l, in, nn::LSTMState<T>{tape.constant(state.h[l]), tape.constant(state.c[l])});
          state.c[l] = after.c.value();
          in = after.h;
        } else {
          in = stack.step(l, in, tape.constant(state.h[l]));
        }
        state.h[l] = in.value();
      }
      return in;
    };
    return rnn ? run(*rnn) : lstm ? run(*lstm) : run(*gru);
  }

  const std::size_t vocabulary_size, embedding_dim, hidden_size;
  const Cell cell;
  const Options options;

 private:
  void check_state(const State& state, std::size_t batch) const {
    const bool lstm_state = cell != Cell::lstm || state.c.size() == state.h.size();
    if (state.h.size() != num_layers() || state.h[0].shape()[0] != batch || !lstm_state)
      throw Error("CharLM: the state is for " + std::to_string(state.h.size()) +
                  " layers of batch " +
                  (state.h.empty() ? std::string("?") : std::to_string(state.h[0].shape()[0])) +
                  ", the model has " + std::to_string(num_layers()) +
                  " layers and the input batch " + std::to_string(batch));
  }

  Var<T> first_layer_projection(const Var<T>& x) const {
    return rnn    ? rnn->layer(0).input_part(x)
           : lstm ? lstm->layer(0).input_part(x)
                  : gru->layer(0).input_part(x);
  }

  std::unique_ptr<nn::Embedding<T>> embedding;
  std::unique_ptr<nn::RNN<T>> rnn;
  std::unique_ptr<nn::LSTM<T>> lstm;
  std::unique_ptr<nn::GRU<T>> gru;
  std::unique_ptr<nn::Linear<T>> head;
  std::unique_ptr<nn::Dropout<T>> embedding_dropout, head_dropout;  // null without dropout
};

}  // namespace tapegrad::models
