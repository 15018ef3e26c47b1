#pragma once
// Optimisers update Parameters in place from their accumulated grads (PyTorch's update rules,
// so a step can be compared with torch.optim one to one), and gradient clipping.
//
// Weight decay, as PyTorch has it: SGD, Adagrad and Adam add weight_decay * p to the gradient
// (an L2 penalty, which Adam then rescales per element like the rest of the gradient); AdamW
// decouples it (Loshchilov & Hutter), shrinking p by lr * weight_decay before the Adam update,
// so every weight decays at the same rate whatever its gradient history.
#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/tape.hpp>

namespace tapegrad::nn {

template <class T>
class Optimizer {
 public:
  explicit Optimizer(std::vector<Parameter<T>*> params, double lr, double weight_decay = 0)
      : params_(std::move(params)), lr_(lr), weight_decay_(weight_decay) {
    if (!(lr > 0) || !std::isfinite(lr))
      throw Error("optimizer: learning rate must be a positive number, got " + std::to_string(lr));
    if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
      throw Error("optimizer: weight decay must be a number >= 0, got " +
                  std::to_string(weight_decay));
  }
  virtual ~Optimizer() = default;
  /// One update from the current grads (which are left as they are).
  virtual void step() = 0;
  void zero_grad() {
    for (Parameter<T>* p : params_) p->zero_grad();
  }
  double lr() const { return lr_; }
  /// The learning rate of the next step(), e.g. from a schedule: a number >= 0. Unlike the
  /// starting rate it may be 0: a schedule decaying to a floor of 0 reaches it (a cosine's
  /// last step over a long run rounds to exactly 0), and that step must not fail.
  void set_lr(double lr) {
    if (!(lr >= 0) || !std::isfinite(lr))
      throw Error("optimizer: learning rate must be a number >= 0, got " + std::to_string(lr));
    lr_ = lr;
  }
  double weight_decay() const { return weight_decay_; }
  /// Updates taken so far.
  std::size_t steps() const { return steps_; }
  /// Named state tensors (moments, accumulators) for checkpoints: restoring them and steps()
  /// makes a resumed run continue exactly.
  virtual std::vector<std::pair<std::string, Tensor<T>*>> state() { return {}; }
  void set_steps(std::size_t n) { steps_ = n; }

 protected:
  // One buffer per parameter, shaped like it and zero, created on first use.
  std::vector<Tensor<T>> zeros_like_params() const {
    std::vector<Tensor<T>> out;
    for (Parameter<T>* p : params_) out.push_back(full<T>(p->value.shape(), T(0)));
    return out;
  }
  std::vector<std::pair<std::string, Tensor<T>*>> named(const std::string& prefix,
                                                        std::vector<Tensor<T>>& buffers) {
    std::vector<std::pair<std::string, Tensor<T>*>> out;
    for (std::size_t i = 0; i < buffers.size(); ++i)
      out.emplace_back(prefix + std::to_string(i), &buffers[i]);
    return out;
  }

  std::vector<Parameter<T>*> params_;
  double lr_;
  double weight_decay_;
  std::size_t steps_ = 0;
};

/// g += weight_decay * p;  buf = momentum * buf + g (buf = g on the first step);  p -= lr * buf
template <class T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Parameter<T>*> params, double lr, double momentum = 0.0,
      double weight_decay = 0.0)
      : Optimizer<T>(std::move(params), lr, weight_decay),
        momentum_(momentum),
        buf_(this->zeros_like_params()) {
    if (!(momentum >= 0 && momentum < 1))
      throw Error("SGD: momentum must be in [0, 1), got " + std::to_string(momentum));
  }
  void step() override {
    const T lr = T(this->lr_), mu = T(momentum_), wd = T(this->weight_decay_);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* b = buf_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        const T d = g[k] + wd * w[k];
        b[k] = mu == T(0) || this->steps_ == 0 ? d : mu * b[k] + d;
        w[k] -= lr * b[k];
      }
    }
    ++this->steps_;
  }
  std::vector<std::pair<std::string, Tensor<T>*>> state() override {
    return this->named("momentum.", buf_);
  }

 private:
  double momentum_;
  std::vector<Tensor<T>> buf_;
};

/// g += weight_decay * p;  sum += g^2;  p -= lr * g / (sqrt(sum) + eps)
template <class T>
class Adagrad : public Optimizer<T> {
 public:
  Adagrad(std::vector<Parameter<T>*> params, double lr, double eps = 1e-10,
          double weight_decay = 0.0)
      : Optimizer<T>(std::move(params), lr, weight_decay),
        eps_(eps),
        sum_(this->zeros_like_params()) {}
  void step() override {
    const T lr = T(this->lr_), eps = T(eps_), wd = T(this->weight_decay_);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* s = sum_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        const T d = g[k] + wd * w[k];
        s[k] += d * d;
        w[k] -= lr * d / (std::sqrt(s[k]) + eps);
      }
    }
    ++this->steps_;
  }
  std::vector<std::pair<std::string, Tensor<T>*>> state() override {
    return this->named("sum.", sum_);
  }

 private:
  double eps_;
  std::vector<Tensor<T>> sum_;
};

/// Kingma & Ba, with weight decay as an L2 term (g += weight_decay * p):
/// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) +
/// eps)
template <class T>
class Adam : public Optimizer<T> {
 public:
  Adam(std::vector<Parameter<T>*> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8, double weight_decay = 0.0)
      : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, false) {}
  void step() override {
    const double t = double(this->steps_ + 1);
    const T b1 = T(beta1_), b2 = T(beta2_), eps = T(eps_);
    const T step_size = T(this->lr_ / (1 - std::pow(beta1_, t)));
    const T v_scale = T(1 / std::sqrt(1 - std::pow(beta2_, t)));
    // Coupled: the decay joins the gradient. Decoupled (AdamW): p shrinks by lr * weight_decay.
    const T l2 = decoupled_ ? T(0) : T(this->weight_decay_);
    const T shrink = decoupled_ ? T(1 - this->lr_ * this->weight_decay_) : T(1);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* m = m_[i].data();
      T* v = v_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        const T d = g[k] + l2 * w[k];
        w[k] *= shrink;
        m[k] = b1 * m[k] + (T(1) - b1) * d;
        v[k] = b2 * v[k] + (T(1) - b2) * d * d;
        w[k] -= step_size * m[k] / (std::sqrt(v[k]) * v_scale + eps);
      }
    }
    ++this->steps_;
  }
  std::vector<std::pair<std::string, Tensor<T>*>> state() override {
    auto out = this->named("m.", m_);
    for (auto& e : this->named("v.", v_)) out.push_back(e);
    return out;
  }

 protected:
  Adam(std::vector<Parameter<T>*> params, double lr, double beta1, double beta2, double eps,
       double weight_decay, bool decoupled)
      : Optimizer<T>(std::move(params), lr, weight_decay),
        beta1_(beta1),
        beta2_(beta2),
        eps_(eps),
        m_(this->zeros_like_params()),
        v_(this->zeros_like_params()),
        decoupled_(decoupled) {
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw Error("Adam: betas must be in [0, 1), got " + std::to_string(beta1) + ", " +
                  std::to_string(beta2));
  }

 private:
  double beta1_, beta2_, eps_;
  std::vector<Tensor<T>> m_, v_;
  bool decoupled_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW, whose default
/// weight decay 0.01 this shares): p *= 1 - lr * weight_decay, then Adam's update without it.
template <class T>
class AdamW : public Adam<T> {
 public:
  AdamW(std::vector<Parameter<T>*> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0.01)
      : Adam<T>(std::move(params), lr, beta1, beta2, eps, weight_decay, true) {}
};

/// Scales all grads together so that their joint L2 norm is at most max_norm (when it exceeds it:
/// g *= max_norm / (norm + 1e-6), as PyTorch does). Returns the norm before clipping.
template <class T>
double clip_grad_norm(const std::vector<Parameter<T>*>& params, double max_norm) {
  if (!(max_norm > 0))
    throw Error("clip_grad_norm: max_norm must be positive, got " + std::to_string(max_norm));
  double sq = 0;
  for (Parameter<T>* p : params)
    for (T g : p->grad) sq += double(g) * double(g);
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    const T scale = T(max_norm / (norm + 1e-6));
    for (Parameter<T>* p : params) p->grad *= scale;
  }
  return norm;
}

/// Clamps every gradient element to [-clip, clip].
template <class T>
void clip_grad_value(const std::vector<Parameter<T>*>& params, double clip) {
  if (!(clip > 0))
    throw Error("clip_grad_value: clip must be positive, got " + std::to_string(clip));
  for (Parameter<T>* p : params)
    for (T& g : p->grad) g = std::min(std::max(g, T(-clip)), T(clip));
}

}  // namespace tapegrad::nn
