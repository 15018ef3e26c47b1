#include "lm/train.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "lm/format.hpp"

namespace tapegrad::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool given(const TrainOptions& o, const std::string& flag) {
  return std::find(o.given.begin(), o.given.end(), flag) != o.given.end();
}

std::size_t count_characters(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char b : text)
    if ((b & 0xC0) != 0x80) ++n;  // every byte but a UTF-8 continuation byte starts a character
  return n;
}

// The text of a run: a file, or the built-in corpus.
std::string load_data(const std::string& path) {
  return path.empty() ? builtin_corpus() : load_text(path);
}

// "--seq-len" and "--batch" errors in the words of the flags, before StreamBatcher's own
// (which cannot tell which of the two is at fault).
void check_batching(std::size_t tokens, std::size_t batch, std::size_t seq_len, const char* unit) {
  if (seq_len + 1 > tokens)
    throw Error("--seq-len " + std::to_string(seq_len) + " is longer than the training data: " +
                std::to_string(tokens) + " " + unit + " (a chunk of " + std::to_string(seq_len) +
                " steps needs " + std::to_string(seq_len + 1) + ")");
  const std::size_t most = tokens / (seq_len + 1);
  if (batch > most)
    throw Error("--batch " + std::to_string(batch) +
                " is larger than the training data allows: " + std::to_string(tokens) + " " + unit +
                " make at most " + std::to_string(most) + " streams of " +
                std::to_string(seq_len + 1) + " (--seq-len " + std::to_string(seq_len) + " + 1)");
}

// ||grad|| of each Var, after a backward pass.
std::vector<double> gradient_norms(const std::vector<Var<float>>& vars) {
  std::vector<double> out;
  for (const Var<float>& v : vars) {
    double sq = 0;
    for (float g : v.grad()) sq += double(g) * double(g);
    out.push_back(std::sqrt(sq));
  }
  return out;
}

std::string list_differences(const std::vector<Difference>& diffs) {
  std::string out;
  for (const Difference& d : diffs)
    out += "\n  " + d.flag + ": the checkpoint has " + d.saved + ", given " + d.given;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

double Evaluation::bits_per_character() const {
  return characters > 0 ? nats / characters / std::log(2.0) : 0.0;
}

double characters_per_token(const std::string& text, const Vocabulary& vocabulary) {
  if (vocabulary.level() == Level::character) return 1.0;
  const std::size_t tokens = tokenize_words(text).size();
  return tokens ? double(count_characters(text)) / double(tokens) : 1.0;
}

Evaluation evaluate(const Model& net, const Indices& tokens, std::size_t batch, std::size_t seq_len,
                    double chars_per_token) {
  if (tokens.size() < 2)
    throw Error("evaluate: " + std::to_string(tokens.size()) +
                " tokens; a loss needs at least 2 (an input and its target)");
  if (batch == 0 || seq_len == 0) throw Error("evaluate: batch and seq_len must be at least 1");
  NoGradGuard no_grad;
  // As many streams as give each a full chunk (at most `batch`): fewer streams leave fewer
  // symbols unpredicted (the first of each stream) on a short text.
  const std::size_t streams =
      std::max<std::size_t>(1, std::min(batch, tokens.size() / (seq_len + 1)));
  const std::size_t length = tokens.size() / streams;
  const std::size_t steps = std::min(seq_len, length - 1);
  StreamBatcher batcher(tokens, streams, steps);
  Model::State state = net.zero_state(streams);
  Tape<float> tape;
  Evaluation out;
  // Full chunks, then the remainder: every stream predicts its symbols 1 .. length-1.
  std::size_t remaining = length - 1;
  while (remaining > 0) {
    const std::size_t n = std::min(steps, remaining);
    const Batch b = batcher.next(n);
    tape.clear();
    const Var<float> loss = softmax_cross_entropy(net.forward(tape, b.inputs, state), b.targets);
    out.nats += double(loss.item()) * double(b.targets.size());
    out.tokens += b.targets.size();
    remaining -= n;
  }
  out.characters = double(out.tokens) * chars_per_token;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Progress

std::string ProgressPrinter::format(const Status& s) {
  std::ostringstream o;
  char buf[64];
  o << "step " << s.step;
  if (s.max_steps) o << "/" << *s.max_steps;
  std::snprintf(buf, sizeof buf, "  loss %.4f", double(s.train_loss));
  o << buf;
  if (s.validation_loss) {
    std::snprintf(buf, sizeof buf, "  val %.4f", *s.validation_loss);
    o << buf;
  } else {
    o << "  val -";
  }
  o << "  " << format_rate(s.tokens_per_second) << " " << s.unit << "/s";
  o << "  elapsed " << format_duration(s.elapsed);
  if (s.max_seconds) o << "/" << format_duration(*s.max_seconds);
  o << "  ETA " << (s.eta ? format_duration(*s.eta) : std::string("-"));
  return o.str();
}

void ProgressPrinter::update(const Status& s, bool force) {
  if (terminal_) {
    // Redrawn at most ten times a second: a terminal that scrolls faster than it is read helps
    // no one, and printing costs time the steps could use.
    if (!force && last_draw_ >= 0 && s.elapsed - last_draw_ < 0.1 && s.elapsed >= last_draw_)
      return;
    last_draw_ = s.elapsed;
    std::fprintf(out_, "\r%s\x1b[K", format(s).c_str());
    line_open_ = true;
  } else {
    if (s.step == last_printed_step_ || (!force && s.step % print_every_ != 0 && s.step != 1))
      return;
    std::fprintf(out_, "%s\n", format(s).c_str());
    last_printed_step_ = s.step;
  }
  std::fflush(out_);
}

void ProgressPrinter::message(const std::string& text) {
  finish();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void ProgressPrinter::finish() {
  if (line_open_) std::fputc('\n', out_);
  line_open_ = false;
  std::fflush(out_);
}

// ---------------------------------------------------------------------------------------------
// Trainer

Trainer::Trainer(const TrainOptions& options) : options_(options) {
  TrainOptions& o = options_;
  if (o.max_steps && *o.max_steps == 0) throw Error("--steps must be at least 1, got 0");
  if (o.max_seconds && !(*o.max_seconds > 0 && std::isfinite(*o.max_seconds)))
    throw Error("--time must be a positive number of seconds, got " +
                format_number(*o.max_seconds));
  if (o.val_every == 0) throw Error("--val-every must be at least 1, got 0");
  if (o.checkpoint_every == 0) throw Error("--checkpoint-every must be at least 1, got 0");
  if (o.out_dir.empty()) throw Error("--out must name a directory, got an empty string");
  o.hp.validate();

  struct stat st {};
  const bool out_exists = ::stat(o.out_dir.c_str(), &st) == 0;
  if (out_exists && !S_ISDIR(st.st_mode))
    throw Error("--out '" + o.out_dir + "' is a file, expected a directory");
  const std::string checkpoint = checkpoint_path(o.out_dir);
  const bool has_checkpoint = ::stat(checkpoint.c_str(), &st) == 0;

  std::string text;
  if (o.resume) {
    if (!has_checkpoint)
      throw Error("--resume: '" + o.out_dir + "' holds no checkpoint to continue (expected " +
                  checkpoint + ")");
    ModelDir saved = load_model_dir(o.out_dir);
    std::vector<Difference> diffs;  // only the flags given: the others come from the checkpoint
    for (const Difference& d : differences(saved.lm->hp, o.hp))
      if (given(o, d.flag)) diffs.push_back(d);
    if (!diffs.empty())
      throw Error("--resume: the checkpoint in '" + o.out_dir +
                  "' was trained with other hyper-parameters:" + list_differences(diffs) +
                  "\nleave these flags out to continue with the checkpoint's values, or train "
                  "into another --out directory");
    o.hp = saved.lm->hp;
    if (!given(o, "--data")) o.data_path = saved.data.path;
    text = load_data(o.data_path);
    const Vocabulary vocabulary = Vocabulary::build(text, o.hp.level, o.hp.min_count);
    const std::string source =
        o.data_path.empty() ? "the built-in corpus" : "'" + o.data_path + "'";
    if (vocabulary != saved.lm->vocabulary)
      throw Error("--resume: the vocabulary of " + source + " (" +
                  std::to_string(vocabulary.size()) + " " + vocabulary.unit() + ", fingerprint " +
                  vocabulary.fingerprint_hex() + ") differs from the checkpoint's (" +
                  std::to_string(saved.lm->vocabulary.size()) + " " + saved.lm->vocabulary.unit() +
                  ", fingerprint " + saved.lm->vocabulary.fingerprint_hex() + ", trained on " +
                  saved.data.describe() + ")");
    data_ = DataIdentity::of(o.data_path, text);
    if (data_.fingerprint != saved.data.fingerprint || data_.bytes != saved.data.bytes)
      throw Error("--resume: the data differs from what the checkpoint was trained on: given " +
                  data_.describe() + ", the checkpoint has " + saved.data.describe() +
                  " (a resumed run must see the same text to continue exactly)");
    if (!o.max_steps && !o.max_seconds) {
      o.max_steps = saved.progress.max_steps;
      o.max_seconds = saved.progress.max_seconds;
    }
    progress_ = saved.progress;
    history_ = std::move(saved.history);
    lm_ = std::move(saved.lm);
    if (o.max_steps && *o.max_steps <= progress_.step)
      throw Error("--steps " + std::to_string(*o.max_steps) + ": the checkpoint in '" + o.out_dir +
                  "' is already at step " + std::to_string(progress_.step) +
                  "; ask for more steps to continue");
    if (o.max_seconds && *o.max_seconds <= progress_.train_seconds)
      throw Error("--time " + format_number(*o.max_seconds) + ": the checkpoint in '" + o.out_dir +
                  "' has already trained for " +
                  format_number(std::floor(progress_.train_seconds * 10) / 10) +
                  " s; ask for more time to continue");
  } else {
    if (has_checkpoint)
      throw Error("--out '" + o.out_dir + "' already holds a checkpoint (" + checkpoint +
                  "); pass --resume to continue it, or choose another --out directory");
    if (!o.max_steps && !o.max_seconds) throw Error("train: give --steps or --time (when to stop)");
    text = load_data(o.data_path);
    data_ = DataIdentity::of(o.data_path, text);
    lm_ =
        std::make_unique<LanguageModel>(o.hp, Vocabulary::build(text, o.hp.level, o.hp.min_count));
  }
  progress_.max_steps = o.max_steps;
  progress_.max_seconds = o.max_seconds;

  const Vocabulary& vocabulary = lm_->vocabulary;
  chars_per_token_ = characters_per_token(text, vocabulary);
  split_ = split(vocabulary.encode(text), o.hp.val_fraction);
  check_batching(split_.train.size(), o.hp.batch, o.hp.seq_len, vocabulary.unit());
  batcher_.emplace(split_.train, o.hp.batch, o.hp.seq_len, vocabulary.unit());
  if (o.resume) batcher_->set_position(progress_.position);
  if (o.resume && !history_.validation.empty())
    last_validation_ = Evaluation{history_.validation.back().second, 1, chars_per_token_};
}

const char* Trainer::unit() const {
  return lm_->vocabulary.level() == Level::character ? "chars" : "words";
}

bool Trainer::done() const {
  return (options_.max_steps && progress_.step >= *options_.max_steps) ||
         (options_.max_seconds && progress_.train_seconds >= *options_.max_seconds);
}

StepResult Trainer::step() {
  const Clock::time_point start = Clock::now();
  Model& net = *lm_->net;
  Batch batch = batcher_->next();
  // After a wrap the streams show other text than the carried state saw.
  if (batch.wrapped) lm_->carried = net.zero_state(lm_->hp.batch);
  last_start_state_ = lm_->carried;

  tape_.clear();
  hidden_.clear();
  const Var<float> loss = softmax_cross_entropy(
      net.forward(tape_, batch.inputs, lm_->carried, &hidden_), batch.targets);
  const float value = loss.item();
  if (!std::isfinite(value))
    throw Error("step " + std::to_string(progress_.step + 1) + ": the training loss is " +
                format_number(value) + " (the run diverged; lower --lr or set --clip); the last " +
                "checkpoint in '" + options_.out_dir + "' is kept");
  tape_.backward(loss);

  history_.last_step_hidden_grad_norms = gradient_norms(hidden_);
  const std::vector<Parameter<float>*> params = net.parameters();
  const double norm = nn::clip_grad_norm(
      params, lm_->hp.clip > 0 ? lm_->hp.clip : std::numeric_limits<double>::infinity());
  lm_->optimizer->step();
  lm_->optimizer->zero_grad();

  const std::size_t tokens = batch.targets.size();
  const double seconds = seconds_since(start);
  ++progress_.step;
  progress_.position = batcher_->position();
  progress_.train_seconds += seconds;
  progress_.train_tokens += tokens;
  ++session_steps_;
  session_seconds_ += seconds;
  session_tokens_ += tokens;
  history_.train_loss.push_back(value);
  history_.grad_norm.push_back(float(norm));
  const bool wrapped = batch.wrapped;
  last_batch_ = std::move(batch);
  return StepResult{value, norm, wrapped};
}

double Trainer::validate() {
  if (split_.validation.empty()) return std::numeric_limits<double>::quiet_NaN();
  last_validation_ =
      evaluate(*lm_->net, split_.validation, lm_->hp.batch, lm_->hp.seq_len, chars_per_token_);
  const double loss = last_validation_->nats_per_token();
  history_.validation.emplace_back(progress_.step, loss);
  return loss;
}

void Trainer::measure_gradient_reach() {
  if (!last_batch_) return;  // no step since the start or the resume: keep what was loaded
  // The last step again (the weights have moved on by one update since, which a diagnostic can
  // afford), with the loss of its last time step alone. Nothing of the training state changes:
  // the state is a copy, and the parameter gradients are zeroed again.
  Model& net = *lm_->net;
  const std::size_t steps = last_batch_->inputs.size(), batch = lm_->hp.batch;
  Model::State state = last_start_state_;
  Tape<float> tape;
  std::vector<Var<float>> hidden;
  const Var<float> logits = net.forward(tape, last_batch_->inputs, state, &hidden);
  const Indices last_targets(last_batch_->targets.end() - std::ptrdiff_t(batch),
                             last_batch_->targets.end());
  tape.backward(
      softmax_cross_entropy(slice(logits, 0, (steps - 1) * batch, steps * batch), last_targets));
  history_.last_time_step_grad_norms = gradient_norms(hidden);
  net.zero_grad();
}

void Trainer::save() {
  measure_gradient_reach();
  save_model_dir(options_.out_dir, *lm_, data_, progress_, history_);
}

ProgressPrinter::Status Trainer::status() const {
  ProgressPrinter::Status s{};
  s.step = progress_.step;
  s.max_steps = options_.max_steps;
  s.max_seconds = options_.max_seconds;
  s.train_loss = history_.train_loss.empty() ? 0.0f : history_.train_loss.back();
  if (!history_.validation.empty()) s.validation_loss = history_.validation.back().second;
  s.tokens_per_second = session_seconds_ > 0 ? double(session_tokens_) / session_seconds_ : 0.0;
  s.elapsed = progress_.train_seconds;
  std::optional<double> eta;
  if (options_.max_seconds) eta = std::max(0.0, *options_.max_seconds - progress_.train_seconds);
  if (options_.max_steps && session_steps_ > 0) {
    const double by_steps = double(*options_.max_steps - std::min(*options_.max_steps, s.step)) *
                            session_seconds_ / double(session_steps_);
    eta = eta ? std::min(*eta, by_steps) : by_steps;
  }
  s.eta = eta;
  s.unit = unit();
  return s;
}

Trainer::Outcome Trainer::run(const std::atomic<bool>* interrupt, ProgressPrinter* printer) {
  while (!done()) {
    if (interrupt && interrupt->load()) {
      save();
      if (printer) printer->finish();
      return Outcome::interrupted;
    }
    step();
    const std::size_t k = progress_.step;
    const bool last = done();
    const bool validating = (k % options_.val_every == 0 || last) && !split_.validation.empty();
    if (validating) validate();
    if (k % options_.checkpoint_every == 0 || last) save();
    if (printer) printer->update(status(), validating || last);
  }
  if (printer) printer->finish();
  return Outcome::finished;
}

}  // namespace tapegrad::lm
