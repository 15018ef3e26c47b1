#pragma once
// A numeric series from one column of a CSV file, as tapegrad-forecast reads it.
//
// The first non-blank line is the header. The column is named by its header (surrounding
// whitespace and double quotes aside) or, when no header matches, by its 0-based index. Fields
// are separated by commas; a field in double quotes may hold commas ("" is a quote). A value is
// missing when its field is empty or reads na, nan, null or "." (any case); otherwise it must
// be a decimal number. Missing values before the first and after the last present one are
// dropped; a run of missing values inside the series is filled by linear interpolation between
// its present neighbours, by position. Lines that are entirely blank are skipped.
#include <cstddef>
#include <string>
#include <vector>

namespace tapegrad::forecast {

struct SeriesData {
  std::string column;               // the header of the column read
  std::vector<double> values;       // missing values filled; leading and trailing ones dropped
  std::vector<std::string> labels;  // each value's first field (a date, a year), or its line
  std::size_t filled = 0;           // interior missing values filled by interpolation
  std::size_t dropped = 0;          // missing values dropped at the start and the end
};

/// Reads `column` of CSV `text`; `source` names the file in errors. Errors (tapegrad::Error)
/// name the file, and the line and column where the problem is: an empty file, a header without
/// rows, an unknown column (the columns there are listed), a row too short to hold the column,
/// a field that is neither a number nor missing, an unclosed quote, a column with no values.
SeriesData read_csv_series(const std::string& text, const std::string& column,
                           const std::string& source);

}  // namespace tapegrad::forecast
