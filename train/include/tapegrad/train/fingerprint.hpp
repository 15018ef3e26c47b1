#pragma once
// 64-bit FNV-1a: the hash that names bytes -- a data file, a vocabulary, a model's parameters --
// so that two of them can be told apart or found equal (an identity, not a defence against
// tampering).
//
//   std::uint64_t h = train::kFnvOffset;
//   train::fnv1a(h, a.data(), a.size());   // h now covers a, then
//   train::fnv1a(h, b.data(), b.size());   // a followed by b
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tapegrad::train {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;

/// Folds `bytes` bytes at `data` into the hash `h`.
inline void fnv1a(std::uint64_t& h, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
}
inline void fnv1a(std::uint64_t& h, std::string_view bytes) {
  fnv1a(h, bytes.data(), bytes.size());
}

/// A hash as 16 lowercase hex digits (JSON numbers cannot hold 64 bits exactly).
std::string hex64(std::uint64_t h);
/// The FNV-1a hash of `bytes`, as hex64.
std::string fnv1a_hex(std::string_view bytes);

}  // namespace tapegrad::train
