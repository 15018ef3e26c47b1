#pragma once
// Using a trained model with text: the next-token distribution after a prompt (complete), text
// drawn one token at a time (sample), and the loss on a file (eval). The numbers come from the
// training library's sampling helpers and evaluate(); this layer reads and writes text.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <tapegrad/train/predictor.hpp>

#include "lm/model_dir.hpp"
#include "lm/train.hpp"

namespace tapegrad::lm {

/// A prompt read with the model's vocabulary. Character level: an unknown character is an
/// Error naming it and its position, or, with skip_unknown_characters, left out and listed
/// (what a keyboard does with a character its model never saw). Word level: unknown words
/// become <unk> and are listed. Invalid UTF-8 is an Error naming the byte offset.
struct Prompt {
  Indices tokens;
  std::vector<std::string> unknown_words;  // or characters
};
Prompt read_prompt(const Vocabulary& vocabulary, const std::string& text,
                   bool skip_unknown_characters = false);

/// The token a keyboard never offers: at word level "<unk>" (index 0), at character level none
/// (-1). For Predictor::never_suggest and evaluate().
std::int64_t never_suggested(const Vocabulary& vocabulary);
/// The most likely next token that the predictor offers (Predictor::top(1)).
std::int64_t most_likely(const train::Predictor& predictor);
/// The keyboard's suggestion after the tokens `predictor` has read: character level, the greedy
/// rest of the current word (the most likely characters, fed back, until one that ends a word
/// -- whitespace or punctuation other than an apostrophe -- or `longest`); word level, the most
/// likely next word (never <unk> when the predictor is told so). The predictor is left as it
/// was.
Indices suggest_completion(train::Predictor& predictor, const Vocabulary& vocabulary,
                           std::size_t longest = 20);
/// Whether a character-level symbol ends a word (see suggest_completion).
bool ends_word(const std::string& symbol);

struct Candidate {
  std::string symbol;
  std::int64_t index;
  double probability;
};

struct Completion {
  Prompt prompt;
  std::vector<Candidate> top;  // most likely first; ties keep vocabulary order
  /// Greedy continuation: the most likely token, fed back, until a sentence ends (". ! ?" or a
  /// newline) or `max_greedy` tokens.
  std::string greedy;
};

/// The `top_k` most likely next tokens after `text` (which must hold at least one token).
Completion complete(const LanguageModel& lm, const std::string& text, std::size_t top_k,
                    std::size_t max_greedy = 20);

struct SampleOptions {
  std::string prime;  // empty: start after a newline (character) or "." (word) when known
  std::size_t length = 200;
  double temperature = 1.0;  // 0: always the most likely token
  std::size_t top_k = 0;     // 0: all tokens
  std::uint64_t seed = 1;
};
/// The prime followed by `length` drawn tokens, as text (word level is re-spaced: no space
/// before closing punctuation), handed to `emit` piece by piece as each token is drawn (the
/// prime first), so that a long sample shows as it is made and nothing accumulates.
void sample(const LanguageModel& lm, const SampleOptions& options,
            const std::function<void(const std::string& piece)>& emit);
/// The same, collected into one string.
std::string sample(const LanguageModel& lm, const SampleOptions& options);

/// The loss of the model on a text file (its vocabulary; at character level an unknown
/// character is an Error), with the model's batch and sequence length. The file is read as by
/// load_text, at most max_text_bytes of it.
Evaluation evaluate_file(const LanguageModel& lm, const std::string& path,
                         std::uint64_t max_text_bytes = kDefaultMaxTextBytes);

/// How many keys a keyboard user saves on `text` with the model's suggestions, simulated:
///  - word level: before each word of the text, and after each character typed of it, the
///    keyboard suggests the most likely vocabulary word that begins with the characters typed
///    (never <unk>); when it is the word and at least 2 characters are left, one key accepts it,
///    otherwise the next character is typed. A word the vocabulary lacks is typed in full, its
///    own characters counted;
///  - character level: at each point the keyboard suggests the greedy completion of the current
///    word (the most likely characters, fed back, until a character that is not part of a word
///    -- whitespace or punctuation other than an apostrophe -- or 20 characters); when it is
///    exactly the rest of the word and at least 2 characters, one key accepts it, otherwise one
///    character is typed.
/// Spaces between words count for neither. Only the first max_characters characters of the text
/// are simulated (0: all): a character-level simulation runs several model steps per character.
struct KeystrokeSavings {
  std::size_t characters = 0;  // characters simulated (spaces between words excluded)
  std::size_t keystrokes = 0;  // keys pressed, accepting every right suggestion
  std::size_t accepted = 0;    // suggestions accepted
  /// The share of characters not typed: 1 - keystrokes / characters.
  double rate() const { return characters ? 1.0 - double(keystrokes) / double(characters) : 0.0; }
};
KeystrokeSavings keystroke_savings(const LanguageModel& lm, const std::string& text,
                                   std::size_t max_characters = 0);

/// The part of a model's training text that training held out for validation: the last
/// val_fraction of its tokens, split exactly as tapegrad-lm train splits them.
struct HeldOut {
  Indices tokens;
  std::string text;            // from the first held-out token to the end
  double chars_per_token = 1;  // of the whole text: bits per character as training reports
};
/// An Error when `text` is not the text the model trained on (its fingerprint differs) or the
/// model held nothing out.
HeldOut held_out_part(const LanguageModel& lm, const DataIdentity& trained_on,
                      const std::string& text);
/// evaluate() with the model's batch and sequence length, <unk> never suggested.
Evaluation evaluate_tokens(const LanguageModel& lm, const Indices& tokens, double chars_per_token);

/// Word-level tokens joined as text: single spaces, none before closing punctuation or after
/// opening brackets. Character level: concatenation.
std::string detokenize(const Vocabulary& vocabulary, const Indices& tokens);

/// detokenize one token at a time: each call returns the token's text with the space that goes
/// before it, so the pieces concatenate to detokenize() of all the tokens.
class Detokenizer {
 public:
  explicit Detokenizer(const Vocabulary& vocabulary) : vocabulary_(vocabulary) {}
  std::string next(std::int64_t token);

 private:
  const Vocabulary& vocabulary_;
  bool first_ = true;
  std::string previous_;
};

}  // namespace tapegrad::lm
