#pragma once
// The text layer of tapegrad-lm: text in, symbol indices out (the training library batches the
// indices). Nothing here knows about tensors or tapes; every bad input (a missing file, invalid
// UTF-8, an empty vocabulary) is a tapegrad::Error whose message names the numbers involved,
// never a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/error.hpp>
#include <tapegrad/tensor.hpp>
#include <tapegrad/train/fingerprint.hpp>

namespace tapegrad::lm {

/// What one symbol is: a Unicode code point, or a word / punctuation mark.
enum class Level { character, word };

/// "char" / "character" / "word" -> Level; anything else is an Error naming the accepted names.
Level parse_level(const std::string& name);
// A data file's identity in a checkpoint is train::fnv1a_hex of its bytes (fingerprint.hpp); the
// vocabulary's fingerprint uses the same hash.
/// "character" or "word" (the names to_json writes).
const char* level_name(Level level);

/// The symbols a model predicts, in a fixed order, and the mapping text <-> indices.
///
/// Order (documented because checkpoints depend on it):
///  - character level: code points sorted ascending (UTF-8 byte order is code point order), so
///    the same set of characters always gives the same indices, whatever order the text has;
///  - word level: "<unk>" is index 0, then the kept words sorted by their UTF-8 bytes.
///
/// Word level tokenisation: text is split at ASCII whitespace; punctuation (ASCII punctuation
/// and the common Unicode marks: dashes, curly quotes, ellipsis, guillemets, inverted marks,
/// CJK full stop and comma) becomes a token of its own, one mark per token. An apostrophe or
/// hyphen between two word characters stays inside the word ("don't", "well-known"). Case is
/// kept. Words seen fewer than min_count times map to "<unk>".
class Vocabulary {
 public:
  static constexpr const char* unknown_word = "<unk>";

  /// Builds the vocabulary of `text`. min_count applies at word level only (0 and 1 both keep
  /// every word). Errors: invalid UTF-8 (naming the byte offset), a text with no symbols.
  static Vocabulary build(const std::string& text, Level level, std::size_t min_count = 1);

  /// Reads what to_json wrote. Errors name the missing or malformed field; a stored
  /// fingerprint that does not match the symbols is reported as a corrupted vocabulary.
  static Vocabulary from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;

  Level level() const { return level_; }
  std::size_t size() const { return symbols_.size(); }
  /// "characters" or "words", for messages ("a vocabulary of 27 characters").
  const char* unit() const { return level_ == Level::character ? "characters" : "words"; }

  /// The symbol at index i (UTF-8); Error if i is out of range.
  const std::string& symbol(std::size_t i) const;
  const std::vector<std::string>& symbols() const { return symbols_; }
  /// The index of a symbol, if the vocabulary has it.
  std::optional<std::int64_t> find(const std::string& symbol) const;

  /// Character level: an unknown character is an Error naming it, its code point and its
  /// position (0-based, counted in characters). Word level: unknown words become <unk>.
  Indices encode(const std::string& text) const;
  /// Character level concatenates; word level joins the words with single spaces. An index
  /// outside [0, size()) is an Error.
  std::string decode(const Indices& indices) const;

  /// FNV-1a 64 over the level and the ordered symbol list: equal exactly when two vocabularies
  /// map text to the same indices, so a checkpoint can refuse a different vocabulary.
  std::uint64_t fingerprint() const;
  /// fingerprint() as 16 lowercase hex digits (JSON numbers cannot hold 64 bits safely).
  std::string fingerprint_hex() const;

  bool operator==(const Vocabulary& o) const {
    return level_ == o.level_ && symbols_ == o.symbols_;
  }
  bool operator!=(const Vocabulary& o) const { return !(*this == o); }

 private:
  Vocabulary(Level level, std::vector<std::string> symbols);

  Level level_;
  std::vector<std::string> symbols_;
  std::unordered_map<std::string, std::int64_t> index_;
};

/// Splits UTF-8 text into word-level tokens exactly as Vocabulary does (exposed so that a
/// prompt can be shown token by token). Invalid UTF-8 is an Error naming the byte offset.
/// `starts`, when given, receives the byte offset where each token begins.
std::vector<std::string> tokenize_words(const std::string& text,
                                        std::vector<std::size_t>* starts = nullptr);

/// How many characters UTF-8 text holds (every byte but a continuation byte starts one; the
/// text is not validated).
std::size_t count_characters(const std::string& text);

/// The characters of UTF-8 text, each as its bytes. Invalid UTF-8 is an Error naming the byte
/// offset (`who` starts the message).
std::vector<std::string> split_characters(const std::string& text, const char* who = "text");

/// The largest text file tapegrad-lm reads unless told otherwise (--max-text): 256 MiB. Its
/// tokens take 8 bytes each, so a text this large already needs about 2 GiB at character level.
constexpr std::uint64_t kDefaultMaxTextBytes = std::uint64_t(256) << 20;

/// Reads a whole text file of at most max_bytes. A leading UTF-8 byte order mark is dropped.
/// Errors: the path cannot be opened, is not a regular file (a directory, a FIFO, a device:
/// refused before reading, so neither a FIFO nor /dev/zero can hang or exhaust memory), is
/// larger than max_bytes, is empty, holds fewer than 2 characters, or looks like a binary file
/// (a NUL byte -- reading stops at the piece that holds it -- or more than 30% control bytes
/// other than tab, newline, carriage return, form feed and vertical tab).
std::string load_text(const std::string& path, std::uint64_t max_bytes = kDefaultMaxTextBytes);

/// A small English corpus (about 5 KB) generated deterministically by this project: short
/// sentences about a king, a queen and their household, in which "the king sits on the
/// throne." is frequent, so a model can learn to complete "king sits on" with "the throne".
std::string builtin_corpus();

}  // namespace tapegrad::lm
