// The optimisers against torch.optim: tests/fixtures/optim_fixtures.json (make_optim_fixtures.py)
// holds two parameters, the gradient fed at each of 5 steps and PyTorch's parameters after each,
// for AdamW (decoupled weight decay, two sets of betas) and for Adam, SGD (with and without
// momentum) and Adagrad with weight decay as an L2 term. Replayed in double (1e-12, relative to
// max(1, |expected|)) and in float (1e-5).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <tapegrad/nn/optim.hpp>

#include "support/fixtures.hpp"

using namespace tapegrad;
using nlohmann::json;

namespace {

const json& fixtures() { return testsupport::fixture_file("optim_fixtures"); }

template <class T>
Tensor<T> to_tensor(const json& j) {
  return testsupport::fixture_tensor<T>(j);
}

template <class T>
std::unique_ptr<nn::Optimizer<T>> make(const json& c, std::vector<Parameter<T>*> params) {
  const std::string name = c.at("optimizer").get<std::string>();
  const json& o = c.at("options");
  const double lr = o.at("lr").get<double>(), wd = o.value("weight_decay", 0.0);
  if (name == "adam" || name == "adamw") {
    const double b1 = o.at("betas").at(0).get<double>(), b2 = o.at("betas").at(1).get<double>();
    const double eps = o.at("eps").get<double>();
    if (name == "adamw") return std::make_unique<nn::AdamW<T>>(params, lr, b1, b2, eps, wd);
    return std::make_unique<nn::Adam<T>>(params, lr, b1, b2, eps, wd);
  }
  if (name == "sgd") return std::make_unique<nn::SGD<T>>(params, lr, o.value("momentum", 0.0), wd);
  if (name == "adagrad")
    return std::make_unique<nn::Adagrad<T>>(params, lr, o.value("eps", 1e-10), wd);
  throw std::runtime_error("optim_fixtures.json: unknown optimizer '" + name + "'");
}

template <class T>
void replay(const json& c, double tol) {
  std::vector<std::unique_ptr<Parameter<T>>> owned;
  std::vector<Parameter<T>*> params;
  for (const json& p : c.at("params")) {
    owned.push_back(std::make_unique<Parameter<T>>(to_tensor<T>(p), "p"));
    params.push_back(owned.back().get());
  }
  auto optimizer = make<T>(c, params);
  const json& grads = c.at("grads");
  const json& after = c.at("after");
  BOOST_TEST_REQUIRE(grads.size() == after.size());
  for (std::size_t step = 0; step < grads.size(); ++step) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i]->grad = to_tensor<T>(grads[step][i]);
    optimizer->step();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor<double> expected = to_tensor<double>(after[step][i]);
      double worst = 0;
      for (std::size_t k = 0; k < expected.size(); ++k)
        worst = std::max(worst, std::fabs(double(params[i]->value.data()[k]) - expected.data()[k]) /
                                    std::max(1.0, std::fabs(expected.data()[k])));
      BOOST_TEST(worst <= tol, c.at("name").get<std::string>()
                                   << " step " << step + 1 << " parameter " << i << ": worst error "
                                   << worst);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optim_fixtures)

BOOST_AUTO_TEST_CASE(every_optimizer_case_matches_torch_step_for_step) {
  const json& cases = fixtures().at("optimizers");
  BOOST_TEST_REQUIRE(cases.size() >= 6u);
  bool saw_adamw = false;
  for (const json& c : cases) {
    saw_adamw = saw_adamw || c.at("optimizer") == "adamw";
    BOOST_TEST_CONTEXT(c.at("name").get<std::string>()) {
      replay<double>(c, 1e-12);
      replay<float>(c, 1e-5);
    }
  }
  BOOST_TEST(saw_adamw);
}

BOOST_AUTO_TEST_CASE(adamw_decays_a_weight_whose_gradient_is_zero_and_adam_l2_does_not_alike) {
  // With g = 0 AdamW still shrinks p by lr * wd per step (decoupled), while Adam's L2 term
  // turns into a normalised step of size ~lr: the two rules differ exactly where it matters.
  Parameter<double> a(Tensor<double>{2.0}, "a"), b(Tensor<double>{2.0}, "b");
  nn::AdamW<double> adamw({&a}, 0.1, 0.9, 0.999, 1e-8, 0.5);
  nn::Adam<double> adam({&b}, 0.1, 0.9, 0.999, 1e-8, 0.5);
  a.grad = Tensor<double>{0.0};
  b.grad = Tensor<double>{0.0};
  adamw.step();
  adam.step();
  BOOST_TEST(a.value(0) == 2.0 * (1 - 0.1 * 0.5));         // m = v = 0: no Adam step at all
  BOOST_TEST(std::fabs(b.value(0) - (2.0 - 0.1)) < 1e-6);  // m/sqrt(v) = 1 on the first step
}

BOOST_AUTO_TEST_CASE(a_negative_or_non_finite_weight_decay_is_refused) {
  Parameter<double> p(Tensor<double>{1.0}, "p");
  for (double wd : {-0.1, std::nan(""), HUGE_VAL})
    BOOST_CHECK_EXCEPTION(
        nn::AdamW<double>({&p}, 0.1, 0.9, 0.999, 1e-8, wd), Error, [](const Error& e) {
          return std::string(e.what()).find("weight decay must be a number >= 0") !=
                 std::string::npos;
        });
}

BOOST_AUTO_TEST_SUITE_END()
