#pragma once
// A line chart as SVG (opens in any browser): the loss curves and diagnostics a training program
// plots. Programs write it with nn::write_file_atomically.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/error.hpp>

namespace tapegrad::train {

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::string color;
};

/// Tick positions for an axis over [lo, hi]: steps of 1, 2 or 5 times a power of ten (about
/// `count` of them), the axis widened to whole steps, and a label precision that shows them
/// all apart (no "1034.2" on a step axis, no six digits on a loss axis).
struct Ticks {
  double lo, hi, step;
  int decimals;
};
inline Ticks nice_ticks(double lo, double hi, int count = 5) {
  const double raw = (hi - lo) / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * magnitude;
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step,
          std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)))};
}

inline std::string tick_label(double v, int decimals) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(decimals);
  o << (std::fabs(v) < 1e-12 ? 0.0 : v);
  return o.str();
}

// A power of ten as a log axis shows it: 0.01, 0.1, 1, 10, 100 while every decade of the axis
// reads well that way, else 1e-5, 1e+0, 1e+6 for all of them (one style per axis).
inline std::string decade_label(int k, bool exponent) {
  if (!exponent) return tick_label(std::pow(10.0, k), std::max(0, -k));
  std::ostringstream o;
  o << "1e" << (k < 0 ? "-" : "+") << std::abs(k);
  return o.str();
}

/// An SVG line chart of the series with axes, ticks at round numbers (decades on a log axis),
/// light grid lines, labels and a legend. Non-finite points are skipped.
inline std::string svg_line_chart(const std::string& title, const std::string& x_label,
                                  const std::string& y_label, const std::vector<Series>& series,
                                  bool log_y = false) {
  const double W = 800, H = 450, right = 20, top = 40, bottom = 55;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  for (const Series& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (log_y && s.y[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  // A range of a few ulps would give a tick step below the values' resolution (the tick loops
  // below would never advance): such an axis is treated as flat, like equal values.
  auto flat = [](double a, double b) {
    return !(b - a > 1e-9 * std::max(std::fabs(a), std::fabs(b)));
  };
  if (flat(x0, x1)) x1 = x0 + 1;
  if (flat(y0, y1)) y0 -= 0.5, y1 += 0.5;

  // x: round ticks inside the data range (the axis itself spans the data exactly).
  const Ticks xt = nice_ticks(x0, x1);
  std::vector<std::pair<double, std::string>> x_ticks, y_ticks;  // (axis value, label)
  for (double v = xt.lo; v <= x1 + 1e-9 * xt.step; v += xt.step)
    if (v >= x0 - 1e-9 * xt.step) x_ticks.emplace_back(v, tick_label(v, xt.decimals));
  // y: the axis widened to whole ticks (whole decades on a log axis, at most ~8 labelled).
  if (log_y) {
    const int k0 = static_cast<int>(std::floor(y0)), k1 = static_cast<int>(std::ceil(y1));
    y0 = k0, y1 = std::max(k1, k0 + 1);
    const int every = std::max(1, (k1 - k0 + 7) / 8);
    const bool exponent = k0 < -2 || k1 > 3;
    for (int k = k0; k <= k1; k += every) y_ticks.emplace_back(k, decade_label(k, exponent));
  } else {
    const Ticks yt = nice_ticks(y0, y1);
    y0 = yt.lo, y1 = yt.hi;
    for (double v = yt.lo; v <= yt.hi + 1e-9 * yt.step; v += yt.step)
      y_ticks.emplace_back(v, tick_label(v, yt.decimals));
  }
  std::size_t widest = 0;
  for (const auto& t : y_ticks) widest = std::max(widest, t.second.size());
  const double left = 40 + 7.0 * static_cast<double>(widest);  // room for the widest label

  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * (W - left - right); };
  auto py_axis = [&](double a) { return H - bottom - (a - y0) / (y1 - y0) * (H - top - bottom); };
  auto py = [&](double v) { return py_axis(ty(v)); };
  std::ostringstream o;
  o.precision(6);
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='22' text-anchor='middle' font-size='15'>" << title
    << "</text>\n";
  for (const auto& [v, label] : x_ticks)
    o << "<line x1='" << px(v) << "' y1='" << top << "' x2='" << px(v) << "' y2='" << H - bottom
      << "' stroke='#e6e6e6'/>\n<text x='" << px(v) << "' y='" << H - bottom + 18
      << "' text-anchor='middle'>" << label << "</text>\n";
  for (const auto& [a, label] : y_ticks)
    o << "<line x1='" << left << "' y1='" << py_axis(a) << "' x2='" << W - right << "' y2='"
      << py_axis(a) << "' stroke='#e6e6e6'/>\n<text x='" << left - 6 << "' y='" << py_axis(a) + 4
      << "' text-anchor='end'>" << label << "</text>\n";
  o << "<line x1='" << left << "' y1='" << H - bottom << "' x2='" << W - right << "' y2='"
    << H - bottom << "' stroke='black'/>\n<line x1='" << left << "' y1='" << top << "' x2='" << left
    << "' y2='" << H - bottom << "' stroke='black'/>\n";
  o << "<text x='" << (left + W - right) / 2 << "' y='" << H - 12 << "' text-anchor='middle'>"
    << x_label << "</text>\n<text x='16' y='" << (top + H - bottom) / 2
    << "' text-anchor='middle' transform='rotate(-90 16 " << (top + H - bottom) / 2 << ")'>"
    << y_label << "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    o << "<polyline fill='none' stroke='" << s.color << "' stroke-width='1.5' points='";
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && !(log_y && s.y[i] <= 0))
        o << px(s.x[i]) << ',' << py(s.y[i]) << ' ';
    o << "'/>\n<rect x='" << W - right - 190 << "' y='" << top + 6 + 18 * k
      << "' width='14' height='4' fill='" << s.color << "'/>\n<text x='" << W - right - 170
      << "' y='" << top + 12 + 18 * k << "'>" << s.label << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace tapegrad::train
