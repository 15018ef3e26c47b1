#pragma once
// A line chart as SVG (opens in any browser), written atomically: temp file + rename, so a
// reader never sees half a file and a failed write never destroys the previous one.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/error.hpp>

namespace tapegrad::examples {

/// Writes `content` to `path` through `path.tmp-<pid>` and rename(2).
inline void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error("write_file_atomically: cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("write_file_atomically: cannot rename " + tmp + " to " + path);
  }
}

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::string color;
};

/// An SVG line chart of the series with axes, ticks, labels and a legend. Non-finite points
/// are skipped.
inline std::string svg_line_chart(const std::string& title, const std::string& x_label,
                                  const std::string& y_label, const std::vector<Series>& series,
                                  bool log_y = false) {
  const double W = 800, H = 450, left = 70, right = 20, top = 40, bottom = 55;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  for (const Series& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (log_y && s.y[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, ty(s.y[i])), y1 = std::max(y1, ty(s.y[i]));
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * (W - left - right); };
  auto py = [&](double v) { return H - bottom - (ty(v) - y0) / (y1 - y0) * (H - top - bottom); };
  std::ostringstream o;
  o.precision(6);
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='22' text-anchor='middle' font-size='15'>" << title
    << "</text>\n"
    << "<line x1='" << left << "' y1='" << H - bottom << "' x2='" << W - right << "' y2='"
    << H - bottom << "' stroke='black'/>\n<line x1='" << left << "' y1='" << top << "' x2='" << left
    << "' y2='" << H - bottom << "' stroke='black'/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double xv = x0 + (x1 - x0) * k / 5, yv = y0 + (y1 - y0) * k / 5;
    const double yl = log_y ? std::pow(10.0, yv) : yv;
    o << "<text x='" << px(xv) << "' y='" << H - bottom + 18 << "' text-anchor='middle'>" << xv
      << "</text>\n"
      << "<text x='" << left - 6 << "' y='"
      << H - bottom - (yv - y0) / (y1 - y0) * (H - top - bottom) + 4 << "' text-anchor='end'>" << yl
      << "</text>\n";
  }
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
    o << "'/>\n<rect x='" << W - right - 170 << "' y='" << top + 6 + 18 * k
      << "' width='14' height='4' fill='" << s.color << "'/>\n<text x='" << W - right - 150
      << "' y='" << top + 12 + 18 * k << "'>" << s.label << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace tapegrad::examples
