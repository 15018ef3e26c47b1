#pragma once
// Optimisers update Parameters in place from their accumulated grads (PyTorch's update rules,
// so a step can be compared with torch.optim one to one), and gradient clipping.
#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/tape.hpp>

namespace tapegrad::nn {

template <class T>
class Optimizer {
 public:
  explicit Optimizer(std::vector<Parameter<T>*> params, double lr)
      : params_(std::move(params)), lr_(lr) {
    if (!(lr > 0) || !std::isfinite(lr))
      throw Error("optimizer: learning rate must be a positive number, got " + std::to_string(lr));
  }
  virtual ~Optimizer() = default;
  /// One update from the current grads (which are left as they are).
  virtual void step() = 0;
  void zero_grad() {
    for (Parameter<T>* p : params_) p->zero_grad();
  }
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
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
  std::size_t steps_ = 0;
};

/// buf = momentum * buf + g (buf = g on the first step);  p -= lr * buf
template <class T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Parameter<T>*> params, double lr, double momentum = 0.0)
      : Optimizer<T>(std::move(params), lr), momentum_(momentum), buf_(this->zeros_like_params()) {
    if (!(momentum >= 0 && momentum < 1))
      throw Error("SGD: momentum must be in [0, 1), got " + std::to_string(momentum));
  }
  void step() override {
    const T lr = T(this->lr_), mu = T(momentum_);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* b = buf_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        b[k] = mu == T(0) || this->steps_ == 0 ? g[k] : mu * b[k] + g[k];
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

/// sum += g^2;  p -= lr * g / (sqrt(sum) + eps)
template <class T>
class Adagrad : public Optimizer<T> {
 public:
  Adagrad(std::vector<Parameter<T>*> params, double lr, double eps = 1e-10)
      : Optimizer<T>(std::move(params), lr), eps_(eps), sum_(this->zeros_like_params()) {}
  void step() override {
    const T lr = T(this->lr_), eps = T(eps_);
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* s = sum_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        s[k] += g[k] * g[k];
        w[k] -= lr * g[k] / (std::sqrt(s[k]) + eps);
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

/// Kingma & Ba: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
template <class T>
class Adam : public Optimizer<T> {
 public:
  Adam(std::vector<Parameter<T>*> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8)
      : Optimizer<T>(std::move(params), lr),
        beta1_(beta1),
        beta2_(beta2),
        eps_(eps),
        m_(this->zeros_like_params()),
        v_(this->zeros_like_params()) {
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      throw Error("Adam: betas must be in [0, 1), got " + std::to_string(beta1) + ", " +
                  std::to_string(beta2));
  }
  void step() override {
    const double t = double(this->steps_ + 1);
    const T b1 = T(beta1_), b2 = T(beta2_), eps = T(eps_);
    const T step_size = T(this->lr_ / (1 - std::pow(beta1_, t)));
    const T v_scale = T(1 / std::sqrt(1 - std::pow(beta2_, t)));
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      Parameter<T>& p = *this->params_[i];
      T* w = p.value.data();
      const T* g = p.grad.data();
      T* m = m_[i].data();
      T* v = v_[i].data();
      for (std::size_t k = 0, n = p.value.size(); k < n; ++k) {
        m[k] = b1 * m[k] + (T(1) - b1) * g[k];
        v[k] = b2 * v[k] + (T(1) - b2) * g[k] * g[k];
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

 private:
  double beta1_, beta2_, eps_;
  std::vector<Tensor<T>> m_, v_;
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
