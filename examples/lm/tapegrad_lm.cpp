// tapegrad-lm: train a recurrent language model on your own text, then sample from it, complete
// prompts with it and evaluate it. Training is the tapegrad::train library's (the Trainer, the
// language-model task, the hyper-parameter schema); tapegrad_lm (train.hpp, generate.hpp,
// model_dir.hpp) adds the vocabulary, model directories and plots; this file is the command line.
//
// Exit codes: 0 success; 1 an error (bad data, a checkpoint that cannot be used, I/O);
// 2 a usage error (unknown flag, malformed or out-of-range value); 130 training was interrupted
// by SIGINT and a checkpoint was saved (143 for SIGTERM).
//
// Under mpirun (`mpirun -np N tapegrad-lm train ...`), train runs data-parallel: the N processes
// share --batch, rank 0 alone prints and writes --out, and an error is reported once.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>

#include <limits>
#include <map>
#include <variant>

#include <CLI/CLI.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/interrupt.hpp>
#include <tapegrad/train/value_error.hpp>

#ifdef TAPEGRAD_HAVE_MPI
#include <tapegrad/distributed/communicator.hpp>
#endif

#include "common/cli.hpp"
#include "lm/generate.hpp"
#include "lm/train.hpp"
#ifdef TAPEGRAD_HAVE_HTTPLIB
#include <chrono>
#include <thread>

#include "lm/serve.hpp"
#endif

namespace {

using namespace tapegrad;
using namespace tapegrad::lm;
using train::format_duration;
using train::format_number;
using train::format_rate;

constexpr int kExitError = 1, kExitUsage = 2;
constexpr std::size_t kDefaultSteps = 100;

std::string quoted_symbol(const Vocabulary& v, const std::string& s) {
  if (v.level() == Level::word) return s;
  if (s == "\n") return "'\\n'";
  if (s == "\t") return "'\\t'";
  return "'" + s + "'";
}

std::string model_summary(LanguageModel& lm) {
  const Hyperparameters& hp = lm.hp;
  return std::to_string(hp.layers) + "-layer " + hp.model + " (hidden " +
         std::to_string(hp.hidden) + ", " +
         (hp.embed ? "embedding " + std::to_string(hp.embed) : std::string("one-hot input")) +
         ", " + std::to_string(lm.net->parameter_count()) + " parameters), " +
         level_name(hp.level) + " level, vocabulary of " + std::to_string(lm.vocabulary.size()) +
         " " + lm.vocabulary.unit();
}

// ---------------------------------------------------------------------------------------------

struct TrainFlags {
  TrainOptions options;
  std::uint64_t max_memory = 0;
  std::map<std::string, std::string> choices;  // the text of each choice flag, by field name
  std::size_t steps = 0;
  double seconds = 0;
};

// The options a resumed run must agree with the checkpoint on (the data, its symbols, the
// model, the optimiser, the seed): one group, so that --help lists them together and
// run_train finds every one that was given.
const char* const kMustMatch = "Model and data (given with --resume, must match the checkpoint)";

// One flag per hyper-parameter, from its declaration in Hyperparameters::schema(): the name,
// the range or the names, the default and the help text.
void add_hyperparameter_flags(CLI::App& cmd, TrainFlags& f) {
  using Schema = train::Schema<Hyperparameters>;
  Hyperparameters& hp = f.options.hp;
  for (const Schema::Field& field : Hyperparameters::schema().fields()) {
    const std::string flag = flag_of(field.name);
    CLI::Option* opt = nullptr;
    if (const auto* i = std::get_if<Schema::Integer>(&field.kind)) {
      opt = cmd.add_option(flag, hp.*(i->member), field.help)
                ->transform(examples::integer_in(i->lo, i->hi));
      if (!i->zero_is_none) opt->capture_default_str();  // 0 means "none", not a value to give
    } else if (const auto* n = std::get_if<Schema::Number>(&field.kind)) {
      opt = cmd.add_option(flag, hp.*(n->member), field.help)
                ->check(examples::number(n->range.expected, n->range.contains))
                ->capture_default_str();
    } else {
      const Schema::Choice& choice = std::get<Schema::Choice>(field.kind);
      std::vector<std::string> accepted = choice.names;
      for (const auto& [alias, name] : choice.aliases) accepted.push_back(alias);
      std::string& text = f.choices[field.name];
      // --level defaults to the data's kind ("auto"), not to a fixed name.
      text = field.name == "level" ? "auto" : choice.get(hp);
      opt = cmd.add_option(flag, text, field.help)->check(CLI::IsMember(accepted));
      if (field.name != "level") opt->capture_default_str();
    }
    if (field.must_match) opt->group(kMustMatch);
  }
}

void add_train_flags(CLI::App& cmd, TrainFlags& f) {
  TrainOptions& o = f.options;
  cmd.add_option("--data", o.data_path,
                 "UTF-8 text file to train on (default: the built-in corpus); the last "
                 "--val-fraction of it is held out for validation")
      ->type_name("FILE")
      ->group(kMustMatch);
  add_hyperparameter_flags(cmd, f);
  auto* steps =
      cmd.add_option("--steps", f.steps,
                     "stop after N steps in all (default " + std::to_string(kDefaultSteps) +
                         " unless --time is given or a resumed run has its own)")
          ->transform(examples::integer_in(1, std::size_t(1) << 40));
  cmd.add_option("--time", f.seconds,
                 "stop when the training time of all sessions reaches SECONDS (time spent in "
                 "training steps; validation and checkpoints are not counted)")
      ->check(examples::number("a positive number of seconds",
                               [](double v) { return v > 0 && std::isfinite(v); }))
      ->type_name("SECONDS")
      ->excludes(steps);
  cmd.add_option("--out", o.out_dir, "directory for the checkpoint, plots and logs")
      ->type_name("DIR")
      ->capture_default_str();
  cmd.add_flag("--resume", o.resume,
               "continue the checkpoint in --out exactly where it stopped; hyper-parameters not "
               "given are taken from it, given ones must match");
  cmd.add_option("--val-every", o.val_every, "validate every N steps (and at the end)")
      ->transform(examples::integer_in(1, 100000000))
      ->capture_default_str();
  cmd.add_option("--checkpoint-every", o.checkpoint_every,
                 "save a checkpoint every N steps (and at the end)")
      ->transform(examples::integer_in(1, 100000000))
      ->capture_default_str();
  cmd.add_option("--max-text", o.max_text_bytes,
                 "the largest --data file read (K, M, G: binary units); a text's tokens take 8 "
                 "bytes each")
      ->transform(examples::byte_size())
      ->default_str("256M");
  cmd.add_option("--max-memory", f.max_memory,
                 "refuse a run estimated to need more memory than SIZE (default: this machine's "
                 "memory, " +
                     train::format_bytes(machine_memory_bytes()) + ")")
      ->transform(examples::byte_size());
  cmd.add_option("--print-every", o.print_every,
                 "when stderr is not a terminal: a progress line every N steps")
      ->transform(examples::integer_in(1, 100000000))
      ->capture_default_str();
}

// A data-parallel run's error: reported once, by rank 0 (the processes of a run usually fail
// alike), or by the process that alone failed.
struct ReportedError {
  int exit_code;
};

// The processes of this run when mpirun started several (nullptr alone). Without MPI, several
// processes would each train alone into the same --out: refused.
std::unique_ptr<train::ProcessGroup> join_processes() {
  const std::size_t launched = train::launched_processes();
  if (launched < 2) return nullptr;
#ifdef TAPEGRAD_HAVE_MPI
  return std::make_unique<distributed::Communicator>();
#else
  throw UsageError("started as " + std::to_string(launched) +
                   " processes (mpirun), but this tapegrad-lm was built without MPI: install "
                   "libopenmpi-dev and rebuild for data-parallel training");
#endif
}

// Runs `work` on every process; when it throws on any, every process learns of it (a sum and
// rank 0's message) and the error is printed once: by rank 0, or by a process whose message
// differs from rank 0's. Every process reaches this point, so it waits for no one forever.
template <class Work>
void agree(train::ProcessGroup* group, Work&& work) {
  if (!train::is_parallel(group)) {
    work();
    return;
  }
  std::string error;
  int code = 0;
  try {
    work();
  } catch (const UsageError& e) {
    error = e.what();
    code = kExitUsage;
  } catch (const train::ValueError& e) {
    error = e.message(flag_of);
    code = kExitError;
  } catch (const std::exception& e) {
    error = e.what();
    code = kExitError;
  }
  double failed = code != 0 ? 1 : 0;
  group->sum(&failed, 1);
  const std::string root_error = train::broadcast_string(*group, error);
  if (failed == 0) return;
  if (!error.empty() && (group->rank() == 0 || error != root_error))
    std::fprintf(
        stderr, "tapegrad-lm: %s%s\n",
        group->rank() == 0 ? "" : ("process " + std::to_string(group->rank()) + ": ").c_str(),
        error.c_str());
  throw ReportedError{code != 0 ? code : kExitError};
}

int run_train(CLI::App& cmd, TrainFlags& f) {
  TrainOptions& o = f.options;
  for (const CLI::Option* opt :
       cmd.get_options([](const CLI::Option* opt) { return opt->get_group() == kMustMatch; }))
    if (opt->count() > 0) o.given.push_back(opt->get_name());
  using Schema = train::Schema<Hyperparameters>;
  for (const Schema::Field& field : Hyperparameters::schema().fields())
    if (const auto* choice = std::get_if<Schema::Choice>(&field.kind))
      if (cmd.count(flag_of(field.name)) > 0)
        choice->set(o.hp, Schema::resolve(field, f.choices[field.name]));
  if (cmd.count("--level") == 0) o.hp.level = o.data_path.empty() ? Level::word : Level::character;
  if (cmd.count("--steps")) o.max_steps = f.steps;
  if (cmd.count("--time")) o.max_seconds = f.seconds;
  if (!o.resume && !o.max_steps && !o.max_seconds) o.max_steps = kDefaultSteps;
  if (cmd.count("--max-memory")) o.max_memory_bytes = double(f.max_memory);

  const std::unique_ptr<train::ProcessGroup> processes = join_processes();
  train::ProcessGroup* group = processes.get();
  o.processes = group;
  const bool speaks = !group || group->rank() == 0;  // rank 0 alone prints
  // mpirun stops reading the processes' output as soon as it is interrupted, while they still
  // finish their step and save: a progress line written then must not end the process (SIGPIPE)
  // before the checkpoint is written.
  if (group) std::signal(SIGPIPE, SIG_IGN);
  // The processes of a data-parallel run say nothing when signalled: mpirun signals all of them
  // and stops reading their output, so a write could block until mpirun kills the process; rank
  // 0 reports the interruption once its checkpoint is saved.
  train::install_interrupt_handlers(group != nullptr);
  std::unique_ptr<Trainer> made;
  agree(group, [&] { made = std::make_unique<Trainer>(o); });
  Trainer& trainer = *made;
  // Training: an error every process raised together (a diverged loss, a failed write on rank
  // 0) is reported by rank 0; one only this process has ends all of them (the others would
  // wait for it in their next step).
  const auto train = [&](ProgressPrinter* printer) {
    try {
      return trainer.run(&train::interrupt_flag(), printer);
    } catch (const train::CollectiveError& e) {
      if (!group) throw;
      if (printer) printer->finish();
      if (speaks) std::fprintf(stderr, "tapegrad-lm: %s\n", e.what());
      throw ReportedError{kExitError};
    } catch (const std::exception& e) {
      if (!group) throw;
      std::fprintf(stderr, "tapegrad-lm: process %zu: %s\n", group->rank(), e.what());
      group->abort(kExitError);
      throw;  // not reached: abort ends this process
    }
  };
  if (!speaks) {
    return train(nullptr) == Trainer::Outcome::interrupted ? train::interrupted_exit_code() : 0;
  }
  LanguageModel& lm = trainer.model();
  const TrainOptions& run = trainer.options();
  std::string stop;
  if (run.max_steps) stop = "after step " + std::to_string(*run.max_steps);
  if (run.max_seconds)
    stop += (stop.empty() ? "" : " or ") + std::string("after ") + format_number(*run.max_seconds) +
            " s of training";
  std::fprintf(stderr, "%s %s\n  data: %s; %zu training and %zu validation %s\n",
               run.resume ? "resuming" : "training", model_summary(lm).c_str(),
               trainer.data().describe().c_str(), trainer.batcher().stream_length() * lm.hp.batch,
               trainer.validation_tokens(), lm.vocabulary.unit());
  std::fprintf(
      stderr, "  batch %zu x seq-len %zu, %s lr %s, clip %s; stopping %s; output in %s%s\n",
      lm.hp.batch, lm.hp.seq_len, lm.hp.optimizer.c_str(), format_number(lm.hp.lr).c_str(),
      format_number(lm.hp.clip).c_str(), stop.c_str(), run.out_dir.c_str(),
      run.resume ? (" (from step " + std::to_string(trainer.progress().step) + ")").c_str() : "");
  const Hyperparameters& hp = lm.hp;
  std::string recipe = "  learning rate: " + hp.schedule().describe();
  if (hp.weight_decay > 0) recipe += "; weight decay " + format_number(hp.weight_decay);
  if (hp.dropout > 0) recipe += "; dropout " + format_number(hp.dropout);
  recipe += "; " + hp.init + " init";
  if (hp.forget_bias != 0) recipe += ", forget-gate bias " + format_number(hp.forget_bias);
  if (hp.patience > 0)
    recipe +=
        "; stopping early after " + std::to_string(hp.patience) + " validations without a new best";
  std::fprintf(stderr, "%s\n", recipe.c_str());
  std::fprintf(stderr, "  memory: about %s estimated%s, %s allowed (--max-memory)\n",
               train::format_bytes(trainer.memory().total()).c_str(), group ? " per process" : "",
               train::format_bytes(trainer.memory_limit()).c_str());
  if (group)
    std::fprintf(stderr,
                 "  data-parallel: %zu processes, %zu streams each; gradients averaged every "
                 "step\n",
                 group->size(), lm.hp.batch / group->size());

  ProgressPrinter printer(stderr, ::isatty(STDERR_FILENO) == 1, run.print_every);
  const Trainer::Outcome outcome = train(&printer);
  const std::string checkpoint = checkpoint_path(run.out_dir);
  if (outcome == Trainer::Outcome::interrupted) {
    std::printf(
        "interrupted at step %zu: checkpoint saved in %s\ncontinue with: tapegrad-lm train "
        "--out %s --resume\n",
        trainer.progress().step, checkpoint.c_str(), run.out_dir.c_str());
    return train::interrupted_exit_code();
  }
  const auto validation = trainer.last_validation();
  const auto best = trainer.best_validation();
  if (outcome == Trainer::Outcome::stopped_early && best)
    std::printf("stopped early: %zu validations without improving on step %zu's\n", hp.patience,
                best->first);
  std::printf("trained %zu steps in %s (%s %s/s)\n", trainer.progress().step,
              format_duration(trainer.progress().train_seconds).c_str(),
              format_rate(double(trainer.progress().train_items) /
                          std::max(1e-9, trainer.progress().train_seconds))
                  .c_str(),
              trainer.unit());
  if (validation)
    std::printf("validation loss %.4f nats/%s (%.4f bits/char)\n", validation->nats_per_token(),
                lm.hp.level == Level::character ? "char" : "word",
                validation->bits_per_character());
  if (best)
    std::printf("best validation loss %.4f at step %zu: %s\n", best->second, best->first,
                train::best_checkpoint_path(run.out_dir).c_str());
  std::printf("checkpoint: %s (plots: losses.svg, gradient_norms.svg; log: log.csv)\n",
              checkpoint.c_str());
  if (group)
    std::printf(
        "data-parallel: %zu processes; averaging gradients took %s of this session's "
        "training time on rank 0\n",
        group->size(),
        (format_number(std::round(1000 * trainer.averaging_seconds() /
                                  std::max(1e-9, trainer.progress().train_seconds)) /
                       10) +
         "%")
            .c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------

// The checkpoint `which` of `dir`, saying on stderr which file that is: the best and the latest
// are different models.
ModelDir load_for_use(const std::string& dir, const std::string& which) {
  ModelDir m = load_model_dir(dir, parse_which(which));
  const auto best = m.history.best_validation();
  std::string what = "using " + m.path + " (step " + std::to_string(m.progress.step);
  if (!m.history.validation.empty() && m.history.validation.back().first == m.progress.step)
    what += ", validation loss " +
            format_number(std::round(m.history.validation.back().second * 1e4) / 1e4);
  what += ")";
  if (which == "best" && m.path != train::best_checkpoint_path(dir))
    what += "; it has no best.npz";
  else if (which == "latest" && best && best->first != m.progress.step)
    what +=
        "; the best validation was at step " + std::to_string(best->first) + " (--checkpoint best)";
  std::fprintf(stderr, "%s\n", what.c_str());
  return m;
}

int run_complete(const std::string& dir, const std::string& which, const std::string& text,
                 std::size_t top) {
  const ModelDir m = load_for_use(dir, which);
  const LanguageModel& lm = *m.lm;
  const Completion c = complete(lm, text, top);
  for (const std::string& w : c.prompt.unknown_words)
    std::fprintf(stderr, "note: '%s' is not in the model's vocabulary; read as <unk>\n", w.c_str());
  std::printf("next %s after \"%s\":\n",
              lm.vocabulary.level() == Level::word ? "word" : "character", text.c_str());
  for (const Candidate& k : c.top) {
    const int bar = int(std::lround(k.probability * 30));
    std::printf("  %-14s %.4f  %s\n", quoted_symbol(lm.vocabulary, k.symbol).c_str(), k.probability,
                std::string(std::size_t(bar), '#').c_str());
  }
  const std::string space =
      lm.vocabulary.level() == Level::word && !c.greedy.empty() && c.greedy[0] != '.' ? " " : "";
  std::printf("most likely continuation: %s%s%s\n", text.c_str(), space.c_str(), c.greedy.c_str());
  return 0;
}

int run_sample(const std::string& dir, const std::string& which, const SampleOptions& o) {
  const ModelDir m = load_for_use(dir, which);
  const Prompt prompt = read_prompt(m.lm->vocabulary, o.prime);
  for (const std::string& w : prompt.unknown_words)
    std::fprintf(stderr, "note: '%s' is not in the model's vocabulary; read as <unk>\n", w.c_str());
  // Each token as it is drawn: a long sample shows as it is made, and a reader that stops
  // early (| head) stops the program.
  sample(*m.lm, o, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n");
  return 0;
}

int run_eval(const std::string& dir, const std::string& which, std::string path,
             std::uint64_t max_text, std::size_t ksr_chars, bool held_out) {
  if (!held_out && path.empty()) throw UsageError("eval: give --data FILE, or --held-out");
  const ModelDir m = load_for_use(dir, which);
  const bool words = m.lm->vocabulary.level() == Level::word;
  const char* unit = words ? "word" : "char";
  Evaluation e;
  KeystrokeSavings k;
  std::string what = path;
  if (held_out) {
    if (path.empty()) path = m.data.path;  // the training text itself
    const std::string text = path.empty() ? builtin_corpus() : load_text(path, max_text);
    HeldOut part;
    try {
      part = held_out_part(*m.lm, m.data, text);
    } catch (const Error& err) {
      throw Error("eval --held-out: " + std::string(err.what()));
    }
    e = evaluate_tokens(*m.lm, part.tokens, part.chars_per_token);
    k = keystroke_savings(*m.lm, part.text, ksr_chars);
    what = "the held-out part of " + m.data.describe() + ", the last " +
           std::to_string(part.tokens.size()) + " " + m.lm->vocabulary.unit() +
           " (--val-fraction " + format_number(m.lm->hp.val_fraction) + ")";
  } else {
    e = evaluate_file(*m.lm, path, max_text);
    k = keystroke_savings(*m.lm, load_text(path, max_text), ksr_chars);
  }
  std::printf("%s: %.4f nats/%s, %.4f bits/char over %zu predicted %s", what.c_str(),
              e.nats_per_token(), unit, e.bits_per_character(), e.tokens, m.lm->vocabulary.unit());
  if (words)
    std::printf(" (%.2f characters per word, the %s mean with whitespace)",
                e.characters / double(e.tokens), held_out ? "training text's" : "file's");
  std::printf("\n");
  std::printf("perplexity %.2f per %s; next %s top-1 accuracy %.1f%%, top-3 %.1f%%\n",
              e.perplexity(), unit, unit, 100 * e.top1_accuracy(), 100 * e.top3_accuracy());
  std::printf(
      "keystroke savings %.1f%%: %zu keys for %zu characters, %zu suggestions accepted (%s; "
      "the first %s characters, --ksr-chars)\n",
      100 * k.rate(), k.keystrokes, k.characters, k.accepted,
      words ? "the most likely word starting with the letters typed, before and after each letter"
            : "the rest of the word suggested",
      ksr_chars == 0 ? "all" : std::to_string(ksr_chars).c_str());
  return 0;
}

#ifdef TAPEGRAD_HAVE_HTTPLIB
int run_serve(const std::string& dir, const std::string& which, ServeOptions options) {
  const ModelDir m = load_for_use(dir, which);
  CompletionServer server(*m.lm, options);
  const int port = server.bind();
  std::printf("serving %s on http://%s:%d/ (POST /complete, GET /health; Ctrl-C stops)\n",
              m.path.c_str(), options.host.c_str(), port);
  std::fflush(stdout);
  // The signal handler only sets the flag; this thread turns it into a graceful stop (the
  // requests in progress finish).
  train::install_interrupt_handlers(true);
  std::atomic<bool> served{false};
  std::thread watcher([&] {
    while (!served.load() && !train::interrupt_flag().load())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();
  });
  server.serve();
  served = true;
  watcher.join();
  std::printf("stopped\n");
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tapegrad-lm: train a recurrent language model (RNN, LSTM or GRU) on your text, then "
      "sample from it, complete prompts with it and evaluate it.\n"
      "  tapegrad-lm train                      # the built-in corpus, in well under a minute\n"
      "  tapegrad-lm complete --model tapegrad-lm-model \"king sits on\"\n"
      "  tapegrad-lm train --data input.txt --model lstm --hidden 256 --time 300"};
  app.name("tapegrad-lm");
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success; 1 error (bad data, unusable checkpoint, I/O); 2 usage error "
      "(unknown flag, malformed or out-of-range value); 130 training interrupted by SIGINT "
      "(Ctrl-C) after saving a checkpoint (143 for SIGTERM).\n"
      "Data-parallel: 'mpirun -np N tapegrad-lm train ...' shares --batch among N processes "
      "(cores or machines); rank 0 writes --out.\n"
      "Run 'tapegrad-lm COMMAND --help' for the flags of a command.");

  TrainFlags train_flags;
  CLI::App* train = app.add_subcommand(
      "train",
      "train a model; writes checkpoint.npz, losses.svg, gradient_norms.svg, log.csv and "
      "summary.json to --out; Ctrl-C saves a checkpoint that --resume continues exactly");
  add_train_flags(*train, train_flags);

  std::string model_dir = "tapegrad-lm-model";
  std::string which = "best";
  // Every command that uses a model can choose which of its checkpoints.
  const auto add_which = [&which](CLI::App* cmd) {
    cmd->add_option("--checkpoint", which,
                    "best (best.npz: the lowest validation loss; checkpoint.npz when there is "
                    "none) or latest (checkpoint.npz: where training stopped)")
        ->check(CLI::IsMember(which_names()))
        ->capture_default_str();
  };
  SampleOptions sample_options;
  CLI::App* sample_cmd =
      app.add_subcommand("sample", "generate text from a trained model, one token at a time");
  sample_cmd->add_option("--model", model_dir, "the --out directory of tapegrad-lm train")
      ->type_name("DIR")
      ->capture_default_str();
  add_which(sample_cmd);
  sample_cmd->add_option("--prime", sample_options.prime,
                         "text to start from (default: the start of a line or sentence)");
  sample_cmd->add_option("--length", sample_options.length, "tokens to generate")
      ->transform(examples::integer_in(0, 10000000))
      ->capture_default_str();
  sample_cmd
      ->add_option("--temperature", sample_options.temperature,
                   "divides the logits: < 1 more conservative, > 1 more surprising, 0 always "
                   "the most likely token")
      ->check(
          examples::number("a number >= 0", [](double v) { return v >= 0 && std::isfinite(v); }))
      ->capture_default_str();
  sample_cmd
      ->add_option("--top-k", sample_options.top_k,
                   "draw only from the K most likely tokens (0: from all)")
      ->transform(examples::integer_in(0, 10000000))
      ->capture_default_str();
  sample_cmd->add_option("--seed", sample_options.seed, "seed of the draws")
      ->transform(examples::integer_in(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();

  std::size_t top = 5;
  std::string prompt;
  CLI::App* complete_cmd =
      app.add_subcommand("complete", "the most likely next tokens after TEXT, with probabilities");
  complete_cmd->add_option("--model", model_dir, "the --out directory of tapegrad-lm train")
      ->type_name("DIR")
      ->capture_default_str();
  add_which(complete_cmd);
  complete_cmd->add_option("--top", top, "how many next tokens to list")
      ->transform(examples::integer_in(1, 1000000))
      ->capture_default_str();
  complete_cmd->add_option("TEXT", prompt, "the text so far, e.g. \"king sits on\"")->required();

  std::string eval_data;
  CLI::App* eval_cmd =
      app.add_subcommand("eval",
                         "a text file: loss (nats per token, bits per character), perplexity, "
                         "top-1/top-3 next-token accuracy and keystroke savings");
  eval_cmd->add_option("--model", model_dir, "the --out directory of tapegrad-lm train")
      ->type_name("DIR")
      ->capture_default_str();
  add_which(eval_cmd);
  eval_cmd->add_option("--data", eval_data, "UTF-8 text file to evaluate on")->type_name("FILE");
  bool eval_held_out = false;
  eval_cmd->add_flag("--held-out", eval_held_out,
                     "evaluate on the part of the training text that training held out "
                     "(--val-fraction), split as training split it; the text is --data, or the "
                     "training file itself");
  std::uint64_t eval_max_text = kDefaultMaxTextBytes;
  std::size_t ksr_chars = 20000;
  eval_cmd
      ->add_option("--ksr-chars", ksr_chars,
                   "characters of the file the keystroke savings are simulated on (0: all; "
                   "at character level each costs several model steps)")
      ->transform(examples::integer_in(0, 1000000000))
      ->capture_default_str();
  eval_cmd->add_option("--max-text", eval_max_text, "the largest --data file read")
      ->transform(examples::byte_size())
      ->default_str("256M");

#ifdef TAPEGRAD_HAVE_HTTPLIB
  ServeOptions serve_options;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "autocomplete over HTTP: a page that suggests as you type (GET /), POST /complete with "
      "{\"text\": ..., \"top\": K}, GET /health");
  serve_cmd->add_option("--model", model_dir, "the --out directory of tapegrad-lm train")
      ->type_name("DIR")
      ->capture_default_str();
  add_which(serve_cmd);
  serve_cmd
      ->add_option("--host", serve_options.host,
                   "the address to listen on: loopback by default; 0.0.0.0 listens on every "
                   "network of this machine (anyone who reaches it can use the model)")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve_options.port, "the port (0: any free one)")
      ->transform(examples::integer_in(0, 65535))
      ->capture_default_str();
  serve_cmd
      ->add_option("--threads", serve_options.threads, "requests served at once (the worker pool)")
      ->transform(examples::integer_in(1, 256))
      ->capture_default_str();
  serve_cmd
      ->add_option("--sessions", serve_options.sessions,
                   "typists whose state is kept between key presses (0: none, each request "
                   "reads its whole text); the least recently used goes first")
      ->transform(examples::integer_in(0, 100000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--session-history", serve_options.session_history,
                   "tokens a session can erase without reading its text again")
      ->transform(examples::integer_in(1, 4096))
      ->capture_default_str();
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;  // --help exits 0
  }

  try {
    if (*train) return run_train(*train, train_flags);
    if (*sample_cmd) return run_sample(model_dir, which, sample_options);
    if (*complete_cmd) return run_complete(model_dir, which, prompt, top);
    if (*eval_cmd)
      return run_eval(model_dir, which, eval_data, eval_max_text, ksr_chars, eval_held_out);
#ifdef TAPEGRAD_HAVE_HTTPLIB
    if (*serve_cmd) return run_serve(model_dir, which, serve_options);
#endif
  } catch (const ReportedError& e) {
    return e.exit_code;
  } catch (const UsageError& e) {  // the flags asked for it (more memory than fits, ...)
    std::fprintf(stderr, "tapegrad-lm: %s\n", e.what());
    return kExitUsage;
  } catch (const train::ValueError& e) {  // the library names values; users know the flags
    std::fprintf(stderr, "tapegrad-lm: %s\n", e.message(flag_of).c_str());
    return kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-lm: %s\n", e.what());
    return kExitError;
  }
  return kExitUsage;
}
