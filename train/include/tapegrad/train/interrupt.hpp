#pragma once
// Ctrl-C for a training program: after install_interrupt_handlers(), SIGINT and SIGTERM set the
// flag interrupt_flag() that the Trainer polls between steps (TrainerOptions::interrupt), so the
// step in progress finishes and a checkpoint is saved. The first signal prints one line saying so
// (unless quiet); the handlers are one-shot, so a second signal ends the program at once.
//
//   train::install_interrupt_handlers();
//   options.interrupt = &train::interrupt_flag();
//   if (trainer.run() == Trainer::Outcome::interrupted) return train::interrupted_exit_code();
#include <atomic>

namespace tapegrad::train {

/// Installs the handlers of SIGINT and SIGTERM. `quiet`: print nothing when signalled (the
/// processes of an mpirun job, whose output mpirun stops reading when it is interrupted).
void install_interrupt_handlers(bool quiet = false);
/// Set once a signal arrived.
const std::atomic<bool>& interrupt_flag();
/// The signal that arrived (0: none).
int interrupting_signal();
/// 128 + the signal (130 for SIGINT, 143 for SIGTERM), as a shell reports a program it stopped.
int interrupted_exit_code();

}  // namespace tapegrad::train
