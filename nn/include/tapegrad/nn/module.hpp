#pragma once
// Module: a layer or model that owns named Parameters and holds named sub-modules.
//
// parameters() lists a module's own parameters in registration order, then each sub-module's
// (recursively, in registration order), named "sub.name". That order is stable: optimisers
// and checkpoints rely on it. generators() does the same for the random generators a module
// draws from while it trains (dropout masks), whose states a checkpoint must keep too.
//
// A parameter can also carry the name PyTorch's equivalent module gives it (a stack of LSTM
// layers calls "layer1.weight_ih" "weight_ih_l1"), so that state_dict() and load_state_dict()
// speak both; tapegrad/nn/state_dict.hpp reads and writes them as numpy.savez files.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tape.hpp>

#include "tapegrad/nn/init.hpp"

namespace tapegrad::nn {

/// Which names a state dict uses: tapegrad's ("rnn.layer0.weight_ih", as checkpoints store
/// them) or those of the equivalent PyTorch model ("rnn.weight_ih_l0").
enum class ParameterNames { tapegrad, pytorch };

/// Parameter values by name: what Module::state_dict() returns and load_state_dict() takes.
template <class T>
using StateDict = std::map<std::string, Tensor<T>>;

template <class T>
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;  // sub-modules are held by address
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  /// ("name", parameter) for every parameter of this module and its sub-modules, named as
  /// tapegrad names them or as the equivalent PyTorch model would (the order is the same).
  std::vector<std::pair<std::string, Parameter<T>*>> named_parameters(
      ParameterNames names = ParameterNames::tapegrad) {
    std::vector<Named> all;
    collect(all);
    std::vector<std::pair<std::string, Parameter<T>*>> out;
    out.reserve(all.size());
    for (Named& n : all)
      out.emplace_back(std::move(names == ParameterNames::tapegrad ? n.ours : n.theirs), n.p);
    return out;
  }

  /// A copy of every parameter's value by name (torch's module.state_dict()).
  StateDict<T> state_dict(ParameterNames names = ParameterNames::tapegrad) {
    StateDict<T> out;
    for (auto& [name, p] : named_parameters(names)) out.emplace(name, Tensor<T>(p->value));
    return out;
  }

  /// Sets every parameter from `dict`, which names each one either as tapegrad does or as
  /// PyTorch does (mixing the two is fine; one parameter under both names is not). The dict
  /// must hold exactly the model's parameters with their shapes; otherwise an Error lists every
  /// problem at once (missing names, unexpected names, wrong shapes with the expected and the
  /// given one) and no parameter is changed.
  void load_state_dict(const StateDict<T>& dict) {
    std::vector<Named> all;
    collect(all);
    std::vector<std::pair<Parameter<T>*, const Tensor<T>*>> plan;
    std::vector<std::string> problems;
    std::map<std::string, bool> used;
    for (const Named& n : all) {
      const auto ours = dict.find(n.ours), theirs = dict.find(n.theirs);
      const std::string alias = n.ours == n.theirs ? "" : " (PyTorch: '" + n.theirs + "')";
      if (ours == dict.end() && theirs == dict.end()) {
        problems.push_back("missing '" + n.ours + "'" + alias);
        continue;
      }
      if (ours != dict.end()) used[n.ours] = true;
      if (theirs != dict.end()) used[n.theirs] = true;
      if (ours != dict.end() && theirs != dict.end() && n.ours != n.theirs) {
        problems.push_back("'" + n.ours + "' given twice, also as '" + n.theirs + "'");
        continue;
      }
      const auto& [key, given] = ours != dict.end() ? *ours : *theirs;
      if (given.shape() != n.p->value.shape()) {
        problems.push_back("'" + key + "': expected shape " + shape_str(n.p->value.shape()) +
                           ", given " + shape_str(given.shape()));
        continue;
      }
      plan.emplace_back(n.p, &given);
    }
    for (const auto& [key, tensor] : dict)
      if (!used.count(key)) problems.push_back("unexpected '" + key + "'");
    if (!problems.empty()) {
      std::string text = "load_state_dict: the model's " + std::to_string(all.size()) +
                         " parameters and the " + std::to_string(dict.size()) +
                         " given tensors do not match (" + std::to_string(problems.size()) +
                         (problems.size() == 1 ? " problem" : " problems") +
                         "; nothing was loaded):";
      for (const std::string& p : problems) text += "\n  " + p;
      throw Error(text);
    }
    // Every shape matched: copying cannot fail now, so the load is all or nothing.
    for (auto& [p, t] : plan) std::copy(t->begin(), t->end(), p->value.begin());
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
  /// Declares the name PyTorch's equivalent module gives the parameter this module reaches as
  /// `name`: one of its own ("weight") or a sub-module's ("layer0.weight_ih" -> "weight_ih_l0").
  /// Parameters without one keep their own name, prefixed as PyTorch prefixes sub-modules.
  void set_pytorch_name(const std::string& name, std::string pytorch_name) {
    std::vector<Named> all;
    collect(all);
    bool known = false;
    for (const Named& n : all) known = known || n.ours == name;
    if (!known) throw Error("set_pytorch_name: this module has no parameter '" + name + "'");
    pytorch_names_[name] = std::move(pytorch_name);
  }
  /// Registers a random generator the module owns (a member of the derived class).
  Rng& register_generator(const std::string& name, Rng& rng) {
    generators_.emplace_back(name, &rng);
    return rng;
  }
  /// Registers a sub-module (owned by the caller, usually a member of the derived class).
  /// Its parameters take their path as name ("head.weight"; the outer module registering this
  /// one prefixes them again), so that an error about one, such as a value of the wrong shape,
  /// says which it is.
  template <class M>
  M& register_module(const std::string& name, M& module) {
    children_.emplace_back(name, &module);
    for (auto& [path, p] : module.named_parameters()) p->name = name + "." + path;
    return module;
  }

 private:
  struct Named {
    std::string ours, theirs;  // tapegrad's name and PyTorch's, relative to this module
    Parameter<T>* p;
  };
  // A sub-module's names get its name as prefix; then this module's PyTorch names replace the
  // prefixed PyTorch name wherever it declared one (so an outer module has the last word).
  void collect(std::vector<Named>& out) {
    for (auto& [name, p] : params_) out.push_back({name, pytorch_name(name, name), p.get()});
    for (auto& [name, m] : children_) {
      const std::size_t first = out.size();
      m->collect(out);
      for (std::size_t i = first; i < out.size(); ++i) {
        out[i].ours = name + "." + out[i].ours;
        out[i].theirs = pytorch_name(out[i].ours, name + "." + out[i].theirs);
      }
    }
  }
  std::string pytorch_name(const std::string& ours, std::string otherwise) const {
    const auto it = pytorch_names_.find(ours);
    return it == pytorch_names_.end() ? std::move(otherwise) : it->second;
  }
  void collect_generators(const std::string& prefix,
                          std::vector<std::pair<std::string, Rng*>>& out) {
    for (auto& [name, g] : generators_) out.emplace_back(prefix + name, g);
    for (auto& [name, m] : children_) m->collect_generators(prefix + name + ".", out);
  }

  std::vector<std::pair<std::string, std::unique_ptr<Parameter<T>>>> params_;
  std::vector<std::pair<std::string, Module<T>*>> children_;
  std::vector<std::pair<std::string, Rng*>> generators_;
  std::map<std::string, std::string> pytorch_names_;  // tapegrad name -> PyTorch name
  bool training_ = true;
  std::uint64_t random_stream_ = 0;
};

namespace detail {
// A layer's bias (layers keep a null pointer when built without one), or an Error naming the
// layer: every layer's bias() reaches its bias this way.
template <class P>
P& bias_or_throw(P* bias, const std::string& layer) {
  if (!bias)
    throw Error(layer + " has no bias (it was built with bias = false); check has_bias() first");
  return *bias;
}
}  // namespace detail

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
