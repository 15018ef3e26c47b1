#include "tapegrad/train/schema.hpp"

namespace tapegrad::train {

NumberRange positive() {
  return {"a positive number", [](double v) { return v > 0 && std::isfinite(v); }};
}

NumberRange non_negative(const std::string& note) {
  return {"a number >= 0" + (note.empty() ? "" : " (" + note + ")"),
          [](double v) { return v >= 0 && std::isfinite(v); }};
}

NumberRange between(double lo, double hi) {
  return {"a number in [" + format_number(lo) + ", " + format_number(hi) + "]",
          [lo, hi](double v) { return v >= lo && v <= hi; }};  // NaN is in no range
}

NumberRange from_below(double lo, double hi) {
  return {"a number in [" + format_number(lo) + ", " + format_number(hi) + ")",
          [lo, hi](double v) { return v >= lo && v < hi; }};
}

NumberRange above_up_to(double lo, double hi) {
  return {"a number in (" + format_number(lo) + ", " + format_number(hi) + "]",
          [lo, hi](double v) { return v > lo && v <= hi; }};
}

NumberRange finite() {
  return {"a finite number", [](double v) { return std::isfinite(v); }};
}

std::string one_of_text(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : ", ") + names[i];
  return out;
}

}  // namespace tapegrad::train
