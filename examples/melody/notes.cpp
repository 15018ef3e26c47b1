#include "melody/notes.hpp"

#include <sstream>

#include <tapegrad/error.hpp>

namespace tapegrad::melody {

namespace {

const char* const kNotation =
    "expected a note such as C4q or Fs4e (pitch A-G, s sharp or b flat, octave 0-9, duration "
    "w h q e x for whole to sixteenth, d for dotted), a rest such as Rq, or '.'";

// The duration starting at token[at] ("q", "hd", ...) in quarter notes, or a negative number.
double duration_at(const std::string& token, std::size_t at) {
  if (at >= token.size()) return -1;
  double beats = 0;
  switch (token[at]) {
    case 'w':
      beats = 4;
      break;
    case 'h':
      beats = 2;
      break;
    case 'q':
      beats = 1;
      break;
    case 'e':
      beats = 0.5;
      break;
    case 'x':
      beats = 0.25;
      break;
    default:
      return -1;
  }
  if (at + 1 == token.size()) return beats;
  if (at + 2 == token.size() && token[at + 1] == 'd') return beats * 1.5;
  return -1;
}

// Semitones above C of a pitch letter, or -1.
int semitone(char letter) {
  switch (letter) {
    case 'C':
      return 0;
    case 'D':
      return 2;
    case 'E':
      return 4;
    case 'F':
      return 5;
    case 'G':
      return 7;
    case 'A':
      return 9;
    case 'B':
      return 11;
    default:
      return -1;
  }
}

// The note of `token`, or a Note with beats <= 0 when it is not one.
Note read(const std::string& token) {
  Note bad{-1, 0};
  if (token.empty()) return bad;
  if (token[0] == 'R') {
    const double beats = duration_at(token, 1);
    return beats > 0 ? Note{-1, beats} : bad;
  }
  const int base = semitone(token[0]);
  if (base < 0) return bad;
  std::size_t at = 1;
  int accidental = 0;
  if (at < token.size() && (token[at] == 's' || token[at] == 'b'))
    accidental = token[at++] == 's' ? 1 : -1;
  if (at >= token.size() || token[at] < '0' || token[at] > '9') return bad;
  const int octave = token[at++] - '0';
  const double beats = duration_at(token, at);
  const int pitch = 12 * (octave + 1) + base + accidental;
  if (beats <= 0 || pitch < 0 || pitch > 127) return bad;
  return Note{pitch, beats};
}

}  // namespace

bool is_note(const std::string& token) { return read(token).beats > 0; }

Note parse_note(const std::string& token) {
  const Note n = read(token);
  if (n.beats <= 0) throw Error("'" + token + "' is not a note: " + kNotation);
  return n;
}

std::vector<std::string> expand_prime(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string token; in >> token;) {
    const bool bare =
        (token.size() == 1 && semitone(token[0]) >= 0) ||
        (token.size() == 2 && semitone(token[0]) >= 0 && (token[1] == 's' || token[1] == 'b'));
    if (bare)
      out.push_back(token + "4q");
    else if (is_note(token) || token == ".")
      out.push_back(token);
    else
      throw Error("the prime's '" + token + "' is not a note: " + kNotation +
                  "; or a bare pitch such as C or Fs (a quarter note in octave 4)");
  }
  return out;
}

const std::string& melody_corpus() {
  // Written out for this project from the tunes themselves, all in the public domain; most in C
  // major, each a line ending with ".". Repeats are written out as played.
  static const std::string corpus =
      // Twinkle, Twinkle, Little Star
      "C4q C4q G4q G4q A4q A4q G4h F4q F4q E4q E4q D4q D4q C4h G4q G4q F4q F4q E4q E4q D4h "
      "G4q G4q F4q F4q E4q E4q D4h C4q C4q G4q G4q A4q A4q G4h F4q F4q E4q E4q D4q D4q C4h .\n"
      // Mary Had a Little Lamb
      "E4q D4q C4q D4q E4q E4q E4h D4q D4q D4h E4q G4q G4h E4q D4q C4q D4q E4q E4q E4q E4q "
      "D4q D4q E4q D4q C4w .\n"
      // Ode to Joy (Beethoven, Symphony No. 9)
      "E4q E4q F4q G4q G4q F4q E4q D4q C4q C4q D4q E4q E4qd D4e D4h E4q E4q F4q G4q G4q F4q "
      "E4q D4q C4q C4q D4q E4q D4qd C4e C4h D4q D4q E4q C4q D4q E4e F4e E4q C4q D4q E4e F4e "
      "E4q D4q C4q D4q G3h E4q E4q F4q G4q G4q F4q E4q D4q C4q C4q D4q E4q D4qd C4e C4h .\n"
      // Frere Jacques
      "C4q D4q E4q C4q C4q D4q E4q C4q E4q F4q G4h E4q F4q G4h G4e A4e G4e F4e E4q C4q G4e "
      "A4e G4e F4e E4q C4q C4q G3q C4h C4q G3q C4h .\n"
      // Hot Cross Buns
      "E4q D4q C4h E4q D4q C4h C4e C4e C4e C4e D4e D4e D4e D4e E4q D4q C4h .\n"
      // London Bridge Is Falling Down
      "G4qd A4e G4q F4q E4q F4q G4h D4q E4q F4h E4q F4q G4h G4qd A4e G4q F4q E4q F4q G4h D4h "
      "G4q E4q C4h .\n"
      // Row, Row, Row Your Boat
      "C4qd C4qd C4q D4e E4qd E4q D4e E4q F4e G4hd C5e C5e C5e G4e G4e G4e E4e E4e E4e C4e "
      "C4e C4e G4q F4e E4q D4e C4hd .\n"
      // Jingle Bells (chorus)
      "E4q E4q E4h E4q E4q E4h E4q G4q C4qd D4e E4w F4q F4q F4qd F4e F4q E4q E4q E4e E4e E4q "
      "D4q D4q E4q D4h G4h E4q E4q E4h E4q E4q E4h E4q G4q C4qd D4e E4w F4q F4q F4qd F4e F4q "
      "E4q E4q E4e E4e G4q G4q F4q D4q C4w .\n"
      // Au clair de la lune
      "C4q C4q C4q D4q E4h D4h C4q E4q D4q D4q C4w C4q C4q C4q D4q E4h D4h C4q E4q D4q D4q "
      "C4w D4q D4q D4q D4q A3h A3h D4q C4q B3q A3q G3w C4q C4q C4q D4q E4h D4h C4q E4q D4q D4q "
      "C4w .\n"
      // Yankee Doodle
      "C4q C4q D4q E4q C4q E4q D4h C4q C4q D4q E4q C4h B3h C4q C4q D4q E4q F4q E4q D4q C4q "
      "B3q G3q A3q B3q C4h C4h .\n"
      // Amazing Grace
      "G3q C4h E4e C4e E4h D4q C4h A3q G3h G3q C4h E4e C4e E4h D4e E4e G4hd G4hd E4q G4h E4e "
      "C4e E4h D4q C4h A3q G3h G3q C4h E4e C4e E4h D4q C4hd .\n"
      // Old MacDonald Had a Farm
      "C4q C4q C4q G3q A3q A3q G3h E4q E4q D4q D4q C4hd G3q C4q C4q C4q G3q A3q A3q G3h E4q "
      "E4q D4q D4q C4hd .\n"
      // Oh! Susanna (Stephen Foster)
      "C4e D4e E4q G4q G4qd A4e G4q E4q C4qd D4e E4q E4q D4q C4q D4hd C4e D4e E4q G4q G4qd "
      "A4e G4q E4q C4qd D4e E4q E4q D4q D4q C4hd .\n"
      // Greensleeves (A minor)
      "A4q C5h D5q E5qd F5e E5q D5h B4q G4qd A4e B4q C5h A4q A4qd Gs4e A4q B4h Gs4q E4h A4q "
      "C5h D5q E5qd F5e E5q D5h B4q G4qd A4e B4q C5qd B4e A4q Gs4qd Fs4e Gs4q A4hd A4hd .\n"
      // When the Saints Go Marching In
      "C4q E4q F4q G4w C4q E4q F4q G4w C4q E4q F4q G4h E4h C4h E4h D4w E4q E4q D4q C4hd C4q "
      "E4h G4h G4q F4hd E4q F4q G4h E4h C4h D4h C4w .\n"
      // Brahms' Lullaby
      "E4e E4e G4qd E4e E4q G4h E4e G4e C5q B4qd A4e A4q G4q D4e E4e F4q D4q D4e E4e F4h D4e "
      "F4e B4e A4e G4q B4q C5h C4e C4e C5h A4e F4e G4h E4e C4e F4q G4q A4q G4h .\n";
  return corpus;
}

}  // namespace tapegrad::melody
