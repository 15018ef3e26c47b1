#include "lm/train.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <tapegrad/train/format.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::lm {

using train::format_duration;
using train::format_number;
using train::format_rate;

namespace {

bool given(const TrainOptions& o, const std::string& flag) {
  return std::find(o.given.begin(), o.given.end(), flag) != o.given.end();
}

// The text of a run: a file, or the built-in corpus.
std::string load_data(const std::string& path, std::uint64_t max_bytes) {
  return path.empty() ? builtin_corpus() : load_text(path, max_bytes);
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

std::string list_differences(const std::vector<train::Difference>& diffs) {
  std::string out;
  for (const train::Difference& d : diffs)
    out += "\n  " + flag_of(d.name) + ": the checkpoint has " + d.saved + ", given " + d.given;
  return out;
}

}  // namespace

double characters_per_token(const std::string& text, const Vocabulary& vocabulary) {
  if (vocabulary.level() == Level::character) return 1.0;
  const std::size_t tokens = tokenize_words(text).size();
  return tokens ? double(count_characters(text)) / double(tokens) : 1.0;
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
  std::snprintf(buf, sizeof buf, "  lr %.3g", s.lr);
  o << buf;
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
  // The library names values ({max_steps}, {seq_len}); tapegrad-lm's users know them as flags.
  try {
    TrainOptions& o = options_;
    if (o.out_dir.empty()) throw Error("--out must name a directory, got an empty string");
    try {
      o.hp.validate();
    } catch (const train::ValueError& e) {
      throw UsageError(e.message(flag_of));
    }

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
      ModelDir saved = load_model_dir(o.out_dir);  // checks all of it before anything is used
      std::vector<train::Difference> diffs;  // only the flags given: the rest is the checkpoint's
      for (const train::Difference& d : Hyperparameters::schema().differences(saved.lm->hp, o.hp))
        if (given(o, flag_of(d.name))) diffs.push_back(d);
      if (!diffs.empty())
        throw Error("--resume: the checkpoint in '" + o.out_dir +
                    "' was trained with other hyper-parameters:" + list_differences(diffs) +
                    "\nleave these flags out to continue with the checkpoint's values, or train "
                    "into another --out directory");
      o.hp = saved.lm->hp;
      if (!given(o, "--data")) o.data_path = saved.data.path;
      text = load_data(o.data_path, o.max_text_bytes);
      const Vocabulary vocabulary = Vocabulary::build(text, o.hp.level, o.hp.min_count);
      const std::string source =
          o.data_path.empty() ? "the built-in corpus" : "'" + o.data_path + "'";
      if (vocabulary != saved.lm->vocabulary)
        throw Error(
            "--resume: the vocabulary of " + source + " (" + std::to_string(vocabulary.size()) +
            " " + vocabulary.unit() + ", fingerprint " + vocabulary.fingerprint_hex() +
            ") differs from the checkpoint's (" + std::to_string(saved.lm->vocabulary.size()) +
            " " + saved.lm->vocabulary.unit() + ", fingerprint " +
            saved.lm->vocabulary.fingerprint_hex() + ", trained on " + saved.data.describe() + ")");
      data_ = DataIdentity::of(o.data_path, text);
      if (data_.fingerprint != saved.data.fingerprint || data_.bytes != saved.data.bytes)
        throw Error("--resume: the data differs from what the checkpoint was trained on: given " +
                    data_.describe() + ", the checkpoint has " + saved.data.describe() +
                    " (a resumed run must see the same text to continue exactly)");
      check_memory(o.hp, saved.lm->vocabulary.size(), text);
      // The run's step limit: the one given, else the checkpoint's unless --time replaces it.
      check_recipe(o.hp, o.max_steps || o.max_seconds ? o.max_steps : saved.progress.max_steps);
      lm_ = std::move(saved.lm);
    } else {
      if (has_checkpoint)
        throw Error("--out '" + o.out_dir + "' already holds a checkpoint (" + checkpoint +
                    "); pass --resume to continue it, or choose another --out directory");
      if (!o.max_steps && !o.max_seconds)
        throw Error("train: give --steps or --time (when to stop)");
      check_recipe(o.hp, o.max_steps);
      text = load_data(o.data_path, o.max_text_bytes);
      data_ = DataIdentity::of(o.data_path, text);
      Vocabulary vocabulary = Vocabulary::build(text, o.hp.level, o.hp.min_count);
      check_memory(o.hp, vocabulary.size(), text);
      lm_ = std::make_unique<LanguageModel>(o.hp, std::move(vocabulary));
    }
    set_up(text);
  } catch (const train::ValueError& e) {
    throw Error(e.message(flag_of));
  }
}

void Trainer::check_recipe(const Hyperparameters& hp, std::optional<std::size_t> max_steps) {
  try {
    hp.schedule().validate(max_steps);
  } catch (const train::ValueError& e) {
    throw UsageError(e.message(flag_of));
  }
  if (hp.forget_bias != 0 && hp.model != "lstm")
    throw UsageError("--forget-bias " + format_number(hp.forget_bias) +
                     ": a forget gate is an lstm's; --model is " + hp.model);
}

double machine_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

double Trainer::memory_limit() const {
  return options_.max_memory_bytes ? *options_.max_memory_bytes : machine_memory_bytes();
}

void Trainer::check_memory(const Hyperparameters& hp, std::size_t vocabulary,
                           const std::string& text) {
  train::TrainingSizes sizes;
  sizes.vocabulary = vocabulary;
  sizes.embed = hp.embed;
  sizes.hidden = hp.hidden;
  sizes.layers = hp.layers;
  sizes.cell = Model::parse_cell(hp.model);
  sizes.optimizer = hp.optimizer;
  // One process's share: the estimate and the limit are per process.
  sizes.batch = hp.batch / train::shard_of(options_.processes).count;
  sizes.seq_len = hp.seq_len;
  // At word level every token takes at least one byte: a bound that needs no tokenising.
  sizes.tokens = hp.level == Level::character ? count_characters(text) : text.size();
  sizes.text_bytes = text.size();
  memory_ = train::estimate_training_memory(sizes);
  const double limit = memory_limit();
  if (limit > 0 && memory_.total() > limit)
    throw MemoryLimitError(
        "this run would need about " + memory_.describe(hp.optimizer) + ", more than the " +
        train::format_bytes(limit) + " allowed (--max-memory; " +
        (options_.max_memory_bytes ? "given" : "default: this machine's memory") +
        "); lower --hidden, --layers, --batch or --seq-len, or raise --max-memory");
}

void Trainer::set_up(const std::string& text) {
  TrainOptions& o = options_;
  const std::size_t processes = train::shard_of(o.processes).count;
  if (o.hp.batch % processes != 0)
    throw UsageError("--batch " + std::to_string(o.hp.batch) + " does not divide among the " +
                     std::to_string(processes) +
                     " processes of this run: each trains on an equal share of the streams (give "
                     "a multiple of " +
                     std::to_string(processes) + ", or run " +
                     (o.resume ? "as many processes as divide the checkpoint's --batch"
                               : "another number of processes") +
                     ")");
  const Vocabulary& vocabulary = lm_->vocabulary;
  chars_per_token_ = characters_per_token(text, vocabulary);
  const train::Split parts = train::split(vocabulary.encode(text), o.hp.val_fraction);
  check_batching(parts.train.size(), o.hp.batch, o.hp.seq_len, vocabulary.unit());
  task_ = std::make_unique<train::LanguageModelTask>(
      *lm_->net, lm_->carried, parts.train, parts.validation, o.hp.batch, o.hp.seq_len,
      vocabulary.unit(), chars_per_token_, o.processes);

  train::TrainerOptions t;
  t.max_steps = o.max_steps;
  t.max_seconds = o.max_seconds;
  t.validate_every = o.val_every;
  t.checkpoint_every = o.checkpoint_every;
  t.clip = o.hp.clip;
  t.schedule = o.hp.schedule();
  if (o.hp.patience > 0) t.patience = o.hp.patience;
  t.out_dir = o.out_dir;
  t.processes = o.processes;
  t.metadata = checkpoint_metadata(*lm_, data_);
  t.on_checkpoint = [this] { write_reports(options_.out_dir, *lm_, data_, progress(), history()); };
  t.on_progress = [this](const train::Report& r) {
    if (!printer_) return;
    // Under mpirun, an interrupted run prints nothing until its checkpoint is saved: mpirun stops
    // reading the processes' output when it is signalled, and a write blocked on a full pipe
    // would hold the save until mpirun kills the process.
    if (options_.processes && interrupt_ && interrupt_->load()) return;
    printer_->update(
        ProgressPrinter::Status{r.step, r.max_steps, r.max_seconds, r.train_loss, r.validation_loss,
                                r.lr, r.items_per_second, r.elapsed, r.eta, unit()},
        r.validated || r.last);
  };
  trainer_ = std::make_unique<train::Trainer>(*lm_->net, *lm_->optimizer, *task_, std::move(t));
  if (o.resume) {
    trainer_->resume(read_model_dir_metadata(o.out_dir));
    o.max_steps = trainer_->options().max_steps;
    o.max_seconds = trainer_->options().max_seconds;
    const train::History& h = trainer_->history();
    if (!h.validation.empty())
      resumed_validation_ = Evaluation{h.validation.back().second, 1, chars_per_token_};
  }
}

const char* Trainer::unit() const {
  return lm_->vocabulary.level() == Level::character ? "chars" : "words";
}

const History& Trainer::history() const {
  static_cast<train::History&>(history_) = trainer_->history();
  history_.last_step_hidden_grad_norms = task_->last_step_hidden_grad_norms();
  history_.last_time_step_grad_norms = task_->last_time_step_grad_norms();
  return history_;
}

std::optional<std::pair<std::size_t, double>> Trainer::best_validation() const {
  return trainer_->history().best_validation();
}

std::optional<Evaluation> Trainer::last_validation() const {
  const std::optional<Evaluation> v = task_->last_validation();
  return v ? v : resumed_validation_;
}

StepResult Trainer::step() {
  const train::StepResult r = trainer_->step();
  return StepResult{r.loss, r.grad_norm, task_->last_batch_wrapped()};
}

double Trainer::validate() {
  return trainer_->validate().value_or(std::numeric_limits<double>::quiet_NaN());
}

void Trainer::save() { trainer_->save(); }

Trainer::Outcome Trainer::run(const std::atomic<bool>* interrupt, ProgressPrinter* printer) {
  trainer_->set_interrupt(interrupt);
  interrupt_ = interrupt;
  printer_ = printer;
  const train::Trainer::Outcome outcome = trainer_->run();
  if (printer) printer->finish();
  printer_ = nullptr;
  switch (outcome) {
    case train::Trainer::Outcome::interrupted:
      return Outcome::interrupted;
    case train::Trainer::Outcome::stopped_early:
      return Outcome::stopped_early;
    case train::Trainer::Outcome::finished:
      break;
  }
  return Outcome::finished;
}

}  // namespace tapegrad::lm
