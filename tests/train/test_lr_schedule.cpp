// Learning-rate schedules: the rate of every step against torch.optim.lr_scheduler
// (tests/fixtures/optim_fixtures.json, make_optim_fixtures.py: LinearLR warm-up,
// CosineAnnealingLR, LinearLR chained with CosineAnnealingLR, StepLR, ExponentialLR) for runs
// stopped by steps; what torch has no scheduler for (a delayed step decay, a run stopped by
// time) against values worked out by hand; and errors that name the value.
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <tapegrad/nn/optim.hpp>
#include <tapegrad/train/lr_schedule.hpp>
#include <tapegrad/train/trainer.hpp>
#include <tapegrad/train/value_error.hpp>

#include "support/error_of.hpp"
#include "support/fixtures.hpp"

using namespace tapegrad;
using nlohmann::json;

namespace {

const json& fixtures() { return testsupport::fixture_file("optim_fixtures"); }

train::LRSchedule from_options(const json& o) {
  train::LRSchedule s;
  s.kind = train::LRSchedule::parse(o.at("schedule").get<std::string>());
  s.lr = o.at("lr").get<double>();
  s.lr_min = o.at("lr_min").get<double>();
  s.warmup = o.at("warmup").get<std::size_t>();
  s.decay = o.at("lr_decay").get<double>();
  s.decay_every = o.at("lr_decay_every").get<std::size_t>();
  s.decay_start = o.at("lr_decay_start").get<std::size_t>();
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lr_schedule)

BOOST_AUTO_TEST_CASE(every_schedule_case_matches_torchs_scheduler) {
  const json& cases = fixtures().at("schedules");
  BOOST_TEST_REQUIRE(cases.size() >= 5u);
  for (const json& c : cases) {
    const train::LRSchedule s = from_options(c.at("options"));
    const std::size_t steps = c.at("options").at("steps").get<std::size_t>();
    const json& lrs = c.at("lr");
    BOOST_TEST_REQUIRE(lrs.size() == steps);
    for (std::size_t k = 0; k < steps; ++k) {
      train::Progress p;
      p.step = k;
      p.max_steps = steps;
      const double expected = lrs[k].get<double>();
      BOOST_TEST(std::fabs(s.rate(p) - expected) <= 1e-12 * expected,
                 c.at("name").get<std::string>()
                     << " (" << c.at("torch").get<std::string>() << ") step " << k << ": "
                     << s.rate(p) << " vs torch " << expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(step_decay_waits_for_its_start_and_warm_up_applies_to_every_schedule) {
  train::LRSchedule s;
  s.kind = train::LRSchedule::Kind::step;
  s.lr = 1.0;
  s.decay = 0.5;
  s.decay_every = 10;
  s.decay_start = 30;
  BOOST_TEST(s.rate(0, 0) == 1.0);
  BOOST_TEST(s.rate(39, 0) == 1.0);  // 9 steps after the start: no decay yet
  BOOST_TEST(s.rate(40, 0) == 0.5);  // 10 steps after the start: the first decay
  BOOST_TEST(s.rate(49, 0) == 0.5);
  BOOST_TEST(s.rate(50, 0) == 0.25);
  s.warmup = 4;
  BOOST_TEST(s.rate(0, 0) == 0.25);
  BOOST_TEST(s.rate(3, 0) == 1.0);
}

BOOST_AUTO_TEST_CASE(a_run_stopped_by_time_decays_over_its_training_time) {
  // f = train_seconds / max_seconds, or the step fraction when that is further along.
  train::LRSchedule s;
  s.kind = train::LRSchedule::Kind::cosine;
  s.lr = 0.01;
  s.lr_min = 0.001;
  train::Progress p;
  p.max_seconds = 300;
  p.train_seconds = 150;  // half way: the mean of lr and lr_min
  BOOST_TEST(std::fabs(s.rate(p) - 0.0055) < 1e-15);
  p.train_seconds = 400;  // past the budget (the last step overruns it): the floor
  BOOST_TEST(s.rate(p) == 0.001);
  p.train_seconds = 30;
  p.step = 80;
  p.max_steps = 100;  // 80% by steps, 10% by time: the further one
  BOOST_TEST(train::run_fraction(p) == 0.8);
  train::Progress none;
  BOOST_TEST(train::run_fraction(none) == 0.0);
}

BOOST_AUTO_TEST_CASE(a_schedule_round_trips_through_json_and_refuses_nonsense) {
  train::LRSchedule s;
  s.kind = train::LRSchedule::Kind::step;
  s.lr = 0.002;
  s.warmup = 7;
  s.decay = 0.9;
  s.decay_every = 123;
  s.decay_start = 45;
  BOOST_TEST((train::LRSchedule::from_json(s.to_json()) == s));
  BOOST_TEST(s.describe() == "0.002 x0.9 every 123 steps after step 45, 7 warm-up steps");

  const auto plain = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const train::ValueError& e) {
      return train::ValueError::plain(e.message_template());
    }
    return std::string("<no error>");
  };
  BOOST_TEST(plain([] { train::LRSchedule::parse("linear"); }) ==
             "lr_schedule: expected one of constant, cosine, step, got 'linear'");
  train::LRSchedule bad;
  bad.kind = train::LRSchedule::Kind::cosine;
  bad.lr = 0.01;
  bad.lr_min = 0.01;
  BOOST_TEST(plain([&] { bad.validate(); }) ==
             "lr_min: expected a number in [0, lr) = [0, 0.01), got 0.01");
  bad.kind = train::LRSchedule::Kind::step;
  bad.decay = 1.5;
  BOOST_TEST(plain([&] { bad.validate(); }) == "lr_decay: expected a factor in (0, 1], got 1.5");
  bad.decay = 0.5;
  bad.warmup = 100;
  BOOST_TEST(plain([&] { bad.validate(100); }) ==
             "warmup 100 is not shorter than the run (max_steps 100): the rate would never reach "
             "lr");
  BOOST_TEST(plain([&] { bad.validate(101); }) == "<no error>");
  json j = s.to_json();
  j["schedule"] = "triangle";
  BOOST_TEST(testsupport::error_of([&] { train::LRSchedule::from_json(j); }) ==
             "schedule: unknown schedule 'triangle' (expected constant, cosine, step)");
}

BOOST_AUTO_TEST_CASE(a_cosine_to_zero_over_a_long_run_reaches_zero_and_an_optimizer_takes_it) {
  // (1 + cos(pi * f)) rounds to exactly 0 once (pi * (1 - f))^2 / 2 is below half an ulp of 1:
  // the last step of a 10^9-step run. The optimiser must accept that rate (a step that moves
  // nothing), not stop the run at its last step.
  train::LRSchedule s;
  s.kind = train::LRSchedule::Kind::cosine;
  s.lr = 0.01;
  const std::size_t steps = 1000000000;
  train::Progress p;
  p.step = steps - 1;
  p.max_steps = steps;
  BOOST_TEST(s.rate(p) == 0.0);
  Parameter<float> w(Tensor<float>{1.0f}, "w");
  nn::SGD<float> sgd({&w}, 0.01);
  sgd.set_lr(s.rate(p));
  w.grad = Tensor<float>{5.0f};
  sgd.step();
  BOOST_TEST(w.value(0) == 1.0f);
  BOOST_CHECK_THROW(sgd.set_lr(-1e-3), Error);
  BOOST_CHECK_THROW(sgd.set_lr(std::nan("")), Error);
}

BOOST_AUTO_TEST_SUITE_END()
