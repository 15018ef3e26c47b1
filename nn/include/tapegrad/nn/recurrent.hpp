#pragma once
// Recurrent layers, composed from engine ops (no backward of their own: BPTT is the tape's
// reverse walk over the unrolled steps). Weights and gate order follow PyTorch, so weights
// copied from torch.nn.RNN / LSTM / GRU give the same outputs:
//   RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
//   LSTM: [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh   (W_ih [4H, I])
//         c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')
//   GRU:  [r, z, n] blocks of gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh   (W_ih [3H, I])
//         r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n)
//         h' = (1 - z) n + z h
// Weights are Xavier-uniform per gate block and biases zero (RecurrentInit::xavier), or drawn as
// PyTorch draws them (RecurrentInit::pytorch). A stack of layers can apply dropout between them,
// as PyTorch's `dropout` argument does. A stack reads a sequence as one Var per step or as one
// [T, B, input] tensor; the tensor form also takes per-sequence lengths (a padded batch read as
// PyTorch reads a packed sequence). In the tensor form an RNN or LSTM layer is one op over the
// whole sequence (rnn_tanh_sequence, lstm_sequence: ops/recurrent.hpp), with a backward of its
// own; the per-step form and the GRU stay composed from engine ops.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/ops.hpp>

#include "tapegrad/nn/dropout.hpp"
#include "tapegrad/nn/init.hpp"
#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// How a recurrent layer's weights start.
enum class RecurrentInit {
  /// Each gate's [hidden, in] block Xavier-uniform, as if the gates were separate layers;
  /// biases zero. Learns fast with Adam on small models.
  xavier,
  /// PyTorch's torch.nn.RNN/LSTM/GRU default: every weight and bias U(-1/sqrt(hidden),
  /// 1/sqrt(hidden)), drawn weight_ih, weight_hh, bias_ih, bias_hh.
  pytorch,
};

/// The choices of a stack of recurrent layers beyond its sizes.
struct RecurrentOptions {
  bool bias = true;
  /// Dropout on each layer's outputs on their way to the next layer (not on the last layer's,
  /// nor on the state a layer carries to its own next step): PyTorch's `dropout` argument.
  double dropout = 0;
  RecurrentInit init = RecurrentInit::xavier;
  /// LSTM only: the forget gate's block of bias_ih starts at this value and that of bias_hh at
  /// 0, so the gate starts at sigmoid(forget_bias) (1.0 is a common choice: remember by
  /// default). 0 leaves the biases as the init drew them.
  double forget_bias = 0;
};

namespace detail {
// Xavier per gate: each [hidden, in] block of a [gates * hidden, in] weight gets the bound of a
// [hidden, in] matrix, as if the gates were separate layers.
template <class T>
Tensor<T> gate_weights(std::size_t gates, std::size_t hidden, std::size_t in, Rng& rng) {
  const double a = std::sqrt(6.0 / double(hidden + in));
  Shape shape(2);  // not a braced list: g++ 12 then warns (falsely) inside xtensor's svector
  shape[0] = gates * hidden;
  shape[1] = in;
  return uniform<T>(shape, -a, a, rng);
}
inline void check_batch(const char* layer, const Shape& x, std::size_t features) {
  if (x.size() != 2 || x[1] != features)
    throw Error(std::string(layer) + ": expected an input of shape [batch, " +
                std::to_string(features) + "], got " + shape_str(x));
}
}  // namespace detail

/// The weights every recurrent cell has: input-to-hidden and hidden-to-hidden, gates stacked,
/// named as in PyTorch's cells (weight_ih, weight_hh, bias_ih, bias_hh).
template <class T>
class RecurrentWeights : public Module<T> {
 public:
  RecurrentWeights(std::size_t input, std::size_t hidden, std::size_t gates, Rng& rng, bool bias,
                   RecurrentInit init)
      : input_size(input),
        hidden_size(hidden),
        weight_ih_(this->register_parameter("weight_ih", weights(init, gates, hidden, input, rng))),
        weight_hh_(
            this->register_parameter("weight_hh", weights(init, gates, hidden, hidden, rng))),
        bias_ih_(bias ? &this->register_parameter("bias_ih", biases(init, gates, hidden, rng))
                      : nullptr),
        bias_hh_(bias ? &this->register_parameter("bias_hh", biases(init, gates, hidden, rng))
                      : nullptr) {}

  const std::size_t input_size, hidden_size;

  /// W_ih [gates * hidden, input]
  Parameter<T>& weight_ih() { return weight_ih_; }
  const Parameter<T>& weight_ih() const { return weight_ih_; }
  /// W_hh [gates * hidden, hidden]
  Parameter<T>& weight_hh() { return weight_hh_; }
  const Parameter<T>& weight_hh() const { return weight_hh_; }
  /// b_ih and b_hh [gates * hidden]; an Error naming the cell if it has no biases.
  Parameter<T>& bias_ih() { return detail::bias_or_throw(bias_ih_, describe()); }
  const Parameter<T>& bias_ih() const { return detail::bias_or_throw(bias_ih_, describe()); }
  Parameter<T>& bias_hh() { return detail::bias_or_throw(bias_hh_, describe()); }
  const Parameter<T>& bias_hh() const { return detail::bias_or_throw(bias_hh_, describe()); }
  bool has_bias() const { return bias_ih_ != nullptr; }

  /// x W_ih^T + b_ih for x [n, input]: the part of every gate that does not depend on the state.
  /// Any n rows at once -- one time step's batch, a whole sequence, or every row of an embedding
  /// table (an embedding followed by this projection is a lookup in the projected table).
  Var<T> input_part(const Var<T>& x) const {
    Tape<T>& t = x.tape();
    return bias_ih_ ? linear(x, t.param(weight_ih_), t.param(*bias_ih_))
                    : linear(x, t.param(weight_ih_));
  }

 protected:
  static Tensor<T> weights(RecurrentInit init, std::size_t gates, std::size_t hidden,
                           std::size_t in, Rng& rng) {
    if (init == RecurrentInit::xavier) return detail::gate_weights<T>(gates, hidden, in, rng);
    const double a = 1 / std::sqrt(double(hidden));
    Shape shape(2);  // as in gate_weights
    shape[0] = gates * hidden;
    shape[1] = in;
    return uniform<T>(shape, -a, a, rng);
  }
  static Tensor<T> biases(RecurrentInit init, std::size_t gates, std::size_t hidden, Rng& rng) {
    Shape shape(1);  // as in gate_weights
    shape[0] = gates * hidden;
    const double a = init == RecurrentInit::xavier ? 0.0 : 1 / std::sqrt(double(hidden));
    Tensor<T> t;
    t.resize(shape);  // not zeros(): g++ 12 warns (falsely) in its inlined shape copy
    for (T& v : t) v = a == 0 ? T(0) : T(rng.uniform(-a, a));
    return t;
  }

  Var<T> zero_hidden(Tape<T>& t, std::size_t batch) const {
    Shape shape(2);
    shape[0] = batch;
    shape[1] = hidden_size;
    return t.full(shape, T(0));
  }
  Var<T> hidden_part(const Var<T>& h) const {
    Tape<T>& t = h.tape();
    return bias_hh_ ? linear(h, t.param(weight_hh_), t.param(*bias_hh_))
                    : linear(h, t.param(weight_hh_));
  }
  // input_part(x) + hidden_part(h) as one op (linear_pair): the gates are written once.
  Var<T> both_parts(const Var<T>& x, const Var<T>& h) const {
    Tape<T>& t = h.tape();
    return bias_ih_ ? linear_pair(x, t.param(weight_ih_), h, t.param(weight_hh_),
                                  t.param(*bias_ih_), t.param(*bias_hh_))
                    : linear_pair(x, t.param(weight_ih_), h, t.param(weight_hh_));
  }
  // x_proj + hidden_part(h) as one op: the hidden GEMM adds onto the input part (linear's
  // addend), which saves a node and a pass over the gates at every step.
  Var<T> hidden_part_plus(const Var<T>& h, const Var<T>& x_proj) const {
    check_projection(x_proj, h);
    Tape<T>& t = h.tape();
    return bias_hh_ ? linear(h, t.param(weight_hh_), t.param(*bias_hh_), x_proj)
                    : x_proj + linear(h, t.param(weight_hh_));
  }
  // W_hh and b_hh (null without biases), for a forward of a const layer to bind.
  Parameter<T>& recurrent_weight() const { return weight_hh_; }
  Parameter<T>* recurrent_bias() const { return bias_hh_; }
  void check_projection(const Var<T>& x_proj, const Var<T>& h) const {
    const std::size_t width = weight_ih_.value.shape()[0];
    if (x_proj.dim() != 2 || x_proj.shape()[1] != width || x_proj.shape()[0] != h.shape()[0])
      throw Error("recurrent cell: expected an input projection of shape [" +
                  std::to_string(h.shape()[0]) + ", " + std::to_string(width) + "], got " +
                  shape_str(x_proj.shape()));
  }

 private:
  std::string describe() const {
    return "recurrent cell (input " + std::to_string(input_size) + ", hidden " +
           std::to_string(hidden_size) + ")";
  }
  Parameter<T>& weight_ih_;
  Parameter<T>& weight_hh_;
  Parameter<T>* const bias_ih_;
  Parameter<T>* const bias_hh_;
};

/// h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
template <class T>
class RNNCell : public RecurrentWeights<T> {
 public:
  using State = Var<T>;
  RNNCell(std::size_t input, std::size_t hidden, Rng& rng, bool bias = true,
          RecurrentInit init = RecurrentInit::xavier)
      : RecurrentWeights<T>(input, hidden, 1, rng, bias, init) {}
  /// The same, drawing from default_generator().
  RNNCell(std::size_t input, std::size_t hidden, bool bias = true,
          RecurrentInit init = RecurrentInit::xavier)
      : RNNCell(input, hidden, default_generator(), bias, init) {}
  /// x [batch, input], h [batch, hidden] -> h' [batch, hidden]
  Var<T> operator()(const Var<T>& x, const Var<T>& h) const {
    detail::check_batch("RNNCell", x.shape(), this->input_size);
    return tanh(this->both_parts(x, h));
  }
  /// The same step from x's projection x_proj = input_part(x) [batch, hidden], computed by the
  /// caller (for a whole sequence at once, or looked up in a projected embedding table).
  Var<T> step(const Var<T>& x_proj, const Var<T>& h) const {
    return tanh(this->hidden_part_plus(h, x_proj));
  }
  /// Every step at once: x_proj [T, batch, hidden] (input_part of the whole sequence) and h0
  /// [batch, hidden] -> the state after every step [T, batch, hidden], recorded as one op
  /// (rnn_tanh_sequence: the states in one buffer, the weight's gradient one GEMM). lengths as
  /// in Stacked's sequence form, except that a row past its length holds its state here (the
  /// last step's row is each sequence's last state) instead of reading zero. state_grad_norms:
  /// see rnn_tanh_sequence.
  Var<T> sequence(const Var<T>& x_proj, const Var<T>& h0,
                  const std::vector<std::size_t>& lengths = {},
                  std::vector<double>* state_grad_norms = nullptr) const {
    Tape<T>& t = h0.tape();
    Var<T> w = t.param(this->recurrent_weight());
    Parameter<T>* b = this->recurrent_bias();
    return b ? rnn_tanh_sequence(x_proj, h0, w, t.param(*b), lengths, state_grad_norms)
             : rnn_tanh_sequence(x_proj, h0, w, lengths, state_grad_norms);
  }
  State zero_state(Tape<T>& t, std::size_t batch) const { return this->zero_hidden(t, batch); }
  static const Var<T>& output(const State& s) { return s; }
};

template <class T>
struct LSTMState {
  Var<T> h, c;
};

template <class T>
class LSTMCell : public RecurrentWeights<T> {
 public:
  using State = LSTMState<T>;
  LSTMCell(std::size_t input, std::size_t hidden, Rng& rng, bool bias = true,
           RecurrentInit init = RecurrentInit::xavier)
      : RecurrentWeights<T>(input, hidden, 4, rng, bias, init) {}
  /// The same, drawing from default_generator().
  LSTMCell(std::size_t input, std::size_t hidden, bool bias = true,
           RecurrentInit init = RecurrentInit::xavier)
      : LSTMCell(input, hidden, default_generator(), bias, init) {}
  /// Sets the forget gate's bias block ([hidden, 2 hidden) of bias_ih) to `value` and that of
  /// bias_hh to 0, so the gate starts at sigmoid(value) whatever the init drew.
  void set_forget_bias(double value) {
    if (!this->has_bias()) throw Error("LSTMCell: a forget-gate bias needs a layer with biases");
    const std::size_t H = this->hidden_size;
    for (std::size_t k = H; k < 2 * H; ++k) {
      this->bias_ih().value(k) = T(value);
      this->bias_hh().value(k) = T(0);
    }
  }
  State operator()(const Var<T>& x, const State& s) const {
    detail::check_batch("LSTMCell", x.shape(), this->input_size);
    return from_gates(this->both_parts(x, s.h), s.c);
  }
  /// The same step from x_proj = input_part(x) [batch, 4 hidden] (see RNNCell::step).
  State step(const Var<T>& x_proj, const State& s) const {
    return from_gates(this->hidden_part_plus(s.h, x_proj), s.c);
  }
  /// Every step at once: x_proj [T, batch, 4 hidden] (input_part of the whole sequence), h0 and
  /// c0 [batch, hidden] -> lstm_sequence's output [T + 1, batch, hidden], recorded as one op:
  /// rows 0..T-1 are the hidden state after every step and row T the last cell state (take them
  /// apart with slice(y, 0, 0, T) and select(y, 0, T)). lengths as in RNNCell::sequence: a row
  /// past its length holds both h and c, so rows T-1 and T are each sequence's last h and c.
  /// state_grad_norms: see lstm_sequence.
  Var<T> sequence(const Var<T>& x_proj, const Var<T>& h0, const Var<T>& c0,
                  const std::vector<std::size_t>& lengths = {},
                  std::vector<double>* state_grad_norms = nullptr) const {
    Tape<T>& t = h0.tape();
    Var<T> w = t.param(this->recurrent_weight());
    Parameter<T>* b = this->recurrent_bias();
    return b ? lstm_sequence(x_proj, h0, c0, w, t.param(*b), lengths, state_grad_norms)
             : lstm_sequence(x_proj, h0, c0, w, lengths, state_grad_norms);
  }
  State zero_state(Tape<T>& t, std::size_t batch) const {
    Var<T> z = this->zero_hidden(t, batch);
    return {z, z};
  }
  static const Var<T>& output(const State& s) { return s.h; }

 private:
  // gates [batch, 4 hidden] = [i, f, g, o] pre-activations, c the previous cell state.
  State from_gates(const Var<T>& gates, const Var<T>& c_prev) const {
    const std::size_t H = this->hidden_size;
    Var<T> i = sigmoid(slice(gates, 1, 0, H));
    Var<T> f = sigmoid(slice(gates, 1, H, 2 * H));
    Var<T> g = tanh(slice(gates, 1, 2 * H, 3 * H));
    Var<T> o = sigmoid(slice(gates, 1, 3 * H, 4 * H));
    Var<T> c = f * c_prev + i * g;
    return {o * tanh(c), c};
  }
};

template <class T>
class GRUCell : public RecurrentWeights<T> {
 public:
  using State = Var<T>;
  GRUCell(std::size_t input, std::size_t hidden, Rng& rng, bool bias = true,
          RecurrentInit init = RecurrentInit::xavier)
      : RecurrentWeights<T>(input, hidden, 3, rng, bias, init) {}
  /// The same, drawing from default_generator().
  GRUCell(std::size_t input, std::size_t hidden, bool bias = true,
          RecurrentInit init = RecurrentInit::xavier)
      : GRUCell(input, hidden, default_generator(), bias, init) {}
  Var<T> operator()(const Var<T>& x, const Var<T>& h) const {
    detail::check_batch("GRUCell", x.shape(), this->input_size);
    return step(this->input_part(x), h);
  }
  /// The same step from gi = input_part(x) [batch, 3 hidden] (see RNNCell::step).
  Var<T> step(const Var<T>& gi, const Var<T>& h) const {
    this->check_projection(gi, h);
    const std::size_t H = this->hidden_size;
    Var<T> gh = this->hidden_part(h);
    Var<T> r = sigmoid(slice(gi, 1, 0, H) + slice(gh, 1, 0, H));
    Var<T> z = sigmoid(slice(gi, 1, H, 2 * H) + slice(gh, 1, H, 2 * H));
    Var<T> n = tanh(slice(gi, 1, 2 * H, 3 * H) + r * slice(gh, 1, 2 * H, 3 * H));
    return (T(1) - z) * n + z * h;
  }
  State zero_state(Tape<T>& t, std::size_t batch) const { return this->zero_hidden(t, batch); }
  static const Var<T>& output(const State& s) { return s; }
};

/// The recurrent cells by kind, for a model that picks one at run time (from a flag, from a
/// checkpoint).
enum class CellType { rnn, lstm, gru };

/// Their names in CellType order: the one list a program offers its users.
inline const std::vector<std::string>& cell_type_names() {
  static const std::vector<std::string> names{"rnn", "lstm", "gru"};
  return names;
}
inline const char* cell_type_name(CellType c) {
  return c == CellType::rnn ? "rnn" : c == CellType::lstm ? "lstm" : "gru";
}
inline CellType parse_cell_type(const std::string& name) {
  for (std::size_t i = 0; i < cell_type_names().size(); ++i)
    if (name == cell_type_names()[i]) return static_cast<CellType>(i);
  throw Error("unknown cell '" + name + "' (expected rnn, lstm or gru)");
}
/// Gate blocks per layer: 1 (rnn), 3 (gru: r, z, n) or 4 (lstm: i, f, g, o).
inline std::size_t gate_count(CellType c) {
  return c == CellType::rnn ? 1 : c == CellType::gru ? 3 : 4;
}

namespace detail {
// Variable-length batches with PyTorch's packed-sequence semantics: sequence b is read at step t
// while t < lengths[b]; after that its state is held and its output is zero. At a step where
// some sequence has ended, each state becomes keep * next + drop * prev with [B, 1] constants
// keep (1 while active) and drop = 1 - keep. Multiplying by an exact 0 or 1 and adding an exact
// 0 changes no value, so an active sequence's state is exactly the step's, an ended one's is
// exactly held, and the gradient reaching an ended sequence's step is exactly zero.
template <class T>
class Padding {
 public:
  /// No lengths: no sequence ends early and nothing is masked.
  Padding(Tape<T>& tape, const std::vector<std::size_t>& lengths, std::size_t total)
      : steps(total), tape_(tape), lengths_(lengths), first_masked_(total) {
    if (lengths.empty()) return;
    this->steps = *std::max_element(lengths.begin(), lengths.end());
    first_masked_ = *std::min_element(lengths.begin(), lengths.end());
  }
  /// Steps to run: up to the longest sequence (later steps change no state and output zero).
  std::size_t steps;
  /// Whether step t needs the masks: some sequence has ended by then.
  bool masked(std::size_t t) const { return t >= first_masked_; }
  /// keep and drop for step t (t masked, called in increasing t). New constants are recorded
  /// only when the set of active sequences changes: at most once per distinct length.
  void at(std::size_t t) {
    if (made_ && active_ == count_active(t)) return;
    active_ = count_active(t);
    // A std::array shape: with a Shape (svector), g++ 12 warns (falsely) inside its copy.
    if (mask_.size() != lengths_.size())
      mask_.resize(std::array<std::size_t, 2>{lengths_.size(), 1});
    for (std::size_t b = 0; b < lengths_.size(); ++b) mask_(b, 0) = t < lengths_[b] ? T(1) : T(0);
    keep = tape_.constant(mask_);
    for (T& v : mask_) v = T(1) - v;
    drop = tape_.constant(mask_);
    made_ = true;
  }
  Var<T> keep, drop;

 private:
  std::size_t count_active(std::size_t t) const {
    return static_cast<std::size_t>(
        std::count_if(lengths_.begin(), lengths_.end(), [t](std::size_t n) { return t < n; }));
  }
  Tape<T>& tape_;
  const std::vector<std::size_t>& lengths_;
  std::size_t first_masked_;
  Tensor<T> mask_;  // [B, 1], refilled for each new keep and drop
  std::size_t active_ = 0;
  bool made_ = false;
};

// keep * next + drop * prev, for each tensor of a cell's state.
template <class T>
Var<T> hold_ended(const Padding<T>& p, const Var<T>& next, const Var<T>& prev) {
  return p.keep * next + p.drop * prev;
}
template <class T>
LSTMState<T> hold_ended(const Padding<T>& p, const LSTMState<T>& next, const LSTMState<T>& prev) {
  return {hold_ended(p, next.h, prev.h), hold_ended(p, next.c, prev.c)};
}
}  // namespace detail

/// Layers of cells unrolled over a sequence; layer l > 0 reads layer l-1's hidden states
/// (through dropout while training, when RecurrentOptions::dropout > 0). Read step by step, the
/// nodes of step t (from 1) in layer l (from 0) are recorded in Tape::scope "t=<t>/layer<l>";
/// an RNN or LSTM reading a [T, B, input] tensor records one sequence op per layer, in scope
/// "layer<l>".
/// Parameters are named "layer0.weight_ih", "layer0.weight_hh", ... in layer order; their
/// PyTorch names (torch.nn.RNN/LSTM/GRU, see Module::set_pytorch_name) are "weight_ih_l0",
/// "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1", ...
template <class T, template <class> class CellT>
class Stacked : public Module<T> {
 public:
  using Cell = CellT<T>;
  using State = typename Cell::State;
  struct Output {
    std::vector<Var<T>> outputs;  // the top layer's hidden state at every step
    std::vector<State> last;      // every layer's state after the last step
  };
  /// What a stack returns for a [T, B, input] sequence tensor.
  struct SequenceOutput {
    Var<T> output;            // [T, B, hidden]: the top layer's hidden state at every step
    std::vector<State> last;  // every layer's state after each sequence's last step
  };

  Stacked(std::size_t input, std::size_t hidden, std::size_t layers, Rng& rng,
          const RecurrentOptions& options = {})
      : input_size(input), hidden_size(hidden) {
    if (input == 0 || hidden == 0 || layers == 0)
      throw Error(
          "recurrent layer: input size, hidden size and layer count must be positive; got " +
          std::to_string(input) + ", " + std::to_string(hidden) + ", " + std::to_string(layers));
    for (std::size_t l = 0; l < layers; ++l) {
      cells_.push_back(
          std::make_unique<Cell>(l == 0 ? input : hidden, hidden, rng, options.bias, options.init));
      const std::string layer = "layer" + std::to_string(l);
      this->register_module(layer, *cells_.back());
      // PyTorch's RNN/LSTM/GRU hold every layer's weights themselves: weight_ih_l0, ...
      for (const char* name : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"})
        if (options.bias || name[0] == 'w')
          this->set_pytorch_name(layer + "." + name, name + ("_l" + std::to_string(l)));
    }
    if (options.forget_bias != 0) {
      if constexpr (std::is_same_v<Cell, LSTMCell<T>>) {
        for (auto& cell : cells_) cell->set_forget_bias(options.forget_bias);
      } else {
        throw Error("recurrent layer: a forget-gate bias is for an LSTM; this layer has none");
      }
    }
    if (!(options.dropout >= 0 && options.dropout < 1))
      throw Error("recurrent layer: expected a dropout probability in [0, 1), got " +
                  std::to_string(options.dropout));
    // Drawn after every weight: the weights do not depend on the option.
    if (options.dropout > 0 && layers > 1) set_dropout(options.dropout, rng.next());
  }

  /// Dropout p between the layers from now on, its masks drawn from a generator seeded with
  /// `seed` (for a model that draws the seed after all of its own weights). Nothing for a single
  /// layer: dropout acts between layers, as PyTorch's does. Once only.
  void set_dropout(double p, std::uint64_t seed) {
    if (dropout_) throw Error("recurrent layer: dropout is already set");
    if (!(p >= 0 && p < 1))
      throw Error("recurrent layer: expected a dropout probability in [0, 1), got " +
                  std::to_string(p));
    if (p == 0 || cells_.size() < 2) return;
    dropout_ = std::make_unique<Dropout<T>>(p, seed);
    this->register_module("dropout", *dropout_);
  }
  Stacked(std::size_t input, std::size_t hidden, std::size_t layers, Rng& rng, bool bias)
      : Stacked(input, hidden, layers, rng, RecurrentOptions{bias}) {}
  /// The same, drawing the weights (and the dropout generator's seed) from default_generator().
  Stacked(std::size_t input, std::size_t hidden, std::size_t layers,
          const RecurrentOptions& options = {})
      : Stacked(input, hidden, layers, default_generator(), options) {}

  /// xs: one [batch, input] Var per time step. initial: one state per layer, or empty for zeros.
  Output operator()(const std::vector<Var<T>>& xs, std::vector<State> initial = {}) const {
    return run(xs, std::move(initial), false);
  }
  /// The same, given the first layer's input projections layer(0).input_part(x_t)
  /// [batch, gates * hidden] instead of the inputs: for a caller that computes them for the
  /// whole sequence at once, or looks them up in a projected embedding table.
  Output from_projections(const std::vector<Var<T>>& x_projs,
                          std::vector<State> initial = {}) const {
    return run(x_projs, std::move(initial), true);
  }

  /// x [T, B, input], the whole sequence as one tensor (time-major, as PyTorch's default).
  /// initial: one state per layer, or empty for zeros. lengths (optional, one per sequence,
  /// each in [1, T]): a batch of sequences padded to T steps, read as PyTorch reads a packed
  /// sequence -- sequence b's last state is its state after step lengths[b] - 1, and its output
  /// at the padded steps is zero (as pad_packed_sequence gives). Without lengths, or with every
  /// length T, no op is added. With them, an RNN or LSTM (one op per layer) adds one product
  /// with a [T, B, 1] mask, and its ops run no step after the longest sequence; a GRU adds a few
  /// element-wise ops at each step at which some sequence has ended, and runs no step after the
  /// longest sequence at all.
  /// state_grad_norms (optional): the next backward pass sets it to T norms, ||dL/dh_t|| of the
  /// top layer's hidden state at every step over the whole batch, h_t's whole gradient (from
  /// the output, and from step t+1): how far back along the sequence the gradient reaches. The
  /// vector must outlive that backward pass. (An RNN or LSTM's op computes them on its way; a
  /// GRU's reads them with a hook on each step's state.)
  /// (A template only so that a braced list -- rnn({x0, x1}), rnn({}) -- still means the
  /// per-step form: a braced list deduces no V, where a non-template Var overload would take
  /// rnn({x}) as an exact match.)
  template <class V, class = std::enable_if_t<std::is_same_v<V, Var<T>>>>
  SequenceOutput operator()(const V& x, std::vector<State> initial = {},
                            const std::vector<std::size_t>& lengths = {},
                            std::vector<double>* state_grad_norms = nullptr) const {
    return run_sequence(x, std::move(initial), lengths, false, state_grad_norms);
  }
  /// The same, given the first layer's input projections layer(0).input_part(x)
  /// [T, B, gates * hidden] (input_part reads [T, B, input] whole).
  template <class V, class = std::enable_if_t<std::is_same_v<V, Var<T>>>>
  SequenceOutput from_projections(const V& x_proj, std::vector<State> initial = {},
                                  const std::vector<std::size_t>& lengths = {},
                                  std::vector<double>* state_grad_norms = nullptr) const {
    return run_sequence(x_proj, std::move(initial), lengths, true, state_grad_norms);
  }

  /// Layer l's step alone: its input (for l > 0 layer l-1's output, which goes through the
  /// dropout between layers here; for l = 0 the input, or its projection when `projected`) and
  /// its state before -> its state after. operator() is this for every step and layer; a program
  /// reading one symbol at a time calls it directly, which builds no vectors.
  State step(std::size_t l, const Var<T>& in, const State& s, bool projected = false) const {
    if (l >= cells_.size())
      throw Error("recurrent layer: layer " + std::to_string(l) + " of " +
                  std::to_string(cells_.size()));
    if (l == 0) return projected ? cells_[0]->step(in, s) : (*cells_[0])(in, s);
    return (*cells_[l])(dropout_ ? (*dropout_)(in) : in, s);
  }

  std::size_t num_layers() const { return cells_.size(); }
  Cell& layer(std::size_t l) { return *cells_.at(l); }
  const Cell& layer(std::size_t l) const { return *cells_.at(l); }

  const std::size_t input_size, hidden_size;

 private:
  Output run(const std::vector<Var<T>>& xs, std::vector<State> initial, bool projected,
             const std::vector<std::size_t>& lengths = {},
             std::vector<double>* state_grad_norms = nullptr) const {
    if (xs.empty()) throw Error("recurrent layer: the input sequence is empty");
    Tape<T>& tape = xs[0].tape();
    const std::size_t batch = xs[0].shape()[0];
    if (initial.empty())
      for (const auto& cell : cells_) initial.push_back(cell->zero_state(tape, batch));
    if (initial.size() != cells_.size())
      throw Error("recurrent layer: " + std::to_string(initial.size()) +
                  " initial states given for " + std::to_string(cells_.size()) + " layers");
    Output out;
    out.last = std::move(initial);
    out.outputs.reserve(xs.size());
    detail::Padding<T> pad(tape, lengths, xs.size());
    for (std::size_t t = 0; t < pad.steps; ++t) {
      // Labels for Tape::listing and to_dot: "t=1/layer0" is layer 0 at the first step.
      const auto at_step = tape.scope("t=", t + 1);
      const bool masked = pad.masked(t);
      if (masked) pad.at(t);
      for (std::size_t l = 0; l < cells_.size(); ++l) {
        const auto in_layer = tape.scope("layer", l);
        State next =
            step(l, l == 0 ? xs[t] : Cell::output(out.last[l - 1]), out.last[l], projected);
        out.last[l] = masked ? detail::hold_ended(pad, next, out.last[l]) : std::move(next);
      }
      const Var<T>& top = Cell::output(out.last.back());
      if (state_grad_norms) hook_grad_norm(top, *state_grad_norms, t);
      out.outputs.push_back(masked ? pad.keep * top : top);
    }
    if (pad.steps < xs.size()) {  // every sequence has ended: zero outputs, no step
      Shape shape(2);
      shape[0] = batch;
      shape[1] = hidden_size;
      out.outputs.resize(xs.size(), tape.full(shape, T(0)));
    }
    return out;
  }

  // Checks a [T, B, width] sequence and its lengths, then runs it: an RNN or LSTM a layer at a
  // time over the whole sequence (run_whole); a GRU step by step, its steps selects of x and its
  // output a stack of the per-step states.
  SequenceOutput run_sequence(const Var<T>& x, std::vector<State> initial,
                              const std::vector<std::size_t>& lengths, bool projected,
                              std::vector<double>* state_grad_norms) const {
    // A projection is as wide as the first layer's stacked gates (weight_ih's rows).
    const std::size_t width = projected ? cells_[0]->weight_ih().value.shape()[0] : input_size;
    const Shape& s = x.shape();
    if (s.size() != 3 || s[0] == 0 || s[1] == 0 || s[2] != width)
      throw Error(std::string("recurrent layer: expected ") +
                  (projected ? "input projections" : "an input") + " of shape [steps, batch, " +
                  std::to_string(width) + "] with at least one step and one sequence, got " +
                  shape_str(s));
    if (!lengths.empty() && lengths.size() != s[1])
      throw Error("recurrent layer: " + std::to_string(lengths.size()) +
                  " lengths given for a batch of " + std::to_string(s[1]) + " sequences (input " +
                  shape_str(s) + ")");
    for (std::size_t b = 0; b < lengths.size(); ++b)
      if (lengths[b] < 1 || lengths[b] > s[0])
        throw Error("recurrent layer: lengths[" + std::to_string(b) + "] is " +
                    std::to_string(lengths[b]) + "; expected a length in [1, " +
                    std::to_string(s[0]) + "] (the input " + shape_str(s) + " has " +
                    std::to_string(s[0]) + " steps)");
    if constexpr (std::is_same_v<Cell, RNNCell<T>> || std::is_same_v<Cell, LSTMCell<T>>) {
      return run_whole(x, std::move(initial), lengths, projected, state_grad_norms);
    } else {
      // Every step's norm is set by its hook; a step after the longest sequence runs no cell
      // (its state is the held one, read through the zero output only), so it keeps 0.
      if (state_grad_norms) state_grad_norms->assign(s[0], 0.0);
      Output out = run(unstack(x, 0), std::move(initial), projected, lengths, state_grad_norms);
      return {stack(out.outputs, 0), std::move(out.last)};
    }
  }

  // A layer at a time, each over the whole sequence as one op (RNNCell::sequence,
  // LSTMCell::sequence): the layer's hidden states are one [T, B, H] buffer that the next
  // layer's input projection (one GEMM), the dropout between layers and the caller's head read
  // whole. With lengths a row holds its state past its length, so step T-1 is each sequence's
  // last state; its output there is masked to zero once, at the end. An LSTM's op also returns
  // the last cell state, as row T of [T + 1, B, H]: its hidden states are the slice of rows
  // 0..T-1 (one copy, small beside a step's gate work).
  // (A template, so that the class's explicit instantiation for a GRU does not compile it:
  // GRUCell has no sequence().)
  template <class C = Cell>
  SequenceOutput run_whole(const Var<T>& x, std::vector<State> initial,
                           const std::vector<std::size_t>& lengths, bool projected,
                           std::vector<double>* state_grad_norms) const {
    Tape<T>& tape = x.tape();
    const std::size_t steps = x.shape()[0], batch = x.shape()[1];
    if (initial.empty())
      for (const auto& cell : cells_) initial.push_back(cell->zero_state(tape, batch));
    if (initial.size() != cells_.size())
      throw Error("recurrent layer: " + std::to_string(initial.size()) +
                  " initial states given for " + std::to_string(cells_.size()) + " layers");
    const bool padded =
        std::any_of(lengths.begin(), lengths.end(), [steps](std::size_t n) { return n != steps; });
    const std::vector<std::size_t> no_lengths;
    SequenceOutput out;
    Var<T> states = x;
    for (std::size_t l = 0; l < cells_.size(); ++l) {
      const auto in_layer = tape.scope("layer", l);
      Var<T> in = l > 0 && dropout_ ? (*dropout_)(states) : states;
      Var<T> x_proj = l == 0 && projected ? in : cells_[l]->input_part(in);
      const std::vector<std::size_t>& lens = padded ? lengths : no_lengths;
      std::vector<double>* norms = l + 1 == cells_.size() ? state_grad_norms : nullptr;
      if constexpr (std::is_same_v<C, LSTMCell<T>>) {
        Var<T> y = cells_[l]->sequence(x_proj, initial[l].h, initial[l].c, lens, norms);
        states = slice(y, 0, 0, steps);
        out.last.push_back({select(y, 0, steps - 1), select(y, 0, steps)});
      } else {
        states = cells_[l]->sequence(x_proj, initial[l], lens, norms);
        out.last.push_back(select(states, 0, steps - 1));
      }
    }
    out.output = padded ? states * tape.constant(step_mask(lengths, steps)) : states;
    return out;
  }
  // norms[t] = ||state's gradient|| in the next backward pass (norms has a place for step t).
  static void hook_grad_norm(const Var<T>& state, std::vector<double>& norms, std::size_t t) {
    state.on_grad([&norms, t](Tensor<T>& g) {
      norms[t] = std::sqrt(tapegrad::detail::squared_norm_of_sum<T>(g.data(), nullptr, g.size()));
    });
  }
  // [T, B, 1]: 1 where step t is within sequence b's length, else 0.
  static Tensor<T> step_mask(const std::vector<std::size_t>& lengths, std::size_t steps) {
    Tensor<T> mask = Tensor<T>::from_shape(std::array<std::size_t, 3>{steps, lengths.size(), 1});
    for (std::size_t t = 0; t < steps; ++t)
      for (std::size_t b = 0; b < lengths.size(); ++b) mask(t, b, 0) = t < lengths[b] ? T(1) : T(0);
    return mask;
  }

  std::vector<std::unique_ptr<Cell>> cells_;
  std::unique_ptr<Dropout<T>> dropout_;  // between layers; null without dropout
};

template <class T>
using RNN = Stacked<T, RNNCell>;
template <class T>
using LSTM = Stacked<T, LSTMCell>;
template <class T>
using GRU = Stacked<T, GRUCell>;

}  // namespace tapegrad::nn
