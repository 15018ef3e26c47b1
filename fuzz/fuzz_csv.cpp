// fuzz_csv: the input is a CSV file for tapegrad-forecast train --csv. read_csv_series reads
// column "value", then column 1 (by index); a series it accepts must hold only finite values,
// one label each, and its counts must add up; then what training computes from a series runs
// on it: the season, the cut, the scale, the baselines and their scores.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "forecast/forecast.hpp"

namespace {

namespace fc = tapegrad::forecast;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void use(const fc::SeriesData& s) {
  check(!s.values.empty());
  check(s.labels.size() == s.values.size());
  check(s.filled < s.values.size());
  for (double v : s.values) check(std::isfinite(v));
  const std::size_t season = fc::detect_season(s.values);
  check(season >= 1 && (season == 1 || season <= s.values.size() / 3));
  try {
    const fc::Split split = fc::split_series(s.values.size(), 4, 2);
    check(split.fit < split.train && split.train < split.n && split.n == s.values.size());
  } catch (const tapegrad::Error&) {
  }
  try {
    check(fc::change_scale(s.values) > 0);
  } catch (const tapegrad::Error&) {
  }
  if (s.values.size() > season) {
    const std::size_t h = 3;
    const double scale = fc::mase_scale(s.values, season);
    const std::vector<double> truth(h, s.values.back());
    for (const auto& f : {fc::last_value_forecast(s.values, h), fc::drift_forecast(s.values, h),
                          fc::seasonal_naive_forecast(s.values, h, season)}) {
      check(f.size() == h);
      const fc::Scores sc = fc::score(f, truth, scale);
      check(!(sc.mae < 0) && !(sc.rmse < sc.mae * (1 - 1e-9)));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* column : {"value", "1"}) {
    try {
      use(fc::read_csv_series(text, column, "input.csv"));
    } catch (const tapegrad::Error&) {
    }
  }
  return 0;
}
