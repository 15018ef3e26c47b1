#include "tapegrad/train/predictor.hpp"

#include <algorithm>
#include <cmath>

#include <xtensor/xmath.hpp>

#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

Predictor::Predictor(const LanguageModelNet& net, std::size_t history)
    : net_(net), history_(history), step_(1, Indices(1)), state_(net.zero_state(1)) {
  if (history_ == 0) throw Error("Predictor: history must be at least 1 token, got 0");
}

void Predictor::step(std::int64_t token) {
  if (token < 0 || std::size_t(token) >= net_.vocabulary_size)
    throw Error("Predictor: token " + std::to_string(token) + " is outside the vocabulary of " +
                std::to_string(net_.vocabulary_size));
  NoGradGuard no_grad;  // reads the model only: other threads may be running it too
  tape_.clear();
  step_[0][0] = token;
  const std::vector<Var<float>> hidden = net_.recurrent(tape_, step_, state_);
  set_logits(hidden.back());
  tokens_.push_back(token);
  snapshots_.push_back(state_);
  // One more than the history: the state before the oldest token that back() restores.
  if (snapshots_.size() > history_ + 1) snapshots_.pop_front();
}

void Predictor::set_logits(const Var<float>& top_hidden) {
  const Tensor<float>& v = net_.logits(top_hidden).value();
  logits_f_ = v;
  logits_stale_ = true;  // logits() converts them to double when asked
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
  } else if (n < snapshots_.size()) {  // the snapshot after token keep - 1 is still held
    snapshots_.erase(snapshots_.end() - std::ptrdiff_t(n), snapshots_.end());
    state_ = snapshots_.back();
    NoGradGuard no_grad;
    tape_.clear();
    set_logits(tape_.constant(state_.h.back()));
    tokens_.resize(keep);
  } else {
    // Beyond the history: read the kept tokens again, one step each as they were first read,
    // which gives the same numbers.
    const Indices kept(tokens_.begin(), tokens_.begin() + std::ptrdiff_t(keep));
    reset();
    feed(kept);
  }
}

void Predictor::reset() {
  state_ = net_.zero_state(1);
  logits_.clear();
  logits_stale_ = false;
  tokens_.clear();
  snapshots_.clear();
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
  // The k largest logits in one pass (a keyboard asks for a few of thousands), then their
  // probabilities: softmax computed as probabilities() does, for these k only.
  // On the float logits themselves: the same values logits() gives in double, without
  // converting all of them.
  if (tokens_.empty()) logits();  // the Error
  const float* l = logits_f_.data();
  const std::size_t size = logits_f_.size();
  k = std::min(k, size);
  std::vector<std::pair<std::int64_t, double>> out;
  out.reserve(k + 1);
  const auto before = [&](std::int64_t a, std::int64_t b) {  // larger first, ties by index
    return l[std::size_t(a)] > l[std::size_t(b)] ||
           (l[std::size_t(a)] == l[std::size_t(b)] && a < b);
  };
  for (std::size_t i = 0; i < size && k > 0; ++i) {
    const std::int64_t c = std::int64_t(i);
    if (out.size() == k && !before(c, out.back().first)) continue;
    auto at = out.end();
    while (at != out.begin() && before(c, (at - 1)->first)) --at;
    out.insert(at, {c, 0.0});
    if (out.size() > k) out.pop_back();
  }
  const double largest = out.empty() ? 0.0 : double(l[std::size_t(out.front().first)]);
  // exp assigned to a buffer runs vectorised (xsimd); a lazy xt::sum of it would not. The sum
  // keeps four partial sums so that the additions do not wait on each other.
  exp_buffer_ = xt::exp(logits_f_ - float(largest));
  const float* e = exp_buffer_.data();
  const std::size_t n = exp_buffer_.size();
  double partial[4] = {0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (std::size_t q = 0; q < 4; ++q) partial[q] += double(e[j + q]);
  for (; j < n; ++j) partial[0] += double(e[j]);
  const double sum = (partial[0] + partial[1]) + (partial[2] + partial[3]);
  for (auto& [i, p] : out) p = std::exp(double(l[std::size_t(i)]) - largest) / sum;
  return out;
}

}  // namespace tapegrad::train
