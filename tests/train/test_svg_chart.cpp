// The SVG charts training programs write: round tick values, decade labels on a log
// axis, and a left margin that fits the widest label.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/train/svg_chart.hpp>

using namespace tapegrad::train;

namespace {
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(svg_chart)

BOOST_AUTO_TEST_CASE(ticks_are_one_two_or_five_times_a_power_of_ten) {
  const Ticks steps = nice_ticks(1, 5167);  // a training run's step axis
  BOOST_TEST(steps.step == 1000.0);
  BOOST_TEST(steps.decimals == 0);
  BOOST_TEST(steps.lo == 0.0);
  BOOST_TEST(steps.hi == 6000.0);
  const Ticks loss = nice_ticks(1.01499, 4.35484);  // a loss axis
  BOOST_TEST(loss.step == 0.5);
  BOOST_TEST(loss.decimals == 1);
  BOOST_TEST(loss.lo == 1.0);
  BOOST_TEST(loss.hi == 4.5);
  const Ticks small = nice_ticks(0.0012, 0.0093);
  BOOST_TEST(small.step == 0.002, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(small.decimals == 3);
  BOOST_TEST(tick_label(0.004, small.decimals) == "0.004");
  BOOST_TEST(tick_label(-1e-17, 2) == "0.00");  // no "-0.00" from rounding noise
}

BOOST_AUTO_TEST_CASE(log_axes_are_labelled_at_decades) {
  BOOST_TEST(decade_label(0, false) == "1");
  BOOST_TEST(decade_label(-2, false) == "0.01");
  BOOST_TEST(decade_label(3, false) == "1000");
  BOOST_TEST(decade_label(-7, true) == "1e-7");
  BOOST_TEST(decade_label(0, true) == "1e+0");
  BOOST_TEST(decade_label(6, true) == "1e+6");
  // Seven decades: every one labelled, all in one style.
  const std::string wide = svg_line_chart(
      "norms", "t", "norm", {Series{"a", {0, 1, 2, 3}, {3e-7, 1e-4, 0.02, 0.7}, "#000"}}, true);
  for (const char* label : {">1e-7<", ">1e-6<", ">1e-5<", ">1e-3<", ">1e-2<", ">1e-1<", ">1e+0<"})
    BOOST_TEST(contains(wide, label), label);
  BOOST_TEST(!contains(wide, ">0.01<"));
  BOOST_TEST(!contains(wide, ">0.697<"));  // data values are not tick labels
  // Two decades near 1 read as plain numbers.
  const std::string narrow =
      svg_line_chart("norms", "t", "norm", {Series{"a", {0, 1}, {0.02, 0.7}, "#000"}}, true);
  for (const char* label : {">0.01<", ">0.1<", ">1<"}) BOOST_TEST(contains(narrow, label), label);
}

BOOST_AUTO_TEST_CASE(a_linear_chart_labels_round_values_only) {
  std::vector<double> x, y;
  for (int i = 1; i <= 5167; ++i) x.push_back(i), y.push_back(1.2 + 3.0 / i);
  const std::string svg = svg_line_chart("loss", "step", "loss", {Series{"train", x, y, "#000"}});
  for (const char* label : {">1000<", ">5000<", ">1.5<", ">4.0<"})
    BOOST_TEST(contains(svg, label), label);
  BOOST_TEST(!contains(svg, "1034.2"));
  BOOST_TEST(contains(svg, "<polyline"));
}

// Values a few ulps apart (a loss that stopped moving) chart like equal values: a flat line
// with round ticks around it -- before, the tick step fell below the values' resolution and
// the tick loop never ended.
BOOST_AUTO_TEST_CASE(values_a_few_ulps_apart_chart_as_a_flat_line) {
  const double v = 4.0, w = std::nextafter(std::nextafter(4.0, 5.0), 5.0);
  const double s = 1000.0, t = std::nextafter(1000.0, 2000.0);
  const std::string svg =
      svg_line_chart("flat", "step", "loss", {{"train", {s, t}, {v, w}, "#1f77b4"}});
  BOOST_TEST(contains(svg, "<polyline"));
  // y widened to 3.5 .. 4.5, ticks every 0.2; x widened to 1000 .. 1001, ticks every 0.2.
  for (const char* label : {">3.4<", ">4.0<", ">4.6<", ">1000.0<", ">1000.4<", ">1001.0<"})
    BOOST_TEST(contains(svg, label), label);
  BOOST_TEST(svg.size() < 20000u);
}

BOOST_AUTO_TEST_SUITE_END()
