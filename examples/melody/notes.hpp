#pragma once
// Melodies as words: each note is one token a word-level language model reads like a word,
// letters and digits only (tapegrad-lm's word tokenizer splits punctuation off):
//
//   <pitch><octave><duration>   C4q  Fs4e  Bb3hd      a note: pitch C..B, optional s (sharp) or
//                                                      b (flat), octave 0-9 (C4 is middle C),
//                                                      duration w h q e x (whole, half, quarter,
//                                                      eighth, sixteenth), d for dotted (x 1.5)
//   R<duration>                 Rq  Rhd                a rest
//   .                                                  the end of a melody
//
// So "C4q D4q E4q" is C, D, E in quarter notes; a prime may also be written as bare pitch
// letters, "C D E", which read as quarter notes in octave 4.
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad::melody {

struct Note {
  int pitch = -1;      // MIDI note number (60: middle C); -1 for a rest
  double beats = 1.0;  // length in quarter notes
  bool operator==(const Note& o) const { return pitch == o.pitch && beats == o.beats; }
};

/// The note a token stands for; an Error naming the token and the notation otherwise.
Note parse_note(const std::string& token);
/// Whether `token` is a note or a rest in the notation above.
bool is_note(const std::string& token);
/// A prime as the user types it: note tokens, or bare pitch letters (C, Fs, Bb...) read as
/// quarter notes in octave 4. An Error names the first token that is neither.
std::vector<std::string> expand_prime(const std::string& text);

/// The built-in corpus: public-domain melodies (nursery rhymes, folk tunes, hymns, Beethoven's
/// Ode to Joy) written out in the notation above, one melody per line, each ending with ".".
const std::string& melody_corpus();

}  // namespace tapegrad::melody
