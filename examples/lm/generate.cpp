#include "lm/generate.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <tapegrad/train/format.hpp>
#include <tapegrad/train/predictor.hpp>
#include <tapegrad/train/stream_batcher.hpp>

namespace tapegrad::lm {

namespace {

bool ends_sentence(const std::string& symbol) {
  return symbol == "." || symbol == "!" || symbol == "?" || symbol == "\n";
}

bool no_space_before(const std::string& s) {
  return s == "." || s == "," || s == ";" || s == ":" || s == "!" || s == "?" || s == ")" ||
         s == "]" || s == "}" || s == "'s";
}
bool no_space_after(const std::string& s) { return s == "(" || s == "[" || s == "{"; }

// The keyboard at word level: before each word, and after each character typed of it, it offers
// the most likely vocabulary word that begins with what is typed (never <unk>); one key accepts
// it when it is the word and at least 2 characters are left to type. The words are the text's
// own, so a word the vocabulary lacks counts its real characters (all typed).
KeystrokeSavings word_savings(const LanguageModel& lm, const std::vector<std::string>& words) {
  const Vocabulary& v = lm.vocabulary;
  KeystrokeSavings out;
  train::Predictor predictor(*lm.net, 1);
  std::vector<std::size_t> ends;  // ends[j]: the byte after the word's first j characters
  // best[m]: the most likely word sharing exactly m first characters with the text's word, then
  // (best over m' >= m) the keyboard's offer after m typed characters.
  std::vector<std::pair<double, std::int64_t>> best;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    const std::int64_t token = v.find(word).value_or(0);  // <unk> is index 0
    ends.assign(1, 0);
    for (std::size_t at = 1; at <= word.size(); ++at)
      if (at == word.size() || (static_cast<unsigned char>(word[at]) & 0xC0) != 0x80)
        ends.push_back(at);
    const std::size_t length = ends.size() - 1;
    out.characters += length;
    std::size_t typed = length;  // keys pressed for this word
    if (i > 0 && token != 0 && length >= 2) {
      const std::vector<double>& logits = predictor.logits();
      best.assign(length + 1, {-HUGE_VAL, -1});
      for (std::size_t w = 1; w < v.size(); ++w) {
        const std::string& s = v.symbol(w);
        std::size_t common = 0;  // bytes
        while (common < s.size() && common < word.size() && s[common] == word[common]) ++common;
        const std::size_t m =
            std::size_t(std::upper_bound(ends.begin(), ends.end(), common) - ends.begin()) - 1;
        if (logits[w] > best[m].first) best[m] = {logits[w], std::int64_t(w)};  // ties: first
      }
      for (std::size_t m = length; m-- > 0;) {
        const auto& longer = best[m + 1];
        if (longer.first > best[m].first ||
            (longer.first == best[m].first && longer.second < best[m].second))
          best[m] = longer;
      }
      for (std::size_t j = 0; j + 2 <= length; ++j)
        if (best[j].second == token) {
          typed = j + 1;
          ++out.accepted;
          break;
        }
    }
    out.keystrokes += typed;
    predictor.feed(token);
  }
  return out;
}

KeystrokeSavings character_savings(const LanguageModel& lm, const Indices& chars) {
  constexpr std::size_t kLongestCompletion = 20;
  KeystrokeSavings out;
  train::Predictor predictor(*lm.net, kLongestCompletion + 1);
  const auto word_char = [&](std::int64_t c) {
    return !ends_word(lm.vocabulary.symbol(std::size_t(c)));
  };
  Indices completion;
  std::size_t i = 0;
  while (i < chars.size()) {
    if (!word_char(chars[i])) {  // spaces and punctuation are typed (spaces not counted)
      if (!std::isspace(
              static_cast<unsigned char>(lm.vocabulary.symbol(std::size_t(chars[i]))[0]))) {
        ++out.characters;
        ++out.keystrokes;
      }
      predictor.feed(chars[i++]);
      continue;
    }
    // Inside a word: the suggestion is the greedy rest of the word after what is typed so far
    // (nothing to suggest before the text's first character).
    completion.clear();
    if (!predictor.empty())
      completion = suggest_completion(predictor, lm.vocabulary, kLongestCompletion);
    std::size_t end = i;  // the end of the text's current word
    while (end < chars.size() && word_char(chars[end])) ++end;
    const bool right =
        completion.size() >= 2 && completion.size() == end - i &&
        std::equal(completion.begin(), completion.end(), chars.begin() + std::ptrdiff_t(i));
    if (right) {
      out.characters += completion.size();
      ++out.keystrokes;
      ++out.accepted;
      for (; i < end; ++i) predictor.feed(chars[i]);
    } else {
      ++out.characters;
      ++out.keystrokes;
      predictor.feed(chars[i++]);
    }
  }
  return out;
}

}  // namespace

bool ends_word(const std::string& symbol) {
  if (symbol.size() != 1) return false;  // a multi-byte character: a letter of some script
  const unsigned char c = static_cast<unsigned char>(symbol[0]);
  return std::isspace(c) || (std::ispunct(c) && c != '\'');
}

std::int64_t never_suggested(const Vocabulary& vocabulary) {
  return vocabulary.level() == Level::word ? 0 : -1;  // <unk> is index 0
}

std::int64_t most_likely(const train::Predictor& predictor) {
  thread_local std::vector<std::pair<std::int64_t, double>> best;  // memory kept between calls
  predictor.top(1, best);
  return best.at(0).first;
}

Indices suggest_completion(train::Predictor& predictor, const Vocabulary& vocabulary,
                           std::size_t longest) {
  Indices out;
  if (predictor.empty()) return out;
  if (vocabulary.level() == Level::word) {
    out.push_back(most_likely(predictor));
    return out;
  }
  while (out.size() < longest) {
    const std::int64_t next = most_likely(predictor);
    if (ends_word(vocabulary.symbol(std::size_t(next)))) break;
    out.push_back(next);
    predictor.feed(next);
  }
  predictor.back(out.size());
  return out;
}

KeystrokeSavings keystroke_savings(const LanguageModel& lm, const std::string& text,
                                   std::size_t max_characters) {
  std::string part = text;
  if (max_characters > 0) {  // the first max_characters characters, cut at a character boundary
    std::size_t n = 0, at = 0;
    for (; at < text.size(); ++at)
      if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80 && n++ == max_characters) break;
    part = text.substr(0, at);
  }
  if (lm.vocabulary.level() == Level::word) return word_savings(lm, tokenize_words(part));
  return character_savings(lm, lm.vocabulary.encode(part));
}

HeldOut held_out_part(const LanguageModel& lm, const DataIdentity& trained_on,
                      const std::string& text) {
  if (train::fnv1a_hex(text) != trained_on.fingerprint)
    throw Error("the held-out part is that of the text the model trained on, " +
                trained_on.describe() + "; this text (" + std::to_string(text.size()) +
                " bytes) is another");
  if (!(lm.hp.val_fraction > 0))
    throw Error("the model was trained with --val-fraction 0: nothing was held out");
  HeldOut out;
  const Indices tokens = lm.vocabulary.encode(text);
  out.tokens = train::split(tokens, lm.hp.val_fraction).validation;
  const std::size_t first = tokens.size() - out.tokens.size();  // the first held-out token
  std::size_t at = 0;                                           // its byte offset
  if (lm.vocabulary.level() == Level::word) {
    std::vector<std::size_t> starts;
    tokenize_words(text, &starts);
    at = starts.at(first);
  } else {
    for (std::size_t n = 0; n < first; ++n) {  // to the start of the next character
      ++at;
      while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    }
  }
  out.text = text.substr(at);
  out.chars_per_token = characters_per_token(text, lm.vocabulary);
  return out;
}

std::string Detokenizer::next(std::int64_t token) {
  const std::string s = vocabulary_.decode(Indices{token});
  if (vocabulary_.level() == Level::character) return s;
  const bool space = !first_ && !no_space_before(s) && !no_space_after(previous_);
  first_ = false;
  previous_ = s;
  return space ? " " + s : s;
}

std::string detokenize(const Vocabulary& vocabulary, const Indices& tokens) {
  Detokenizer d(vocabulary);
  std::string out;
  for (std::int64_t t : tokens) out += d.next(t);
  return out;
}

Prompt read_prompt(const Vocabulary& vocabulary, const std::string& text,
                   bool skip_unknown_characters) {
  Prompt p;
  if (skip_unknown_characters && vocabulary.level() == Level::character) {
    for (const std::string& c : split_characters(text, "the text")) {
      if (const auto index = vocabulary.find(c))
        p.tokens.push_back(*index);
      else
        p.unknown_words.push_back(c);
    }
    return p;
  }
  p.tokens = vocabulary.encode(text);  // character level: Error naming an unknown character
  if (vocabulary.level() == Level::word)
    for (const std::string& w : tokenize_words(text))
      if (!vocabulary.find(w)) p.unknown_words.push_back(w);
  return p;
}

Completion complete(const LanguageModel& lm, const std::string& text, std::size_t top_k,
                    std::size_t max_greedy) {
  Completion out;
  out.prompt = read_prompt(lm.vocabulary, text);
  if (out.prompt.tokens.empty())
    throw Error("complete: the text '" + text + "' holds no " + lm.vocabulary.unit() +
                "; give at least one");
  if (top_k == 0) throw Error("complete: --top must be at least 1, got 0");
  train::Predictor predictor(*lm.net);
  predictor.never_suggest(never_suggested(lm.vocabulary));
  predictor.feed(out.prompt.tokens);
  for (const auto& [i, p] : predictor.top(top_k))
    out.top.push_back(Candidate{lm.vocabulary.symbol(std::size_t(i)), i, p});

  Indices continuation;
  for (std::size_t n = 0; n < max_greedy; ++n) {
    const std::int64_t next = most_likely(predictor);
    continuation.push_back(next);
    if (ends_sentence(lm.vocabulary.symbol(std::size_t(next)))) break;
    predictor.feed(next);
  }
  out.greedy = detokenize(lm.vocabulary, continuation);
  return out;
}

void sample(const LanguageModel& lm, const SampleOptions& o,
            const std::function<void(const std::string& piece)>& emit) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    throw Error(
        "sample: --temperature must be a number >= 0 (0 picks the most likely token), "
        "got " +
        train::format_number(o.temperature));
  const Vocabulary& v = lm.vocabulary;
  nn::Rng rng(o.seed);
  Indices prime;
  if (!o.prime.empty()) {
    prime = read_prompt(v, o.prime).tokens;
  } else {
    const auto start = v.find(v.level() == Level::character ? "\n" : ".");
    prime.push_back(start ? *start : std::int64_t(rng.uniform(0, double(v.size()))));
  }
  if (prime.empty())
    throw Error("sample: --prime '" + o.prime + "' holds no " + v.unit() + "; give at least one");

  Detokenizer text(v);
  if (!o.prime.empty())
    for (std::int64_t t : prime) emit(text.next(t));
  // Each drawn token is one step of the predictor (history 1: sampling never goes back).
  train::Predictor predictor(*lm.net, 1);
  predictor.feed(prime);
  for (std::size_t n = 0; n < o.length; ++n) {
    const std::int64_t next = train::draw_token(predictor.logits(), o.temperature, o.top_k, rng);
    emit(text.next(next));
    if (n + 1 < o.length) predictor.feed(next);
  }
}

std::string sample(const LanguageModel& lm, const SampleOptions& o) {
  std::string out;
  sample(lm, o, [&](const std::string& piece) { out += piece; });
  return out;
}

Evaluation evaluate_file(const LanguageModel& lm, const std::string& path,
                         std::uint64_t max_text_bytes) {
  const std::string text = load_text(path, max_text_bytes);
  Indices tokens;
  try {
    tokens = lm.vocabulary.encode(text);
  } catch (const Error& e) {
    throw Error("eval: '" + path + "': " + e.what());
  }
  if (tokens.size() < 2)
    throw Error("eval: '" + path + "' holds " + std::to_string(tokens.size()) + " " +
                lm.vocabulary.unit() + "; a loss needs at least 2");
  return evaluate_tokens(lm, tokens, characters_per_token(text, lm.vocabulary));
}

Evaluation evaluate_tokens(const LanguageModel& lm, const Indices& tokens, double chars_per_token) {
  return evaluate(*lm.net, tokens, lm.hp.batch, lm.hp.seq_len, chars_per_token, {},
                  never_suggested(lm.vocabulary));
}

}  // namespace tapegrad::lm
