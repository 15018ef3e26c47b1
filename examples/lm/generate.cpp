#include "lm/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lm/format.hpp"

namespace tapegrad::lm {

namespace {

// Feeds `tokens` (one stream) from `state` on, and returns the logits after the last one.
std::vector<double> feed(const Model& net, Model::State& state, const Indices& tokens) {
  NoGradGuard no_grad;
  Tape<float> tape;
  std::vector<Indices> steps;
  for (std::int64_t t : tokens) steps.push_back(Indices{t});
  const Var<float> logits = net.forward(tape, steps, state);
  const Tensor<float>& v = logits.value();
  const std::size_t vocabulary = v.shape()[1], last = v.shape()[0] - 1;
  std::vector<double> out(vocabulary);
  for (std::size_t i = 0; i < vocabulary; ++i) out[i] = v(last, i);
  return out;
}

// softmax(logits / temperature) in double; temperature > 0.
std::vector<double> probabilities(const std::vector<double>& logits, double temperature = 1.0) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    sum += p[i] = std::exp((logits[i] - top) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

std::int64_t argmax(const std::vector<double>& values) {
  return std::max_element(values.begin(), values.end()) - values.begin();
}

// The indices of the k largest values, largest first; ties keep index order.
std::vector<std::int64_t> top_indices(const std::vector<double>& values, std::size_t k) {
  std::vector<std::int64_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(i);
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(k), order.end(),
                    [&](std::int64_t a, std::int64_t b) {
                      return values[a] > values[b] || (values[a] == values[b] && a < b);
                    });
  order.resize(k);
  return order;
}

bool ends_sentence(const std::string& symbol) {
  return symbol == "." || symbol == "!" || symbol == "?" || symbol == "\n";
}

bool no_space_before(const std::string& s) {
  return s == "." || s == "," || s == ";" || s == ":" || s == "!" || s == "?" || s == ")" ||
         s == "]" || s == "}" || s == "'s";
}
bool no_space_after(const std::string& s) { return s == "(" || s == "[" || s == "{"; }

}  // namespace

std::string detokenize(const Vocabulary& vocabulary, const Indices& tokens) {
  if (vocabulary.level() == Level::character) return vocabulary.decode(tokens);
  std::string out;
  std::string previous;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const std::string s = vocabulary.decode(Indices{tokens[k]});
    if (k > 0 && !no_space_before(s) && !no_space_after(previous)) out += ' ';
    out += s;
    previous = s;
  }
  return out;
}

Prompt read_prompt(const Vocabulary& vocabulary, const std::string& text) {
  Prompt p;
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
  Model::State state = lm.net->zero_state(1);
  std::vector<double> logits = feed(*lm.net, state, out.prompt.tokens);
  const std::vector<double> p = probabilities(logits);
  for (std::int64_t i : top_indices(p, top_k))
    out.top.push_back(Candidate{lm.vocabulary.symbol(std::size_t(i)), i, p[std::size_t(i)]});

  Indices continuation;
  for (std::size_t n = 0; n < max_greedy; ++n) {
    const std::int64_t next = argmax(logits);
    continuation.push_back(next);
    if (ends_sentence(lm.vocabulary.symbol(std::size_t(next)))) break;
    logits = feed(*lm.net, state, Indices{next});
  }
  out.greedy = detokenize(lm.vocabulary, continuation);
  return out;
}

std::string sample(const LanguageModel& lm, const SampleOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature))
    throw Error(
        "sample: --temperature must be a number >= 0 (0 picks the most likely token), "
        "got " +
        format_number(o.temperature));
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

  Model::State state = lm.net->zero_state(1);
  std::vector<double> logits = feed(*lm.net, state, prime);
  Indices drawn;
  for (std::size_t n = 0; n < o.length; ++n) {
    std::int64_t next;
    if (o.temperature == 0) {
      next = argmax(logits);
    } else {
      std::vector<double> p = probabilities(logits, o.temperature);
      if (o.top_k > 0 && o.top_k < p.size()) {
        std::vector<double> kept(p.size(), 0.0);
        for (std::int64_t i : top_indices(p, o.top_k)) kept[std::size_t(i)] = p[std::size_t(i)];
        p = std::move(kept);
      }
      double total = 0;
      for (double x : p) total += x;
      const double u = rng.uniform(0, total);
      next = std::int64_t(p.size()) - 1;
      double cumulative = 0;
      for (std::size_t i = 0; i < p.size(); ++i) {
        cumulative += p[i];
        if (p[i] > 0 && u < cumulative) {
          next = std::int64_t(i);
          break;
        }
      }
      while (p[std::size_t(next)] == 0) --next;  // rounding at the very end: the last kept token
    }
    drawn.push_back(next);
    logits = feed(*lm.net, state, Indices{next});
  }
  Indices all = o.prime.empty() ? Indices{} : prime;
  all.insert(all.end(), drawn.begin(), drawn.end());
  return detokenize(v, all);
}

Evaluation evaluate_file(const LanguageModel& lm, const std::string& path) {
  const std::string text = load_text(path);
  Indices tokens;
  try {
    tokens = lm.vocabulary.encode(text);
  } catch (const Error& e) {
    throw Error("eval: '" + path + "': " + e.what());
  }
  if (tokens.size() < 2)
    throw Error("eval: '" + path + "' holds " + std::to_string(tokens.size()) + " " +
                lm.vocabulary.unit() + "; a loss needs at least 2");
  return evaluate(*lm.net, tokens, lm.hp.batch, lm.hp.seq_len,
                  characters_per_token(text, lm.vocabulary));
}

}  // namespace tapegrad::lm
