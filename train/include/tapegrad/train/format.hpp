#pragma once
// Numbers and durations as training programs print them.
#include <string>

namespace tapegrad::train {

/// The shortest text that reads back as exactly `v` ("0.002", not "0.0020000000000000000416";
/// %g's choice of fixed or exponent form), so that a message comparing two values shows them as
/// the user typed them. "inf", "-inf" and "nan" for the non-finite.
std::string format_number(double v);
/// The same for a float (a loss as a step produced it): "1.1", not the 17 digits of its double.
std::string format_number(float v);

/// "0:07", "12:34", "1:02:03" (negative and non-finite durations read as 0:00).
std::string format_duration(double seconds);

/// "850", "24.1k", "1.20M" (a rate for a progress line).
std::string format_rate(double per_second);

/// "512 bytes", "3.5 KiB", "1.2 MiB", "34.3 GiB", "1.5 TiB" (binary units, as memory is sold).
std::string format_bytes(double bytes);

}  // namespace tapegrad::train
