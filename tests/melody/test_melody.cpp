// Melodies as words: the notation read and refused, the built-in corpus all in it, the MIDI bytes
// of a small tune worked out by hand, and a word-level model on the corpus whose loss falls.
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "lm/train.hpp"
#include "melody/midi.hpp"
#include "melody/notes.hpp"
#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
using namespace tapegrad::melody;
using testsupport::error_of;

BOOST_AUTO_TEST_SUITE(melody)

BOOST_AUTO_TEST_CASE(notes_read_as_pitch_and_beats) {
  BOOST_TEST((parse_note("C4q") == Note{60, 1.0}));  // middle C, a quarter note
  BOOST_TEST((parse_note("A4e") == Note{69, 0.5}));
  BOOST_TEST((parse_note("Fs4x") == Note{66, 0.25}));
  BOOST_TEST((parse_note("Bb3hd") == Note{58, 3.0}));
  BOOST_TEST((parse_note("C0w") == Note{12, 4.0}));
  BOOST_TEST((parse_note("Rqd") == Note{-1, 1.5}));
  for (const char* bad : {"", "H4q", "C4", "C4z", "Cq", "C44q", "C4qq", "c4q", "R", "Rdq"})
    BOOST_TEST(!is_note(bad), bad);
  BOOST_TEST(error_of([] { parse_note("C4"); }) ==
             "'C4' is not a note: expected a note such as C4q or Fs4e (pitch A-G, s sharp or b "
             "flat, octave 0-9, duration w h q e x for whole to sixteenth, d for dotted), a rest "
             "such as Rq, or '.'");
  BOOST_TEST(expand_prime(" C D  Fs E4e . ") ==
                 std::vector<std::string>({"C4q", "D4q", "Fs4q", "E4e", "."}),
             boost::test_tools::per_element());
  BOOST_TEST(error_of([] { expand_prime("C D do"); }).find("the prime's 'do' is not a note") == 0u);
}

BOOST_AUTO_TEST_CASE(the_corpus_is_written_in_the_notation) {
  std::size_t melodies = 0, notes = 0;
  std::string line;
  std::istringstream in(melody_corpus());
  while (std::getline(in, line)) {
    ++melodies;
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string t; words >> t;) tokens.push_back(t);
    BOOST_TEST_REQUIRE(tokens.size() > 10u, line);
    BOOST_TEST(tokens.back() == ".", line);  // each melody ends
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
      BOOST_TEST(is_note(tokens[i]), tokens[i] << " in " << line.substr(0, 30));
      ++notes;
    }
  }
  BOOST_TEST(melodies == 16u);
  BOOST_TEST(notes > 500u);
}

BOOST_AUTO_TEST_CASE(a_midi_file_byte_by_byte) {
  // C4 a quarter, a quarter rest, E4 an eighth, at 120 quarter notes a minute (500000 us each).
  const std::string got = midi_file({{60, 1.0}, {-1, 1.0}, {64, 0.5}}, 120, 0);
  const std::string track = std::string("\x00\xFF\x51\x03\x07\xA1\x20", 7)        // tempo 500000
                            + std::string("\x00\xFF\x58\x04\x04\x02\x18\x08", 8)  // 4/4
                            + std::string("\x00\xC0\x00", 3)                      // piano
                            + std::string("\x00\x90\x3C\x50", 4)                  // C4 on
                            + std::string("\x83\x60\x80\x3C\x40", 5)  // 480 ticks later, off
                            + std::string("\x83\x60\x90\x40\x50", 5)  // a quarter rest, E4 on
                            + std::string("\x81\x70\x80\x40\x40", 5)  // 240 ticks later, off
                            + std::string("\x00\xFF\x2F\x00", 4);     // end of track
  const std::string header = std::string("MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xE0", 14) +
                             "MTrk" + std::string("\x00\x00\x00", 3) + char(track.size());
  BOOST_TEST(got == header + track);
  BOOST_TEST(error_of([] {
               midi_file({{128, 1.0}});
             }).find("MIDI: a note needs a pitch 0-127") == 0u);
  BOOST_TEST(error_of([] { midi_file({}, 0); }) ==
             "MIDI: the tempo must be 1 to 1000 quarter notes a minute, got 0.000000");
}

BOOST_AUTO_TEST_CASE(a_model_of_the_corpus_learns_it) {
  testsupport::ScratchDir dir("melody");
  lm::TrainOptions o;
  o.data_path = dir.write("melodies.txt", melody_corpus());
  o.out_dir = dir.path("model");
  o.hp.level = lm::Level::word;
  o.hp.min_count = 1;
  o.hp.hidden = 32;
  o.hp.embed = 16;
  o.hp.seq_len = 16;
  o.hp.batch = 8;
  o.hp.lr = 0.01;
  o.max_steps = 120;
  o.val_every = 60;
  lm::Trainer trainer(o);
  trainer.run(nullptr, nullptr);
  const std::vector<float>& loss = trainer.history().train_loss;
  BOOST_TEST_REQUIRE(loss.size() == 120u);
  double first = 0, last = 0;
  for (std::size_t i = 0; i < 10; ++i)
    first += loss[i] / 10, last += loss[loss.size() - 1 - i] / 10;
  BOOST_TEST_MESSAGE("train loss " << first << " -> " << last);
  BOOST_TEST(last < 0.6 * first);
  BOOST_TEST(trainer.model().vocabulary.size() > 40u);  // every note and ".", no <unk> needed
}

BOOST_AUTO_TEST_SUITE_END()
