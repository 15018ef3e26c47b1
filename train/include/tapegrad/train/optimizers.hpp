#pragma once
// The optimisers a training run can name: one list of names (for a hyper-parameter schema's
// choice) and one factory, so that a name is spelled in one place.
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/nn/optim.hpp>
#include <tapegrad/train/schema.hpp>

namespace tapegrad::train {

/// "adam", "adamw", "adagrad", "sgd": the names make_optimizer accepts.
inline const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names{"adam", "adamw", "adagrad", "sgd"};
  return names;
}

/// How many tensors the size of the parameters the optimiser called `name` keeps (Adam, AdamW: m
/// and v; Adagrad: the sum of squares; SGD: the momentum buffer), for memory estimates made before
/// it exists. An unknown name is a ValueError as for make_optimizer.
inline std::size_t optimizer_state_slots(const std::string& name) {
  if (name == "adam" || name == "adamw") return 2;
  if (name == "adagrad" || name == "sgd") return 1;
  throw ValueError("{optimizer}: expected one of " + one_of_text(optimizer_names()) + ", got '" +
                   name + "'");
}

/// The optimiser called `name` over `params` with learning rate `lr` and weight decay
/// `weight_decay` (decoupled for adamw, an L2 term in the gradient for the others, as in
/// PyTorch; nn/optim.hpp), PyTorch's defaults for everything else. An unknown name is a
/// ValueError naming {optimizer} and the accepted names.
template <class T>
std::unique_ptr<nn::Optimizer<T>> make_optimizer(const std::string& name,
                                                 std::vector<Parameter<T>*> params, double lr,
                                                 double weight_decay = 0) {
  if (name == "adam")
    return std::make_unique<nn::Adam<T>>(std::move(params), lr, 0.9, 0.999, 1e-8, weight_decay);
  if (name == "adamw")
    return std::make_unique<nn::AdamW<T>>(std::move(params), lr, 0.9, 0.999, 1e-8, weight_decay);
  if (name == "adagrad")
    return std::make_unique<nn::Adagrad<T>>(std::move(params), lr, 1e-10, weight_decay);
  if (name == "sgd") return std::make_unique<nn::SGD<T>>(std::move(params), lr, 0.0, weight_decay);
  throw ValueError("{optimizer}: expected one of " + one_of_text(optimizer_names()) + ", got '" +
                   name + "'");
}

}  // namespace tapegrad::train
