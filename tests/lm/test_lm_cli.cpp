// The real tapegrad-lm program, run as a subprocess: --help, exit codes, usage errors in CLI11's
// words, a whole train -> complete -> sample -> eval session, and Ctrl-C during training
// (exit 130 with a checkpoint that loads and that --resume continues).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "lm/lm_support.hpp"
#include "lm/model_dir.hpp"

using namespace tapegrad::lm;
using lmtest::contains;
using lmtest::LmTempDir;
using lmtest::read_file;
using lmtest::small_text;

namespace {

const std::string kProgram = TAPEGRAD_LM_PROGRAM;

struct Result {
  int code = -1;  // the exit code, or 128 + signal if a signal ended it
  std::string out, err;
};

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Starts tapegrad-lm with `args`, stdout to `out_path` and stderr to `err_fd`.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path, int err_fd) {
  std::vector<char*> argv{const_cast<char*>(kProgram.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::close(STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

Result run(const LmTempDir& tmp, const std::vector<std::string>& args) {
  const std::string out = tmp.path("stdout.txt"), err = tmp.path("stderr.txt");
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const pid_t pid = spawn(args, out, err_fd);
  ::close(err_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return Result{exit_code(status), read_file(out), read_file(err)};
}

// The flags of a tiny character-level run on `data` (well under a second).
std::vector<std::string> tiny_train(const std::string& data, const std::string& out) {
  return {"train", "--data",    data, "--out",   out, "--hidden",    "8", "--embed",
          "4",     "--seq-len", "8",  "--batch", "4", "--val-every", "5"};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_cli)

BOOST_AUTO_TEST_CASE(help_lists_every_command_flag_and_exit_code) {
  LmTempDir tmp;
  const Result top = run(tmp, {"--help"});
  BOOST_TEST(top.code == 0);
  for (const char* part : {"train", "sample", "complete", "eval", "Exit codes: 0 success",
                           "2 usage error", "130 training interrupted by SIGINT"})
    BOOST_TEST(contains(top.out, part), part);

  const Result train = run(tmp, {"train", "--help"});
  BOOST_TEST(train.code == 0);
  for (const char* flag : {"--data",
                           "--level",
                           "--min-count",
                           "--model",
                           "--hidden",
                           "--layers",
                           "--embed",
                           "--seq-len",
                           "--batch",
                           "--optimizer",
                           "--lr",
                           "--clip",
                           "--steps",
                           "--time",
                           "--val-fraction",
                           "--seed",
                           "--out",
                           "--resume",
                           "--val-every",
                           "--checkpoint-every",
                           "--dropout",
                           "--weight-decay",
                           "--lr-schedule",
                           "--warmup",
                           "--lr-min",
                           "--lr-decay",
                           "--lr-decay-every",
                           "--lr-decay-start",
                           "--init",
                           "--forget-bias",
                           "--patience"})
    BOOST_TEST(contains(train.out, flag), flag);
  const Result sample = run(tmp, {"sample", "--help"});
  for (const char* flag :
       {"--model", "--checkpoint", "--prime", "--length", "--temperature", "--top-k", "--seed"})
    BOOST_TEST(contains(sample.out, flag), flag);
  BOOST_TEST(contains(run(tmp, {"complete", "--help"}).out, "--top"));
  BOOST_TEST(contains(run(tmp, {"eval", "--help"}).out, "--data"));
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_and_name_the_flag_and_value) {
  LmTempDir tmp;
  const Result none = run(tmp, {});
  BOOST_TEST(none.code == 2);
  BOOST_TEST(contains(none.err, "A subcommand is required"), none.err);

  const Result unknown = run(tmp, {"train", "--hiden", "8"});
  BOOST_TEST(unknown.code == 2);
  BOOST_TEST(contains(unknown.err, "--hiden"), unknown.err);

  const Result hidden = run(tmp, {"train", "--hidden", "0"});
  BOOST_TEST(hidden.code == 2);
  BOOST_TEST(contains(hidden.err, "--hidden: expected an integer in 1..65536, got '0'"),
             hidden.err);

  // Integers are decimal and in range: these used to train with seed 2^64-1 (or 16), exit 0.
  for (const char* seed : {"-1", "18446744073709551616", "0x10", "1e3", " 7", ""}) {
    const Result r = run(tmp, {"train", "--seed", seed, "--out", tmp.path("seeded")});
    BOOST_TEST(r.code == 2, seed);
    BOOST_TEST(
        contains(r.err, std::string("--seed: expected an integer in 0..18446744073709551615, "
                                    "got '") +
                            seed + "'"),
        r.err);
    BOOST_TEST(!lmtest::fs::exists(tmp.path("seeded")));
  }
  const Result sample_seed = run(tmp, {"sample", "--seed", "-5"});
  BOOST_TEST(sample_seed.code == 2);
  BOOST_TEST(
      contains(sample_seed.err, "--seed: expected an integer in 0..18446744073709551615, got '-5'"),
      sample_seed.err);
  const Result steps = run(tmp, {"train", "--steps", "0x10"});
  BOOST_TEST(steps.code == 2);
  BOOST_TEST(contains(steps.err, "--steps: expected an integer in 1..1099511627776, got '0x10'"),
             steps.err);
  const Result hex_lr = run(tmp, {"train", "--lr", "0x1p-3"});
  BOOST_TEST(hex_lr.code == 2);
  BOOST_TEST(contains(hex_lr.err, "--lr: expected a positive number, got '0x1p-3'"), hex_lr.err);

  // Sizes that pass each range check but not together are refused before anything is
  // allocated (they used to end in a bare std::bad_alloc), with the estimate and the limit.
  const Result huge =
      run(tmp, {"train", "--layers", "64", "--hidden", "2048", "--out", tmp.path("huge")});
  BOOST_TEST(huge.code == 2);
  BOOST_TEST(contains(huge.err, "tapegrad-lm: this run would need about "), huge.err);
  BOOST_TEST(contains(huge.err,
                      "allowed (--max-memory; default: this machine's memory); lower "
                      "--hidden, --layers, --batch or --seq-len, or raise --max-memory"),
             huge.err);
  BOOST_TEST(!lmtest::fs::exists(tmp.path("huge")));
  const Result wide =
      run(tmp, {"train", "--hidden", "65536", "--batch", "1000000", "--out", tmp.path("huge")});
  BOOST_TEST(wide.code == 2);
  BOOST_TEST(contains(wide.err, "TiB"), wide.err);
  const Result small = run(tmp, {"train", "--max-memory", "1M", "--out", tmp.path("huge")});
  BOOST_TEST(small.code == 2);
  BOOST_TEST(contains(small.err, "more than the 1.0 MiB allowed (--max-memory; given)"), small.err);
  const Result size = run(tmp, {"train", "--max-memory", "12Q"});
  BOOST_TEST(size.code == 2);
  BOOST_TEST(
      contains(size.err,
               "--max-memory: expected a size in bytes such as 1048576, 512M or 1.5G, got '12Q'"),
      size.err);
  const std::string data = tmp.write("data.txt", small_text());
  const Result text =
      run(tmp, {"train", "--data", data, "--max-text", "100", "--out", tmp.path("huge")});
  BOOST_TEST(text.code == 1);
  BOOST_TEST(
      text.err ==
      "tapegrad-lm: '" + data +
          "': is 680 bytes, more than the 100 bytes accepted (raise the limit with --max-text)\n");

  const Result lr = run(tmp, {"train", "--lr", "-0.1"});
  BOOST_TEST(lr.code == 2);
  BOOST_TEST(contains(lr.err, "--lr: expected a positive number, got '-0.1'"), lr.err);

  const Result temperature = run(tmp, {"sample", "--temperature", "-1"});
  BOOST_TEST(temperature.code == 2);
  BOOST_TEST(contains(temperature.err, "--temperature: expected a number >= 0, got '-1'"),
             temperature.err);

  const Result both = run(tmp, {"train", "--steps", "5", "--time", "5"});
  BOOST_TEST(both.code == 2);
  BOOST_TEST(contains(both.err, "--steps excludes --time"), both.err);
}

BOOST_AUTO_TEST_CASE(recipe_flags_out_of_range_exit_2_name_the_value_and_write_nothing) {
  LmTempDir tmp;
  const std::string data = tmp.write("data.txt", small_text());
  const std::string out = tmp.path("recipe");
  struct Bad {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {{"--dropout", "1"}, "--dropout: expected a number in [0, 1), got '1'"},
      {{"--dropout", "-0.1"}, "--dropout: expected a number in [0, 1), got '-0.1'"},
      {{"--weight-decay", "-1e-4"}, "--weight-decay: expected a number >= 0, got '-1e-4'"},
      {{"--patience", "0"}, "--patience: expected an integer in 1..1000000, got '0'"},
      {{"--lr-schedule", "linear"}, "--lr-schedule: linear not in {constant,cosine,step}"},
      {{"--init", "he"}, "--init: he not in {xavier,pytorch}"},
      {{"--lr-decay", "1.5"}, "--lr-decay: expected a number in (0, 1], got '1.5'"},
      {{"--warmup", "20", "--steps", "20"},
       "tapegrad-lm: --warmup 20 is not shorter than the run (--steps 20): the rate would never "
       "reach --lr"},
      {{"--lr-schedule", "cosine", "--lr", "0.01", "--lr-min", "0.02"},
       "tapegrad-lm: --lr-min: expected a number in [0, --lr) = [0, 0.01), got 0.02"},
      {{"--model", "gru", "--forget-bias", "1"},
       "tapegrad-lm: --forget-bias 1: a forget gate is an lstm's; --model is gru"},
  };
  for (const Bad& b : bad) {
    const Result r = run(tmp, tiny_train(data, out) + b.flags);
    BOOST_TEST(r.code == 2, b.message);
    BOOST_TEST(contains(r.err, b.message), r.err);
    BOOST_TEST(!lmtest::fs::exists(out), b.message);
  }
}

BOOST_AUTO_TEST_CASE(errors_exit_1_with_the_message) {
  LmTempDir tmp;
  const Result missing =
      run(tmp, {"train", "--data", tmp.path("nope.txt"), "--out", tmp.path("m")});
  BOOST_TEST(missing.code == 1);
  BOOST_TEST(missing.err == "tapegrad-lm: '" + tmp.path("nope.txt") +
                                "': cannot open: No such file or directory\n");
  const Result no_model = run(tmp, {"complete", "--model", tmp.path("m"), "king"});
  BOOST_TEST(no_model.code == 1);
  BOOST_TEST(no_model.err ==
             "tapegrad-lm: model directory '" + tmp.path("m") + "': No such file or directory\n");
}

BOOST_AUTO_TEST_CASE(train_complete_sample_and_eval) {
  LmTempDir tmp;
  const std::string data = tmp.write("data.txt", small_text());
  const std::string dir = tmp.path("model");
  const Result train = run(tmp, tiny_train(data, dir) + std::vector<std::string>{"--steps", "10"});
  BOOST_TEST_REQUIRE(train.code == 0, train.err);
  BOOST_TEST(contains(train.out, "trained 10 steps"), train.out);
  BOOST_TEST(contains(train.out, "nats/char"), train.out);
  // Off a terminal: plain lines, no carriage returns.
  BOOST_TEST(contains(train.err, "\nstep 10/10  loss "), train.err);
  BOOST_TEST(!contains(train.err, "\r"));
  for (const char* file : {"checkpoint.npz", "best.npz", "losses.svg", "gradient_norms.svg",
                           "log.csv", "summary.json"})
    BOOST_TEST(lmtest::fs::exists(dir + "/" + file), file);
  BOOST_TEST(contains(train.out, "best validation loss "), train.out);

  const Result complete = run(tmp, {"complete", "--model", dir, "--top", "3", "the c"});
  BOOST_TEST(complete.code == 0, complete.err);
  // Which model it used: the best by default, the latest when asked.
  BOOST_TEST(contains(complete.err, "using " + dir + "/best.npz (step "), complete.err);
  const Result latest =
      run(tmp, {"complete", "--model", dir, "--checkpoint", "latest", "--top", "3", "the c"});
  BOOST_TEST(latest.code == 0, latest.err);
  BOOST_TEST(contains(latest.err, "using " + dir + "/checkpoint.npz (step 10, validation loss "),
             latest.err);
  BOOST_TEST(contains(complete.out, "next character after \"the c\":\n"), complete.out);
  BOOST_TEST(contains(complete.out, "most likely continuation: the c"), complete.out);

  const Result sample =
      run(tmp, {"sample", "--model", dir, "--prime", "the", "--length", "20", "--seed", "3"});
  BOOST_TEST(sample.code == 0, sample.err);
  BOOST_TEST(sample.out.size() == 24u);  // "the", 20 characters, newline
  BOOST_TEST(
      run(tmp, {"sample", "--model", dir, "--prime", "the", "--length", "20", "--seed", "3"}).out ==
      sample.out);

  const Result unknown = run(tmp, {"sample", "--model", dir, "--prime", "xyz"});
  BOOST_TEST(unknown.code == 1);
  BOOST_TEST(contains(unknown.err, "unknown character 'x' (U+0078) at position 0"), unknown.err);

  const Result eval = run(tmp, {"eval", "--model", dir, "--data", data});
  BOOST_TEST(eval.code == 0, eval.err);
  BOOST_TEST(contains(eval.out, " nats/char, "), eval.out);
  BOOST_TEST(contains(eval.out, " bits/char over "), eval.out);

  // --held-out: the part training validated on, so its loss is the last validation loss.
  const Result held = run(tmp, {"eval", "--model", dir, "--checkpoint", "latest", "--held-out"});
  BOOST_TEST_REQUIRE(held.code == 0, held.err);
  BOOST_TEST(contains(held.out, "the held-out part of '" + data + "'"), held.out);
  const auto number_after = [](const std::string& text, const std::string& label) {
    const std::size_t at = text.find(label);
    BOOST_TEST_REQUIRE(at != std::string::npos, text);
    return std::stod(text.substr(at + label.size()));
  };
  BOOST_TEST(number_after(held.out, "): ") == number_after(held.err, "validation loss "),
             boost::test_tools::tolerance(1e-3));
  const std::string other = tmp.write("other.txt", small_text() + "the end.\n");
  const Result wrong = run(tmp, {"eval", "--model", dir, "--held-out", "--data", other});
  BOOST_TEST(wrong.code == 1);
  BOOST_TEST(contains(wrong.err,
                      "eval --held-out: the held-out part is that of the text the "
                      "model trained on, '" +
                          data + "'"),
             wrong.err);
  const Result neither = run(tmp, {"eval", "--model", dir});
  BOOST_TEST(neither.code == 2);
  BOOST_TEST(contains(neither.err, "eval: give --data FILE, or --held-out"), neither.err);
}

BOOST_AUTO_TEST_CASE(sigint_saves_a_checkpoint_exits_130_and_resume_continues) {
  LmTempDir tmp;
  const std::string data = tmp.write("data.txt", small_text());
  const std::string dir = tmp.path("model");
  int pipe_fds[2];
  BOOST_TEST_REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t pid = spawn(tiny_train(data, dir) + std::vector<std::string>{"--steps", "100000000",
                                                                           "--print-every", "1"},
                          tmp.path("stdout.txt"), pipe_fds[1]);
  ::close(pipe_fds[1]);

  // Wait until it reports training progress (a line "step 3/..."), then press Ctrl-C.
  std::string err;
  char buffer[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!contains(err, "\nstep 3/") && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    err.append(buffer, std::size_t(n));
  }
  BOOST_TEST_REQUIRE(contains(err, "\nstep 3/"), err);
  ::kill(pid, SIGINT);
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    err.append(buffer, std::size_t(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);

  BOOST_TEST(exit_code(status) == 130, err);
  BOOST_TEST(contains(err, "interrupted: finishing this step and saving a checkpoint"), err);
  const std::string out = read_file(tmp.path("stdout.txt"));
  BOOST_TEST(contains(out, "interrupted at step "), out);
  BOOST_TEST(contains(out, "continue with: tapegrad-lm train --out " + dir + " --resume"), out);

  const ModelDir saved = load_model_dir(dir);
  const std::size_t step = saved.progress.step;
  BOOST_TEST(step >= 3u);
  // The interrupted step is either recorded whole or not at all: no NaN or zero placeholder.
  for (float loss : saved.history.train_loss) BOOST_TEST((std::isfinite(loss) && loss > 0.f));
  BOOST_TEST(contains(out, "interrupted at step " + std::to_string(step) + ":"), out);

  const Result resumed =
      run(tmp, {"train", "--out", dir, "--resume", "--steps", std::to_string(step + 4)});
  BOOST_TEST_REQUIRE(resumed.code == 0, resumed.err);
  BOOST_TEST(contains(resumed.err, "(from step " + std::to_string(step) + ")"), resumed.err);
  const ModelDir after = load_model_dir(dir);
  BOOST_TEST(after.progress.step == step + 4);
  // The first `step` losses are the interrupted run's, unchanged.
  BOOST_TEST(std::vector<float>(after.history.train_loss.begin(),
                                after.history.train_loss.begin() + std::ptrdiff_t(step)) ==
                 saved.history.train_loss,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
