// fuzz_text: the input is a text file for tapegrad-lm train --data. load_text reads it (BOM,
// binary detection); a text it accepts is tokenised into words and given a vocabulary at
// character and at word level, and encoded and decoded with each. At character level decoding
// must give back exactly the loaded text, and each vocabulary must survive to_json -> from_json.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lm/data.hpp"
#include "support.hpp"

namespace {

namespace lm = tapegrad::lm;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void round_trip_json(const lm::Vocabulary& v) {
  check(lm::Vocabulary::from_json(v.to_json()) == v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = tapegrad_fuzz::write_scratch_file("input.txt", data, size);
  std::string text;
  try {
    text = lm::load_text(path);
  } catch (const tapegrad::Error&) {
    return 0;
  }
  try {
    lm::tokenize_words(text);
  } catch (const tapegrad::Error&) {
  }
  try {
    const lm::Vocabulary chars = lm::Vocabulary::build(text, lm::Level::character);
    check(chars.decode(chars.encode(text)) == text);
    round_trip_json(chars);
  } catch (const tapegrad::Error&) {
  }
  for (const std::size_t min_count : {1, 2}) {
    try {
      const lm::Vocabulary words = lm::Vocabulary::build(text, lm::Level::word, min_count);
      words.decode(words.encode(text));
      round_trip_json(words);
    } catch (const tapegrad::Error&) {
    }
  }
  return 0;
}
