#pragma once
// Incremental next-token prediction, as a keyboard needs it: a Predictor carries a trained
// model's hidden state from token to token, so each new token (a key press, a word) costs one
// recurrent step and the head, not a re-read of the text so far; it goes back any number of
// tokens (backspace) to exactly the state and distribution it had there; and it answers with
// the next token's distribution at any point. Tokens only: a program maps text to indices.
//
//   train::Predictor p(net);                 // net is only read
//   p.feed(tokens_of("king sits"));
//   p.feed(token_of("on"));                  // one step
//   auto best = p.top(3);                    // (token, probability), most likely first
//   p.back();                                // as before "on", bit for bit
//
// The model is only read (every forward runs without gradients, which leaves its parameters
// untouched), so many predictors -- one per thread, one per user -- may share one model. A
// predictor itself is used by one thread at a time.
//
// Once warm (the history's snapshots made, the longest text so far read once), feed(), back()
// within the history and top(k, out) allocate no memory: a step reuses the tape's buffers, the
// state's tensors are overwritten in place, and snapshots live in a ring of kept tensors.
#include <cstdint>
#include <utility>
#include <vector>

#include <tapegrad/train/language_model.hpp>

namespace tapegrad::train {

class Predictor {
 public:
  /// `history`: how many of the last tokens keep a snapshot of the state (back() within them
  /// restores it; further back re-reads from the start, one token at a time as they were read,
  /// so it is exact too). At least 1.
  explicit Predictor(const LanguageModelNet& net, std::size_t history = 256);

  /// Reads one more token (0 <= token < the vocabulary): one recurrent step and the head.
  void feed(std::int64_t token);
  void feed(const Indices& tokens);
  /// Forgets the last n tokens (n <= size()): the state and the next-token distribution become
  /// exactly those before them.
  void back(std::size_t n = 1);
  /// Forgets every token.
  void reset();

  /// Tokens read (fed and not taken back), oldest first.
  const Indices& tokens() const { return tokens_; }
  std::size_t size() const { return tokens_.size(); }
  bool empty() const { return tokens_.empty(); }

  /// The logits of the next token, in double (an Error before the first token: there is no
  /// distribution to read yet).
  const std::vector<double>& logits() const;
  /// softmax(logits / temperature).
  std::vector<double> probabilities(double temperature = 1.0) const;
  /// The k most likely next tokens with their probabilities, most likely first (ties keep
  /// index order). The softmax's normaliser is summed in float with vectorised exp (a keyboard's
  /// 10k-word vocabulary made exp in double a third of a keystroke): the probabilities agree
  /// with probabilities() to about 1e-6 relative.
  std::vector<std::pair<std::int64_t, double>> top(std::size_t k) const;
  /// The same into `out` (cleared first), whose memory is reused from call to call.
  void top(std::size_t k, std::vector<std::pair<std::int64_t, double>>& out) const;
  /// Leaves `token` out of top() from now on: a token a keyboard never offers (word level's
  /// "<unk>"). Its probability still counts in the others' normaliser. -1: none (the default).
  void never_suggest(std::int64_t token) { never_suggested_ = token; }
  /// The state after the last token (zeros before the first).
  const LanguageModelNet::State& state() const { return state_; }
  const LanguageModelNet& net() const { return net_; }

 private:
  // The state alone: back() recomputes the logits from its top layer (the same head on the
  // same numbers, so the same logits), which keeps a V-wide copy out of every step.
  const LanguageModelNet& net_;
  std::size_t history_;
  Tape<float> tape_;                    // reused: cleared before each step
  Tape<float> back_tape_;               // back()'s head alone: its nodes keep their shapes too
  Indices step_;                        // the one symbol fed to the model, reused
  LanguageModelNet::State state_;       // after tokens_
  mutable std::vector<double> logits_;  // logits_f_ in double, made when logits() is asked
  mutable bool logits_stale_ = false;
  Tensor<float> logits_f_;            // of the token after tokens_, as the head made them
  mutable Tensor<float> exp_buffer_;  // top()'s exp(logits - max), reused
  std::int64_t never_suggested_ = -1;
  Indices tokens_;
  Indices reread_;  // back() beyond the history: the tokens read again, reused
  // The snapshots, a ring of at most history_ + 1 states whose tensors are kept and overwritten:
  // the k-th oldest held is ring_[(ring_first_ + k) % ring_.size()], the newest is the state
  // after tokens_.back(). Slots past the held ones are free (left by back() or reset()).
  std::vector<LanguageModelNet::State> ring_;
  std::size_t ring_first_ = 0, ring_held_ = 0;
  LanguageModelNet::State& snapshot(std::size_t k) {
    return ring_[(ring_first_ + k) % ring_.size()];
  }
  void push_snapshot();
  void step(std::int64_t token);
  void set_logits(const Var<float>& top_hidden);
};

}  // namespace tapegrad::train
