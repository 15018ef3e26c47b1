// The forecaster on a series the test writes itself (a trend, a season of 12 and noise): the
// naive baselines and scores against values worked out by hand, the season found, training that
// beats every baseline on the held-out part, a model directory that reads back to the same
// forecasts, and a resumed run equal to an uninterrupted one.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/init.hpp>

#include "forecast/forecast.hpp"
#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
using namespace tapegrad::forecast;
using testsupport::error_of;

namespace {

// y_t = 10 + 0.05 t + 2 sin(2 pi t / 12) + noise (sd 0.1), as CSV with a month column.
std::vector<double> seasonal_series(std::size_t n, std::uint64_t seed = 7) {
  nn::Rng rng(seed);
  std::vector<double> y(n);
  for (std::size_t t = 0; t < n; ++t)
    y[t] = 10 + 0.05 * double(t) + 2 * std::sin(2 * M_PI * double(t) / 12) + 0.1 * rng.normal();
  return y;
}

std::string as_csv(const std::vector<double>& y) {
  std::string csv = "month,sales\n";
  for (std::size_t t = 0; t < y.size(); ++t) {
    char line[64];
    std::snprintf(line, sizeof line, "%zu,%.17g\n", t, y[t]);
    csv += line;
  }
  return csv;
}

TrainOptions options(const std::string& csv, const std::string& out, std::size_t steps) {
  TrainOptions o;
  o.csv = csv;
  o.column = "sales";
  o.out_dir = out;
  o.settings.horizon = 12;
  o.steps = steps;
  o.validate_every = 50;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(forecast_model)

BOOST_AUTO_TEST_CASE(baselines_and_scores_by_hand) {
  const std::vector<double> h = {1, 3, 2, 4, 6, 5};
  BOOST_TEST(last_value_forecast(h, 3) == std::vector<double>({5, 5, 5}),
             boost::test_tools::per_element());
  // The line through the first (1) and the last (5) value: slope 0.8.
  const std::vector<double> drift = drift_forecast(h, 2);
  BOOST_TEST(drift[0] == 5.8, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(drift[1] == 6.6, boost::test_tools::tolerance(1e-12));
  // Season 3: the last season (4, 6, 5), repeated.
  BOOST_TEST(seasonal_naive_forecast(h, 5, 3) == std::vector<double>({4, 6, 5, 4, 6}),
             boost::test_tools::per_element());
  // |4-1| + |6-3| + |5-2| over 3 = 3; one-step: (2+1+2+2+1)/5 = 1.6.
  BOOST_TEST(mase_scale(h, 3) == 3.0);
  BOOST_TEST(mase_scale(h, 1) == 1.6, boost::test_tools::tolerance(1e-12));
  const Scores s = score({1, 2, 3}, {2, 2, 5}, 2.0);
  BOOST_TEST(s.mae == 1.0);
  BOOST_TEST(s.rmse == std::sqrt(5.0 / 3), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.mase == 0.5);
  BOOST_TEST(error_of([] {
               seasonal_naive_forecast({1, 2}, 1, 3);
             }) == "seasonal naive: a season of 3 needs 1 to 2 values");
  BOOST_TEST(error_of([] {
               change_scale({4, 4, 4, 4});
             }) ==
             "the series is constant over the 4 values trained on (every change is 0): there is "
             "nothing to forecast");
  BOOST_TEST(change_scale({0, 3, -1}) == std::sqrt((9.0 + 16.0) / 2));
  // Found by fuzz_csv: errors of 1e-308 squared to 0 gave an RMSE of 0 below the MAE, and a
  // series changing by 1e-308 a "constant" error; errors of 1e200 squared to inf.
  const Scores tiny = score({1e-308, 2e-308, 3e-308}, {0, 0, 0}, 1e-308);
  BOOST_TEST(tiny.rmse >= tiny.mae);
  BOOST_TEST(tiny.rmse == std::sqrt(14.0 / 3) * 1e-308, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(tiny.mase == 2.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(score({1e200, -1e200}, {0, 0}, 1.0).rmse == 1e200,
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(change_scale({1e-308, 0, 1e-308}) == 1e-308, boost::test_tools::tolerance(1e-12));
  // Errors whose sum passes the largest double (fuzz_csv): the MAE is their mean, not inf.
  const Scores huge = score({-5e307, -1e308, -1.5e308}, {0, 0, 0}, 1.0);
  BOOST_TEST(huge.mae == 1e308, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(huge.rmse >= huge.mae);
  BOOST_TEST(mase_scale({1e308, -5e307, 1.2e308}, 1) == 1.6e308,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(the_season_is_found_and_a_short_series_refused) {
  BOOST_TEST(detect_season(seasonal_series(200)) == 12u);
  std::vector<double> noise(200);
  nn::Rng rng(3);
  for (double& v : noise) v = rng.normal();
  BOOST_TEST(detect_season(noise) == 1u);
  const Split s = split_series(100, 24, 12);
  BOOST_TEST(s.fit == 76u);
  BOOST_TEST(s.train == 88u);
  BOOST_TEST(s.n == 100u);
  BOOST_TEST(error_of([] { split_series(55, 24, 12); }) ==
             "the series holds 55 values; with --window 24 and --horizon 12 it needs at least 56 "
             "(32 to train on, 12 to validate, 12 held out)");
}

BOOST_AUTO_TEST_CASE(training_beats_every_naive_baseline_on_the_held_out_part) {
  testsupport::ScratchDir dir("forecast");
  const std::vector<double> y = seasonal_series(240);
  const std::string csv = dir.write("sales.csv", as_csv(y));
  const TrainResult r = train_forecaster(options(csv, dir.path("model"), 600));
  BOOST_TEST(r.settings.season == 12u);  // detected
  BOOST_TEST(r.settings.window == 24u);  // two seasons
  BOOST_TEST(r.split.train == 228u);
  BOOST_TEST_REQUIRE(bool(r.best_validation));
  for (const char* file : {"checkpoint.npz", "best.npz", "log.csv", "losses.svg"})
    BOOST_TEST(std::filesystem::exists(dir.path("model/") + file), file);

  const SavedForecaster m = load_forecaster(dir.path("model"));
  BOOST_TEST(m.step == r.best_validation->first);
  const std::vector<double> history(y.begin(), y.begin() + 228), truth(y.begin() + 228, y.end());
  const double scale = mase_scale(history, 12);
  const double model = score(m.forecaster->forecast(history, 12), truth, scale).mase;
  const double last = score(last_value_forecast(history, 12), truth, scale).mase;
  const double drift = score(drift_forecast(history, 12), truth, scale).mase;
  const double seasonal = score(seasonal_naive_forecast(history, 12, 12), truth, scale).mase;
  BOOST_TEST_MESSAGE("MASE: model " << model << ", last " << last << ", drift " << drift
                                    << ", seasonal naive " << seasonal);
  BOOST_TEST(model < seasonal);
  BOOST_TEST(model < drift);
  BOOST_TEST(model < last);
  BOOST_TEST(seasonal < last);  // the season is real: the baselines order as they should
}

BOOST_AUTO_TEST_CASE(a_resumed_run_forecasts_as_an_uninterrupted_one) {
  testsupport::ScratchDir dir("forecast");
  const std::vector<double> y = seasonal_series(150, 11);
  const std::string csv = dir.write("sales.csv", as_csv(y));
  train_forecaster(options(csv, dir.path("whole"), 200));
  train_forecaster(options(csv, dir.path("parts"), 120));
  TrainOptions more = options(csv, dir.path("parts"), 200);
  more.settings.hidden = 999;  // ignored: a resumed run keeps the checkpoint's settings
  more.resume = true;
  BOOST_TEST(train_forecaster(more).steps == 200u);
  const SavedForecaster a = load_forecaster(dir.path("whole"), "latest");
  const SavedForecaster b = load_forecaster(dir.path("parts"), "latest");
  const std::vector<double> history(y.begin(), y.begin() + 138);
  BOOST_TEST(a.forecaster->forecast(history, 12) == b.forecaster->forecast(history, 12),
             boost::test_tools::per_element());
  // Another series is not the one the checkpoint trained on.
  const std::string other = dir.write("other.csv", as_csv(seasonal_series(150, 12)));
  TrainOptions wrong = options(other, dir.path("parts"), 300);
  wrong.resume = true;
  BOOST_TEST(error_of([&] { train_forecaster(wrong); }).find("--resume: the checkpoint in") == 0u);
  BOOST_TEST(error_of([&] { load_forecaster(dir.path("nothing")); }).find("holds no forecaster") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
