#include "melody/midi.hpp"

#include <cmath>

#include <tapegrad/error.hpp>

namespace tapegrad::melody {

namespace {

// A variable-length quantity: 7 bits per byte, most significant first, the high bit set on every
// byte but the last (how a MIDI file writes the time between events).
void put_vlq(std::string& out, std::uint32_t v) {
  char bytes[5];
  int n = 0;
  bytes[n++] = char(v & 0x7F);
  while (v >>= 7) bytes[n++] = char(0x80 | (v & 0x7F));
  while (n > 0) out += bytes[--n];
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += char((v >> shift) & 0xFF);
}

}  // namespace

std::string midi_file(const std::vector<Note>& notes, double bpm, int program) {
  if (!(bpm > 0 && bpm <= 1000))
    throw Error("MIDI: the tempo must be 1 to 1000 quarter notes a minute, got " +
                std::to_string(bpm));
  if (program < 0 || program > 127)
    throw Error("MIDI: the instrument must be a General MIDI program 0-127, got " +
                std::to_string(program));
  std::string track;
  // Tempo: microseconds per quarter note, 3 bytes.
  const auto micros = std::uint32_t(std::lround(60e6 / bpm));
  track += std::string("\x00\xFF\x51\x03", 4);
  track += char((micros >> 16) & 0xFF);
  track += char((micros >> 8) & 0xFF);
  track += char(micros & 0xFF);
  // Time signature 4/4 (24 clocks per click, 8 thirty-seconds per quarter), the instrument.
  track += std::string("\x00\xFF\x58\x04\x04\x02\x18\x08", 8);
  track += std::string("\x00\xC0", 2);
  track += char(program);
  std::uint32_t wait = 0;  // ticks since the last event: the rests before a note
  for (const Note& n : notes) {
    if (!(n.beats > 0) || n.pitch < -1 || n.pitch > 127)
      throw Error("MIDI: a note needs a pitch 0-127 (or -1 for a rest) and a length > 0, got " +
                  std::to_string(n.pitch) + " for " + std::to_string(n.beats) + " beats");
    const auto ticks = std::uint32_t(std::lround(n.beats * kTicksPerQuarter));
    if (n.pitch < 0) {
      wait += ticks;
      continue;
    }
    put_vlq(track, wait);
    track += std::string("\x90", 1) + char(n.pitch) + char(80);  // note on, velocity 80
    put_vlq(track, ticks);
    track += std::string("\x80", 1) + char(n.pitch) + char(64);  // note off
    wait = 0;
  }
  put_vlq(track, wait);
  track += std::string("\xFF\x2F\x00", 3);  // end of track

  std::string file("MThd", 4);
  put_u32(file, 6);
  file += std::string("\x00\x00\x00\x01", 4);  // format 0, one track
  file += char(kTicksPerQuarter >> 8);
  file += char(kTicksPerQuarter & 0xFF);
  file += "MTrk";
  put_u32(file, std::uint32_t(track.size()));
  return file + track;
}

}  // namespace tapegrad::melody
