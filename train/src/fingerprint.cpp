#include "tapegrad/train/fingerprint.hpp"

#include <cstdio>

namespace tapegrad::train {

std::string hex64(std::uint64_t h) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string fnv1a_hex(std::string_view bytes) {
  std::uint64_t h = kFnvOffset;
  fnv1a(h, bytes);
  return hex64(h);
}

}  // namespace tapegrad::train
