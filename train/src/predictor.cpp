#include "tapegrad/train/predictor.hpp"

#include <algorithm>
#include <cmath>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

Predictor::Predictor(const LanguageModelNet& net, std::size_t history)
    : net_(net), history_(history), step_(1), state_(net.zero_state(1)) {
  if (history_ == 0) throw Error("Predictor: history must be at least 1 token, got 0");
}

namespace {

// dst = src tensor by tensor: equal shapes, so each copy reuses dst's memory.
void copy_state(const LanguageModelNet::State& src, LanguageModelNet::State& dst) {
  for (std::size_t l = 0; l < src.h.size(); ++l) dst.h[l] = src.h[l];
  for (std::size_t l = 0; l < src.c.size(); ++l) dst.c[l] = src.c[l];
}

}  // namespace

void Predictor::step(std::int64_t token) {
  if (token < 0 || std::size_t(token) >= net_.vocabulary_size)
    throw Error("Predictor: token " + std::to_string(token) + " is outside the vocabulary of " +
                std::to_string(net_.vocabulary_size));
  NoGradGuard no_grad;  // reads the model only: other threads may be running it too
  tape_.clear();
  step_[0] = token;
  set_logits(net_.step(tape_, step_, state_));
  tokens_.push_back(token);
  push_snapshot();
}

void Predictor::push_snapshot() {
  // One more than the history: the state before the oldest token that back() restores.
  const std::size_t capacity = history_ + 1;
  if (ring_held_ < ring_.size()) {  // a free slot, made before: overwrite its tensors
    copy_state(state_, snapshot(ring_held_));
    ++ring_held_;
  } else if (ring_.size() < capacity) {  // still warming up (and never wrapped: first is 0)
    ring_.push_back(state_);
    ++ring_held_;
  } else {  // full: the newest replaces the oldest
    copy_state(state_, ring_[ring_first_]);
    ring_first_ = (ring_first_ + 1) % ring_.size();
  }
}

void Predictor::set_logits(const Var<float>& top_hidden) {
  logits_f_ = net_.logits(top_hidden).value();  // same shape each time: the memory is reused
  logits_stale_ = true;                         // logits() converts them to double when asked
}

void Predictor::feed(std::int64_t token) { step(token); }

void Predictor::feed(const Indices& tokens) {
  for (std::int64_t t : tokens) step(t);
}

void Predictor::back(std::size_t n) {
  if (n > tokens_.size())
    throw Error("Predictor::back: " + std::to_string(n) + " tokens back, but only " +
                std::to_string(tokens_.size()) + " were read");
  if (n == 0) return;
  const std::size_t keep = tokens_.size() - n;
  if (keep == 0) {
    reset();
  } else if (n < ring_held_) {  // the snapshot after token keep - 1 is still held
    ring_held_ -= n;
    copy_state(snapshot(ring_held_ - 1), state_);
    NoGradGuard no_grad;
    back_tape_.clear();
    set_logits(back_tape_.constant(state_.h.back()));
    tokens_.resize(keep);
  } else {
    // Beyond the history: read the kept tokens again, one step each as they were first read,
    // which gives the same numbers.
    reread_.assign(tokens_.begin(), tokens_.begin() + std::ptrdiff_t(keep));
    reset();
    feed(reread_);
  }
}

void Predictor::reset() {
  for (Tensor<float>& h : state_.h) h.fill(0.0f);
  for (Tensor<float>& c : state_.c) c.fill(0.0f);
  logits_.clear();
  logits_stale_ = false;
  tokens_.clear();
  ring_first_ = ring_held_ = 0;  // the slots stay, free, for the next tokens
}

const std::vector<double>& Predictor::logits() const {
  if (tokens_.empty())
    throw Error("Predictor: no token read yet, so there is no next-token distribution");
  if (logits_stale_) {
    logits_.assign(logits_f_.begin(), logits_f_.end());
    logits_stale_ = false;
  }
  return logits_;
}

std::vector<double> Predictor::probabilities(double temperature) const {
  if (!(temperature > 0))
    throw ValueError("{temperature} must be > 0 for probabilities, got " +
                     std::to_string(temperature));
  return train::probabilities(logits(), temperature);
}

std::vector<std::pair<std::int64_t, double>> Predictor::top(std::size_t k) const {
  std::vector<std::pair<std::int64_t, double>> out;
  top(k, out);
  return out;
}

void Predictor::top(std::size_t k, std::vector<std::pair<std::int64_t, double>>& out) const {
  // The k largest logits in one pass (a keyboard asks for a few of thousands), then their
  // probabilities: softmax computed as probabilities() does, for these k only.
  // On the float logits themselves: the same values logits() gives in double, without
  // converting all of them.
  if (tokens_.empty()) logits();  // the Error
  const float* l = logits_f_.data();
  const std::size_t size = logits_f_.size();
  const bool excluding = never_suggested_ >= 0 && std::size_t(never_suggested_) < size;
  k = std::min(k, size - std::size_t(excluding));
  out.clear();
  out.reserve(k + 1);
  const auto before = [&](std::int64_t a, std::int64_t b) {  // larger first, ties by index
    return l[std::size_t(a)] > l[std::size_t(b)] ||
           (l[std::size_t(a)] == l[std::size_t(b)] && a < b);
  };
  float largest_logit = l[0];  // over every token: the shift of the normaliser's exp
  for (std::size_t i = 0; i < size && k > 0; ++i) {
    const std::int64_t c = std::int64_t(i);
    largest_logit = std::max(largest_logit, l[i]);
    if (c == never_suggested_) continue;
    if (out.size() == k && !before(c, out.back().first)) continue;
    auto at = out.end();
    while (at != out.begin() && before(c, (at - 1)->first)) --at;
    out.insert(at, {c, 0.0});
    if (out.size() > k) out.pop_back();
  }
  const double largest = double(largest_logit);
  // exp assigned to a buffer runs vectorised (xsimd); a lazy xt::sum of it would not. The sum
  // keeps four partial sums so that the additions do not wait on each other.
  xt::noalias(exp_buffer_) = xt::exp(logits_f_ - float(largest));  // no temporary: reused
  const float* e = exp_buffer_.data();
  const std::size_t n = exp_buffer_.size();
  double partial[4] = {0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (std::size_t q = 0; q < 4; ++q) partial[q] += double(e[j + q]);
  for (; j < n; ++j) partial[0] += double(e[j]);
  const double sum = (partial[0] + partial[1]) + (partial[2] + partial[3]);
  for (auto& [i, p] : out) p = std::exp(double(l[std::size_t(i)]) - largest) / sum;
}

}  // namespace tapegrad::train
