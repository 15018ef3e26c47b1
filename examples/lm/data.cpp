#include "lm/data.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <unordered_map>

#include <tapegrad/nn/read_file.hpp>

namespace tapegrad::lm {

namespace {

// ---------------------------------------------------------------------------------------------
// UTF-8. Decoded by hand, strictly: overlong forms, surrogates and values past U+10FFFF are
// rejected, because a lenient decoder would let two byte strings map to one symbol and make
// the vocabulary depend on how the text happened to be encoded.

struct CodePoint {
  char32_t value;
  std::size_t length;  // bytes
};

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(b));
  return buf;
}

[[noreturn]] void invalid_utf8(const char* who, const std::string& text, std::size_t offset,
                               const std::string& why) {
  throw Error(std::string(who) + ": invalid UTF-8 at byte offset " + std::to_string(offset) +
              " (byte " + hex_byte(static_cast<unsigned char>(text[offset])) + "): " + why);
}

// The code point starting at text[pos] (pos < text.size()).
CodePoint decode_at(const std::string& text, std::size_t pos, const char* who) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return {b0, 1};
  std::size_t length;
  char32_t value, smallest;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, value = b0 & 0x1F, smallest = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, value = b0 & 0x0F, smallest = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, value = b0 & 0x07, smallest = 0x10000;
  } else if (b0 < 0xC0) {
    invalid_utf8(who, text, pos, "a continuation byte with no lead byte before it");
  } else {
    invalid_utf8(who, text, pos, "this byte never occurs in UTF-8");
  }
  for (std::size_t i = 1; i < length; ++i) {
    if (pos + i >= text.size())
      invalid_utf8(who, text, pos,
                   "the text ends inside a " + std::to_string(length) + "-byte character");
    const unsigned char b = byte(pos + i);
    if ((b & 0xC0) != 0x80)
      invalid_utf8(who, text, pos,
                   "a " + std::to_string(length) + "-byte character is cut short by byte " +
                       hex_byte(b) + " at offset " + std::to_string(pos + i));
    value = (value << 6) | (b & 0x3F);
  }
  if (value < smallest) invalid_utf8(who, text, pos, "an overlong encoding");
  if (value >= 0xD800 && value <= 0xDFFF) invalid_utf8(who, text, pos, "a UTF-16 surrogate");
  if (value > 0x10FFFF) invalid_utf8(who, text, pos, "a value beyond U+10FFFF");
  return {value, length};
}

std::string encode_utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// "'Z' (U+005A)"; control characters are escaped so the message stays on one line.
std::string describe_character(char32_t cp, const std::string& bytes) {
  std::string shown;
  switch (cp) {
    case '\n':
      shown = "\\n";
      break;
    case '\t':
      shown = "\\t";
      break;
    case '\r':
      shown = "\\r";
      break;
    default:
      if (cp < 0x20 || cp == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
        shown = buf;
      } else {
        shown = bytes;
      }
  }
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
  return "'" + shown + "' (" + code + ")";
}

// ---------------------------------------------------------------------------------------------
// Word-level character classes.

bool is_space(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x00A0 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  return c == 0x00A1 || c == 0x00AB || c == 0x00BB || c == 0x00BF || (c >= 0x2010 && c <= 0x2027) ||
         (c >= 0x2030 && c <= 0x205E) || c == 0x3001 || c == 0x3002 ||
         (c >= 0x300C && c <= 0x300F) || c == 0xFF01 || c == 0xFF0C || c == 0xFF1F;
}

bool is_word_character(char32_t c) { return !is_space(c) && !is_punctuation(c); }

// Marks that stay inside a word when a word character follows them ("don't", "well-known").
bool is_joiner(char32_t c) { return c == '\'' || c == '-' || c == 0x2019; }

[[noreturn]] void binary_file(const std::string& where, std::uint64_t nul) {
  throw Error(where + " looks like a binary file (a NUL byte at offset " + std::to_string(nul) +
              "), not text");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Level parse_level(const std::string& name) {
  if (name == "char" || name == "character") return Level::character;
  if (name == "word") return Level::word;
  throw Error("unknown level '" + name + "' (expected char or word)");
}

const char* level_name(Level level) { return level == Level::character ? "character" : "word"; }

std::size_t count_characters(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char b : text) n += (b & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> split_characters(const std::string& text, const char* who) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < text.size();) {
    const CodePoint c = decode_at(text, pos, who);
    out.push_back(text.substr(pos, c.length));
    pos += c.length;
  }
  return out;
}

std::vector<std::string> tokenize_words(const std::string& text, std::vector<std::size_t>* starts) {
  std::vector<std::string> tokens;
  std::string word;
  std::size_t word_start = 0;
  const auto push = [&](std::string token, std::size_t start) {
    tokens.push_back(std::move(token));
    if (starts) starts->push_back(start);
  };
  const auto flush = [&] {
    if (!word.empty()) push(std::move(word), word_start);
    word.clear();
  };
  if (starts) starts->clear();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint cp = decode_at(text, pos, "tokenize_words");
    const std::string bytes = text.substr(pos, cp.length);
    const std::size_t next = pos + cp.length;
    if (is_space(cp.value)) {
      flush();
    } else if (is_punctuation(cp.value)) {
      // Looking one code point ahead decodes it twice, but keeps the loop simple; the second
      // decode validates the same bytes again, so errors still name the right offset.
      if (is_joiner(cp.value) && !word.empty() && next < text.size() &&
          is_word_character(decode_at(text, next, "tokenize_words").value)) {
        word += bytes;
      } else {
        flush();
        push(bytes, pos);
      }
    } else {
      if (word.empty()) word_start = pos;
      word += bytes;
    }
    pos = next;
  }
  flush();
  return tokens;
}

Vocabulary::Vocabulary(Level level, std::vector<std::string> symbols)
    : level_(level), symbols_(std::move(symbols)) {
  index_.reserve(symbols_.size());
  for (std::size_t i = 0; i < symbols_.size(); ++i)
    if (!index_.emplace(symbols_[i], static_cast<std::int64_t>(i)).second)
      throw Error("Vocabulary: symbol '" + symbols_[i] + "' appears twice (indices " +
                  std::to_string(index_[symbols_[i]]) + " and " + std::to_string(i) + ")");
}

Vocabulary Vocabulary::build(const std::string& text, Level level, std::size_t min_count) {
  if (level == Level::character) {
    // One bit per code point, a Unicode plane (65536 code points, 8 KiB) at a time, allocated
    // when the text first uses it: a sorted result without a set, and a scan of only the planes
    // used (most texts: one), 64 code points a word.
    constexpr std::size_t kPlaneWords = 65536 / 64;
    std::vector<std::vector<std::uint64_t>> planes(17);
    std::size_t pos = 0;
    while (pos < text.size()) {
      const CodePoint cp = decode_at(text, pos, "Vocabulary::build");
      std::vector<std::uint64_t>& plane = planes[cp.value >> 16];
      if (plane.empty()) plane.assign(kPlaneWords, 0);
      plane[(cp.value & 0xFFFF) / 64] |= std::uint64_t(1) << (cp.value % 64);
      pos += cp.length;
    }
    std::vector<std::string> symbols;
    for (std::size_t p = 0; p < planes.size(); ++p)
      for (std::size_t w = 0; w < planes[p].size(); ++w)
        for (std::uint64_t bits = planes[p][w]; bits != 0; bits &= bits - 1)
          symbols.push_back(
              encode_utf8(char32_t((p << 16) + w * 64 + std::size_t(__builtin_ctzll(bits)))));
    if (symbols.empty()) throw Error("Vocabulary::build: the text is empty");
    return Vocabulary(Level::character, std::move(symbols));
  }

  std::unordered_map<std::string, std::size_t> counts;
  for (std::string& w : tokenize_words(text)) ++counts[std::move(w)];
  if (counts.empty()) throw Error("Vocabulary::build: the text holds no words");
  std::vector<std::string> words;
  std::size_t most = 0;
  for (const auto& [w, n] : counts) {
    most = std::max(most, n);
    if (n >= min_count) words.push_back(w);
  }
  if (words.empty())
    throw Error("Vocabulary::build: --min-count " + std::to_string(min_count) +
                " leaves no words (the most frequent word occurs " + std::to_string(most) +
                " times)");
  std::sort(words.begin(), words.end());
  words.insert(words.begin(), unknown_word);
  return Vocabulary(Level::word, std::move(words));
}

const std::string& Vocabulary::symbol(std::size_t i) const {
  if (i >= symbols_.size())
    throw Error("Vocabulary::symbol: index " + std::to_string(i) +
                " is outside the vocabulary of " + std::to_string(symbols_.size()) + " " + unit());
  return symbols_[i];
}

std::optional<std::int64_t> Vocabulary::find(const std::string& symbol) const {
  const auto it = index_.find(symbol);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

Indices Vocabulary::encode(const std::string& text) const {
  Indices out;
  if (level_ == Level::word) {
    for (const std::string& w : tokenize_words(text)) {
      const auto it = index_.find(w);
      out.push_back(it == index_.end() ? 0 : it->second);  // <unk> is always index 0
    }
    return out;
  }
  out.reserve(text.size());
  std::size_t pos = 0, position = 0;
  while (pos < text.size()) {
    const CodePoint cp = decode_at(text, pos, "Vocabulary::encode");
    const std::string bytes = text.substr(pos, cp.length);
    const auto it = index_.find(bytes);
    if (it == index_.end())
      throw Error("unknown character " + describe_character(cp.value, bytes) + " at position " +
                  std::to_string(position) + ": not in the model's vocabulary of " +
                  std::to_string(symbols_.size()) + " characters");
    out.push_back(it->second);
    pos += cp.length;
    ++position;
  }
  return out;
}

std::string Vocabulary::decode(const Indices& indices) const {
  std::string out;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::int64_t i = indices[k];
    if (i < 0 || static_cast<std::uint64_t>(i) >= symbols_.size())
      throw Error("Vocabulary::decode: index " + std::to_string(i) + " at position " +
                  std::to_string(k) + " is outside the vocabulary of " +
                  std::to_string(symbols_.size()) + " " + unit());
    if (level_ == Level::word && k > 0) out += ' ';
    out += symbols_[static_cast<std::size_t>(i)];
  }
  return out;
}

std::uint64_t Vocabulary::fingerprint() const {
  // 0xFF never occurs in UTF-8, so it separates symbols unambiguously: {"ab"} and {"a", "b"}
  // hash different byte strings.
  const std::string separator(1, '\xFF');
  std::uint64_t h = train::kFnvOffset;
  train::fnv1a(h, level_name(level_));
  for (const std::string& s : symbols_) {
    train::fnv1a(h, separator);
    train::fnv1a(h, s);
  }
  return h;
}

std::string Vocabulary::fingerprint_hex() const { return train::hex64(fingerprint()); }

nlohmann::json Vocabulary::to_json() const {
  return nlohmann::json{{"format", "tapegrad-lm-vocabulary"},
                        {"version", 1},
                        {"level", level_name(level_)},
                        {"symbols", symbols_},
                        {"fingerprint", fingerprint_hex()}};
}

Vocabulary Vocabulary::from_json(const nlohmann::json& j) {
  const std::string who = "Vocabulary::from_json: ";
  if (!j.is_object()) throw Error(who + "expected a JSON object, got " + j.type_name());
  if (j.contains("format") && j["format"] != "tapegrad-lm-vocabulary")
    throw Error(who + "format is " + j["format"].dump() + ", expected \"tapegrad-lm-vocabulary\"");
  if (j.contains("version") && j["version"] != 1)
    throw Error(who + "version " + j["version"].dump() + " is not supported (expected 1)");
  if (!j.contains("level") || !j["level"].is_string())
    throw Error(who + "missing string field \"level\"");
  const std::string level_text = j["level"].get<std::string>();
  if (level_text != "character" && level_text != "word")
    throw Error(who + "level is \"" + level_text + "\", expected \"character\" or \"word\"");
  const Level level = level_text == "character" ? Level::character : Level::word;
  if (!j.contains("symbols") || !j["symbols"].is_array())
    throw Error(who + "missing array field \"symbols\"");
  std::vector<std::string> symbols;
  for (std::size_t i = 0; i < j["symbols"].size(); ++i) {
    const nlohmann::json& s = j["symbols"][i];
    if (!s.is_string()) throw Error(who + "symbol " + std::to_string(i) + " is not a string");
    std::string text = s.get<std::string>();
    if (text.empty()) throw Error(who + "symbol " + std::to_string(i) + " is empty");
    if (level == Level::character &&
        decode_at(text, 0, "Vocabulary::from_json").length != text.size())
      throw Error(who + "symbol " + std::to_string(i) + " (\"" + text +
                  "\") is not a single character");
    symbols.push_back(std::move(text));
  }
  if (symbols.empty()) throw Error(who + "the symbol list is empty");
  if (level == Level::word && symbols[0] != unknown_word)
    throw Error(who + "a word-level vocabulary must start with \"<unk>\", got \"" + symbols[0] +
                "\"");
  Vocabulary v(level, std::move(symbols));
  if (j.contains("fingerprint")) {
    const nlohmann::json& f = j["fingerprint"];
    if (!f.is_string() || f.get<std::string>() != v.fingerprint_hex())
      throw Error(who + "stored fingerprint " + f.dump() + " does not match the symbols (\"" +
                  v.fingerprint_hex() + "\"): the vocabulary is corrupted");
  }
  return v;
}

// ---------------------------------------------------------------------------------------------

std::string load_text(const std::string& path, std::uint64_t max_bytes) {
  const std::string where = "'" + path + "'";
  // A NUL byte ends the read at the piece that holds it: a huge binary file (or a sparse one
  // of zeros) is refused without reading the rest.
  std::string text =
      nn::read_regular_file(where, path, max_bytes, " (raise the limit with --max-text)",
                            [&](std::string_view piece, std::uint64_t offset) {
                              const std::size_t nul = piece.find('\0');
                              if (nul != piece.npos) binary_file(where, offset + nul);
                            });
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  if (text.empty()) throw Error("'" + path + "' is empty");

  std::size_t control = 0;
  for (unsigned char b : text)
    if ((b < 0x20 && !(b >= '\t' && b <= '\r')) || b == 0x7F) ++control;
  if (control * 10 > text.size() * 3)
    throw Error("'" + path + "' looks like a binary file (" +
                std::to_string(control * 100 / text.size()) +
                "% of its bytes are control characters), not text");

  // Counting lead bytes counts characters without decoding; invalid UTF-8 is reported later,
  // with its offset, by the vocabulary.
  std::size_t characters = 0;
  for (unsigned char b : text)
    if ((b & 0xC0) != 0x80) ++characters;
  if (characters < 2)
    throw Error("'" + path + "' holds only " + std::to_string(characters) +
                " character; a language model needs at least 2 (an input and its target)");
  return text;
}

namespace {

// A fixed 64-bit LCG (Knuth's MMIX constants) rather than <random>: the standard
// distributions are implementation-defined, and the corpus must be byte-identical everywhere.
class CorpusRng {
 public:
  std::size_t below(std::size_t n) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state_ >> 33) % n;
  }
  template <std::size_t N>
  std::string pick(const char* const (&words)[N]) {
    return words[below(N)];
  }

 private:
  std::uint64_t state_ = 20240611ULL;
};

}  // namespace

std::string builtin_corpus() {
  static const char* const royals[] = {"king", "queen", "prince", "princess"};
  static const char* const people[] = {"prince",  "princess",   "knight", "cook",   "guard",
                                       "old man", "young girl", "jester", "servant"};
  static const char* const actions[] = {"walks to", "looks at", "stands by",
                                        "runs to",  "waits at", "sings near"};
  static const char* const places[] = {"garden", "river", "tower",  "door",   "window",
                                       "hall",   "gate",  "bridge", "kitchen"};
  static const char* const animals[] = {"cat", "dog", "bird"};
  static const char* const beds[] = {"mat", "rug", "bed", "floor"};
  static const char* const seats[] = {"chair", "bench", "stool"};
  static const char* const moods[] = {"old", "wise", "tired", "happy", "kind", "tall", "proud"};
  static const char* const metals[] = {"gold", "silver"};
  static const char* const greetings[] = {"calls", "thanks", "watches", "greets"};

  CorpusRng rng;
  std::string text;
  for (int i = 0; i < 150; ++i) {
    std::string s;
    // "sits on" after "king" or "queen" is always followed by "the throne", so a model can
    // learn the tutorial's completion; other people sit on ordinary seats.
    // Every word is drawn into a local first: the order in which the operands of one `+`
    // chain are evaluated is unspecified, and the corpus must not depend on the compiler.
    const std::size_t kind = i == 0 ? 0 : rng.below(20);
    const std::string a = (kind == 14 || kind == 15 || kind == 16) ? rng.pick(royals)
                          : (kind == 10 || kind == 11)             ? rng.pick(animals)
                                                                   : rng.pick(people);
    const std::size_t b = rng.below(1000), c = rng.below(1000);  // second and third choices
    const auto nth = [](const auto& words, std::size_t k) {
      return std::string(words[k % (sizeof words / sizeof words[0])]);
    };
    if (kind <= 4) {
      s = "the king sits on the throne.";
    } else if (kind <= 6) {
      s = "the queen sits on the throne.";
    } else if (kind <= 9) {
      s = "the " + a + " " + nth(actions, b) + " the " + nth(places, c) + ".";
    } else if (kind <= 11) {
      s = "the " + a + " sleeps on the " + nth(beds, b) + ".";
    } else if (kind <= 13) {
      // "sits on" after "king" or "queen" is always followed by "the throne", so a model can
      // learn the tutorial's completion; everyone else sits on an ordinary seat.
      s = "the " + a + " sits on the " + nth(seats, b) + ".";
    } else if (kind <= 15) {
      s = "the " + a + " is " + nth(moods, b) + ".";
    } else if (kind == 16) {
      s = "the " + a + " wears a " + nth(metals, b) + " crown.";
    } else if (kind == 17) {
      s = "the king " + nth(greetings, b) + " the " + a + ".";
    } else if (kind == 18) {
      s = "when the sun rises, the king sits on the throne.";
    } else {
      s = "where does the " + a + " sit? on the " + nth(seats, b) + ".";
    }
    text += s;
    text += (i % 5 == 4) ? '\n' : ' ';
  }
  if (text.back() != '\n') text.back() = '\n';
  return text;
}

}  // namespace tapegrad::lm
