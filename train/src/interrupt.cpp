#include "tapegrad/train/interrupt.hpp"

#include <unistd.h>

#include <csignal>

namespace tapegrad::train {

namespace {

std::atomic<bool> g_interrupted{false};
volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_quiet = 0;
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_interrupt(int signal) {
  g_signal = signal;
  g_interrupted.store(true);
  if (g_quiet) return;
  const char message[] =
      "\ninterrupted: finishing this step and saving a checkpoint (again to quit without "
      "saving)\n";
  // write(2) is async-signal-safe; stdio is not. Its result cannot be acted on here.
  if (::write(STDERR_FILENO, message, sizeof message - 1) < 0) {
  }
}

}  // namespace

void install_interrupt_handlers(bool quiet) {
  g_quiet = quiet ? 1 : 0;
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  // One-shot: a second Ctrl-C gets the default action and ends the program at once.
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

const std::atomic<bool>& interrupt_flag() { return g_interrupted; }

int interrupting_signal() { return int(g_signal); }

int interrupted_exit_code() { return 128 + (g_signal ? int(g_signal) : SIGINT); }

}  // namespace tapegrad::train
