#pragma once
// Module: a layer or model that owns named Parameters and holds named sub-modules.
//
// parameters() lists a module's own parameters in registration order, then each sub-module's
// (recursively, in registration order), named "sub.name". That order is stable: optimisers
// and checkpoints rely on it. generators() does the same for the random generators a module
// draws from while it trains (dropout masks), whose states a checkpoint must keep too.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tape.hpp>

#include "tapegrad/nn/init.hpp"

namespace tapegrad::nn {

template <class T>
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;  // sub-modules are held by address
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  /// ("name", parameter) for every parameter of this module and its sub-modules.
  std::vector<std::pair<std::string, Parameter<T>*>> named_parameters() {
    std::vector<std::pair<std::string, Parameter<T>*>> out;
    collect("", out);
    return out;
  }
  std::vector<Parameter<T>*> parameters() {
    std::vector<Parameter<T>*> out;
    for (auto& [name, p] : named_parameters()) out.push_back(p);
    return out;
  }
  std::size_t parameter_count() {
    std::size_t n = 0;
    for (Parameter<T>* p : parameters()) n += p->value.size();
    return n;
  }
  void zero_grad() {
    for (Parameter<T>* p : parameters()) p->zero_grad();
  }
  /// ("name", generator) for every random generator of this module and its sub-modules, named
  /// like parameters ("lstm.dropout.rng"). Saving and restoring their states (Rng::state) is
  /// what makes a resumed run with dropout draw the masks an uninterrupted run would.
  std::vector<std::pair<std::string, Rng*>> named_generators() {
    std::vector<std::pair<std::string, Rng*>> out;
    collect_generators("", out);
    return out;
  }
  /// Training or evaluation mode (for layers that behave differently, e.g. dropout).
  void train(bool on = true) {
    training_ = on;
    for (auto& [name, m] : children_) m->train(on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }
  /// The process of a data-parallel run this copy of the module trains in (0 alone), for this
  /// module and its sub-modules. The processes draw the same numbers from their generators, so
  /// that the generators' states agree and rank 0's checkpoint is every process's; but each
  /// trains on other samples, so a layer that draws per-sample randomness (dropout masks) mixes
  /// the stream into what it draws, and every process gets masks of its own.
  void set_random_stream(std::uint64_t stream) {
    random_stream_ = stream;
    for (auto& [name, m] : children_) m->set_random_stream(stream);
  }
  std::uint64_t random_stream() const { return random_stream_; }

 protected:
  /// Creates a parameter owned by this module; the reference stays valid for its lifetime.
  Parameter<T>& register_parameter(const std::string& name, Tensor<T> value) {
    params_.emplace_back(name, std::make_unique<Parameter<T>>(std::move(value), name));
    return *params_.back().second;
  }
  /// Registers a random generator the module owns (a member of the derived class).
  Rng& register_generator(const std::string& name, Rng& rng) {
    generators_.emplace_back(name, &rng);
    return rng;
  }
  /// Registers a sub-module (owned by the caller, usually a member of the derived class).
  template <class M>
  M& register_module(const std::string& name, M& module) {
    children_.emplace_back(name, &module);
    return module;
  }

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Parameter<T>*>>& out) {
    for (auto& [name, p] : params_) out.emplace_back(prefix + name, p.get());
    for (auto& [name, m] : children_) m->collect(prefix + name + ".", out);
  }
  void collect_generators(const std::string& prefix,
                          std::vector<std::pair<std::string, Rng*>>& out) {
    for (auto& [name, g] : generators_) out.emplace_back(prefix + name, g);
    for (auto& [name, m] : children_) m->collect_generators(prefix + name + ".", out);
  }

  std::vector<std::pair<std::string, std::unique_ptr<Parameter<T>>>> params_;
  std::vector<std::pair<std::string, Module<T>*>> children_;
  std::vector<std::pair<std::string, Rng*>> generators_;
  bool training_ = true;
  std::uint64_t random_stream_ = 0;
};

/// Evaluation mode for a scope: the module (and its sub-modules) is put in eval() and given
/// back the mode it had, also when the scope is left by an exception.
template <class T>
class EvalMode {
 public:
  explicit EvalMode(Module<T>& module) : module_(module), was_training_(module.training()) {
    module_.eval();
  }
  ~EvalMode() { module_.train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  Module<T>& module_;
  bool was_training_;
};

}  // namespace tapegrad::nn
