#include "forecast/series.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>

#include <tapegrad/error.hpp>

namespace tapegrad::forecast {

namespace {

std::string trim(const std::string& s) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  std::size_t a = 0, b = s.size();
  while (a < b && space(s[a])) ++a;
  while (b > a && space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One CSV line's fields, quotes removed; an unclosed quote is an Error.
std::vector<std::string> split_fields(const std::string& line, const std::string& where) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) throw Error(where + ": a quoted field is not closed (expected a closing '\"')");
  for (std::string& f : fields) f = trim(f);
  return fields;
}

// The number in `field`, nothing when it marks a missing value, an Error when it is neither.
std::optional<double> parse_value(const std::string& field, const std::string& where) {
  const std::string l = lower(field);
  if (l.empty() || l == "na" || l == "nan" || l == "null" || l == ".") return std::nullopt;
  // Decimal notation only: strtod would also read "0x1p3" and "inf".
  const bool decimal = field.find_first_not_of("0123456789+-.eE") == std::string::npos;
  char* end = nullptr;
  const double v = std::strtod(field.c_str(), &end);
  if (!decimal || end != field.c_str() + field.size() || !std::isfinite(v))
    throw Error(where +
                ": expected a number, or an empty field (or NA) for a missing value, got '" +
                field + "'");
  return v;
}

}  // namespace

SeriesData read_csv_series(const std::string& input, const std::string& column,
                           const std::string& source) {
  std::string text = input;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // a UTF-8 byte-order mark
  // The lines that are not blank, with their 1-based numbers.
  std::vector<std::pair<std::size_t, std::string>> lines;
  std::size_t number = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++number;
    if (!trim(line).empty()) lines.emplace_back(number, line);
    at = end + 1;
  }
  if (lines.empty()) throw Error("'" + source + "' is empty: expected a header line and rows");
  const std::vector<std::string> header =
      split_fields(lines[0].second, "'" + source + "' line " + std::to_string(lines[0].first));
  if (lines.size() == 1) throw Error("'" + source + "' has a header but no rows of values");

  // The column: a header first, then an index.
  std::optional<std::size_t> index;
  for (std::size_t i = 0; i < header.size() && !index; ++i)
    if (header[i] == trim(column)) index = i;
  if (!index && !column.empty() && column.find_first_not_of("0123456789") == std::string::npos &&
      column.size() < 10) {
    const std::size_t i = std::stoul(column);
    if (i < header.size()) index = i;
  }
  if (!index) {
    std::string names;
    for (std::size_t i = 0; i < header.size(); ++i) names += (i ? ", '" : "'") + header[i] + "'";
    throw Error("'" + source + "' has no column '" + column + "': its columns are " + names +
                " (a name, or an index from 0 to " + std::to_string(header.size() - 1) + ")");
  }

  SeriesData out;
  out.column = header[*index];
  std::vector<std::optional<double>> raw;
  std::vector<std::string> labels;
  for (std::size_t r = 1; r < lines.size(); ++r) {
    const std::string where = "'" + source + "' line " + std::to_string(lines[r].first);
    const std::vector<std::string> fields = split_fields(lines[r].second, where);
    if (fields.size() <= *index)
      throw Error(where + ": expected at least " + std::to_string(*index + 1) +
                  " fields (column '" + out.column + "' is field " + std::to_string(*index + 1) +
                  "), got " + std::to_string(fields.size()));
    raw.push_back(parse_value(fields[*index], where + ", column '" + out.column + "'"));
    labels.push_back(*index == 0 ? std::to_string(lines[r].first) : fields[0]);
  }

  // Drop the missing values at both ends, fill those inside.
  std::size_t first = 0, last = raw.size();
  while (first < last && !raw[first]) ++first;
  while (last > first && !raw[last - 1]) --last;
  if (first == last)
    throw Error("column '" + out.column + "' of '" + source + "' holds no values (all " +
                std::to_string(raw.size()) + " are missing)");
  out.dropped = raw.size() - (last - first);
  std::size_t before = first;  // the last present value so far
  for (std::size_t i = first; i < last; ++i) {
    if (raw[i]) {
      out.values.push_back(*raw[i]);
      before = i;
    } else {
      // Inside a run of missing values: interpolate between the present neighbours.
      std::size_t after = i + 1;
      while (!raw[after]) ++after;
      const double f = double(i - before) / double(after - before);
      const double a = *raw[before], b = *raw[after];
      // a + f (b - a) overflows when a and b have opposite signs near the largest double
      // (b - a is then inf); the weighted sum cannot overflow there, its terms cancel.
      out.values.push_back(std::signbit(a) == std::signbit(b) ? a + f * (b - a)
                                                              : (1 - f) * a + f * b);
      ++out.filled;
    }
    out.labels.push_back(labels[i]);
  }
  return out;
}

}  // namespace tapegrad::forecast
