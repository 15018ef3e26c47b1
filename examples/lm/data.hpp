#pragma once
// The data layer of the tapegrad-lm trainer: text in, symbol indices out, and the batches a
// truncated-BPTT loop feeds to models::CharLM. Nothing here knows about tensors or tapes; every
// bad input (a missing file, invalid UTF-8, a sequence too short for the requested batch) is a
// tapegrad::Error whose message names the numbers involved, never a crash.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/error.hpp>
#include <tapegrad/tensor.hpp>

namespace tapegrad::lm {

/// What one symbol is: a Unicode code point, or a word / punctuation mark.
enum class Level { character, word };

/// "char" / "character" / "word" -> Level; anything else is an Error naming the accepted names.
Level parse_level(const std::string& name);
/// The 64-bit FNV-1a hash of the bytes as 16 lowercase hex digits: the data file's identity in
/// a checkpoint (the vocabulary's fingerprint uses the same hash).
std::string fnv1a_hex(const std::string& bytes);
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
std::vector<std::string> tokenize_words(const std::string& text);

/// Reads a whole text file. A leading UTF-8 byte order mark is dropped. Errors: the file
/// cannot be opened or read (naming the path and the system's reason), is empty, holds fewer
/// than 2 characters, or looks like a binary file (a NUL byte, or more than 30% control bytes
/// other than tab, newline, carriage return, form feed and vertical tab).
std::string load_text(const std::string& path);

/// The training part and the held-out tail of a token sequence.
struct Split {
  Indices train, validation;
};

/// The last round(n * val_fraction) symbols become the validation part. val_fraction must lie
/// in [0, 0.5]. With val_fraction > 0 both parts need at least 2 symbols (an input and its
/// target); with 0 the validation part is empty and train is the whole sequence.
Split split(const Indices& tokens, double val_fraction);

/// Where a StreamBatcher is: every stream's offset from its start (all streams move together)
/// and how many times the streams have wrapped. Saved in a checkpoint so that a resumed run
/// continues with the same batches.
struct Position {
  std::size_t offset = 0;
  std::size_t epoch = 0;
  bool operator==(const Position& o) const { return offset == o.offset && epoch == o.epoch; }
  bool operator!=(const Position& o) const { return !(*this == o); }
};

/// One chunk for truncated BPTT.
struct Batch {
  /// inputs[t][b]: the symbol stream b shows at step t (T steps of B symbols, CharLM's input).
  std::vector<Indices> inputs;
  /// targets[t * B + b] = the symbol after inputs[t][b]; matches CharLM's time-major logits rows.
  Indices targets;
  /// True when the streams went back to their starts for this batch: the state carried from
  /// the previous batch belongs to other text and must be reset to zeros.
  bool wrapped = false;
};

/// B parallel streams over one token sequence, as char-rnn trains: the sequence is cut into B
/// contiguous streams of L = n / B symbols each (the last n % B symbols are not used), stream b
/// covering [b * L, (b + 1) * L). Each next() returns the next T symbols of every stream and
/// advances all of them by T, so batch k+1 continues exactly where batch k stopped and the
/// hidden state can be carried. When a stream cannot supply T + 1 more symbols (T inputs plus
/// the target of the last), all streams wrap to their starts and epoch() increments.
class StreamBatcher {
 public:
  /// `unit` only words the error messages ("characters", "words"). Errors: batch or seq_len
  /// 0, or streams too short to supply seq_len + 1 symbols.
  StreamBatcher(Indices tokens, std::size_t batch, std::size_t seq_len,
                std::string unit = "symbols");

  /// The next chunk of seq_len() steps.
  Batch next() { return next(seq_len_); }
  /// The next chunk of `steps` steps (1 <= steps < stream_length(), else an Error).
  Batch next(std::size_t steps);

  std::size_t batch() const { return batch_; }
  std::size_t seq_len() const { return seq_len_; }
  std::size_t stream_length() const { return stream_length_; }
  /// Full chunks of `steps` steps each stream gives before wrapping.
  std::size_t batches_per_epoch(std::size_t steps) const;
  std::size_t batches_per_epoch() const { return batches_per_epoch(seq_len_); }

  std::size_t epoch() const { return position_.epoch; }
  /// Whether the last next() wrapped (the caller must reset its carried state).
  bool wrapped() const { return wrapped_; }

  Position position() const { return position_; }
  /// Continues from a saved position. The offset must be at most stream_length(); the next
  /// next() wraps first if fewer than steps + 1 symbols remain, exactly as an uninterrupted
  /// run would.
  void set_position(const Position& p);

 private:
  Indices tokens_;
  std::size_t batch_, seq_len_, stream_length_;
  std::string unit_;
  Position position_;
  bool wrapped_ = false;
};

/// A small English corpus (about 5 KB) generated deterministically by this project: short
/// sentences about a king, a queen and their household, in which "the king sits on the
/// throne." is frequent, so a model can learn to complete "king sits on" with "the throne".
std::string builtin_corpus();

}  // namespace tapegrad::lm
