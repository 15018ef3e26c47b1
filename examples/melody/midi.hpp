#pragma once
// A Standard MIDI File of one melody: format 0 (one track), 480 ticks per quarter note, the
// tempo, an instrument, and each note as a note-on and a note-off (rests as the time between).
// Written by hand (the format is a header chunk and one track chunk of timed events); any
// player, DAW or MIDI library reads it.
#include <string>
#include <vector>

#include "melody/notes.hpp"

namespace tapegrad::melody {

constexpr int kTicksPerQuarter = 480;

/// The bytes of the file. `bpm`: quarter notes per minute (1-1000); `program`: the General MIDI
/// instrument (0: acoustic grand piano, 0-127). Pitches must lie in 0-127.
std::string midi_file(const std::vector<Note>& notes, double bpm = 100, int program = 0);

}  // namespace tapegrad::melody
