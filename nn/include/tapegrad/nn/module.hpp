#pragma once
// Module: a layer or model that owns named Parameters and holds named sub-modules.
//
// parameters() lists a module's own parameters in registration order, then each sub-module's
// (recursively, in registration order), named "sub.name". That order is stable: optimisers
// and checkpoints rely on it.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tape.hpp>

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
  /// Training or evaluation mode (for layers that behave differently, e.g. dropout).
  void train(bool on = true) {
    training_ = on;
    for (auto& [name, m] : children_) m->train(on);
  }
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  /// Creates a parameter owned by this module; the reference stays valid for its lifetime.
  Parameter<T>& register_parameter(const std::string& name, Tensor<T> value) {
    params_.emplace_back(name, std::make_unique<Parameter<T>>(std::move(value), name));
    return *params_.back().second;
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

  std::vector<std::pair<std::string, std::unique_ptr<Parameter<T>>>> params_;
  std::vector<std::pair<std::string, Module<T>*>> children_;
  bool training_ = true;
};

}  // namespace tapegrad::nn
