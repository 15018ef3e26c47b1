// The tapegrad-lm data layer: vocabularies at both levels, text loading, the train/validation
// split, the stream batcher that feeds CharLM, and the built-in corpus. Error messages are
// compared in full where the CLI shows them to users, since their numbers are the point.
#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "lm/data.hpp"
#include "lm/lm_support.hpp"

using namespace tapegrad;
using namespace tapegrad::lm;
namespace fs = std::filesystem;

namespace {

using lmtest::contains;
using lmtest::error_of;
using lmtest::LmTempDir;

Indices iota(std::size_t n) {
  Indices out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int64_t>(i);
  return out;
}

}  // namespace

// Boost.Test prints both sides of a failed comparison; these make the data types printable.
namespace tapegrad::lm {
std::ostream& boost_test_print_type(std::ostream& os, const Position& p) {
  return os << "{offset " << p.offset << ", epoch " << p.epoch << "}";
}
std::ostream& boost_test_print_type(std::ostream& os, Level level) {
  return os << level_name(level);
}
std::ostream& boost_test_print_type(std::ostream& os, const Vocabulary& v) {
  return os << level_name(v.level()) << " vocabulary of " << v.size() << " " << v.unit();
}
}  // namespace tapegrad::lm

BOOST_AUTO_TEST_SUITE(lm_data)

// ---------------------------------------------------------------------------------------------
// Vocabulary, character level

BOOST_AUTO_TEST_CASE(character_vocabulary_is_sorted_by_code_point_and_round_trips) {
  const std::string text = "h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC";  // "héllo 日本"
  const Vocabulary v = Vocabulary::build(text, Level::character);
  BOOST_TEST(v.level() == Level::character);
  BOOST_TEST(v.size() == 7u);
  const std::vector<std::string> expected = {
      " ", "h", "l", "o", "\xC3\xA9", "\xE6\x97\xA5", "\xE6\x9C\xAC"};
  BOOST_TEST(v.symbols() == expected, boost::test_tools::per_element());
  BOOST_TEST(v.symbol(4) == "\xC3\xA9");
  BOOST_TEST(*v.find("l") == 2);
  BOOST_TEST(!v.find("z").has_value());
  const Indices ids = v.encode(text);
  BOOST_TEST(ids == (Indices{1, 4, 2, 2, 3, 0, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(v.decode(ids) == text);
  BOOST_TEST(v.decode({}) == "");
  // The order depends on the set of characters, not on where they first appear.
  BOOST_TEST(Vocabulary::build("cab", Level::character) ==
             Vocabulary::build("abc", Level::character));
  BOOST_TEST(std::string(v.unit()) == "characters");
}

BOOST_AUTO_TEST_CASE(unknown_character_names_it_and_its_position) {
  const Vocabulary v = Vocabulary::build("abcdefghijklmnopqrstuvwxyz ", Level::character);
  BOOST_TEST(v.size() == 27u);
  BOOST_TEST(error_of([&] { v.encode("abcZ"); }) ==
             "unknown character 'Z' (U+005A) at position 3: not in the model's vocabulary of 27 "
             "characters");
  // Positions count characters, not bytes; control characters are shown escaped.
  BOOST_TEST(error_of([&] { v.encode("\xC3\xA9\xC3\xA9x\xE6\x97\xA5"); }) ==
             "unknown character '\xC3\xA9' (U+00E9) at position 0: not in the model's "
             "vocabulary of 27 characters");
  BOOST_TEST(error_of([&] { v.encode("ab\n"); }) ==
             "unknown character '\\n' (U+000A) at position 2: not in the model's vocabulary of "
             "27 characters");
  BOOST_TEST(error_of([&] { v.encode(std::string("a\x01", 2)); }) ==
             "unknown character '\\x01' (U+0001) at position 1: not in the model's vocabulary "
             "of 27 characters");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_an_error_naming_the_byte_offset) {
  BOOST_TEST(error_of([] {
               Vocabulary::build(
                   "ab\xFF"
                   "cd",
                   Level::character);
             }) ==
             "Vocabulary::build: invalid UTF-8 at byte offset 2 (byte 0xFF): this byte never "
             "occurs in UTF-8");
  BOOST_TEST(error_of([] { Vocabulary::build("ab\xC3", Level::character); }) ==
             "Vocabulary::build: invalid UTF-8 at byte offset 2 (byte 0xC3): the text ends "
             "inside a 2-byte character");
  BOOST_TEST(error_of([] { Vocabulary::build("a\x80", Level::character); }) ==
             "Vocabulary::build: invalid UTF-8 at byte offset 1 (byte 0x80): a continuation "
             "byte with no lead byte before it");
  BOOST_TEST(error_of([] { Vocabulary::build("\xC0\xAF", Level::character); }) ==
             "Vocabulary::build: invalid UTF-8 at byte offset 0 (byte 0xC0): an overlong "
             "encoding");
  BOOST_TEST(contains(error_of([] { Vocabulary::build("x\xED\xA0\x80", Level::character); }),
                      "byte offset 1 (byte 0xED): a UTF-16 surrogate"));
  BOOST_TEST(contains(error_of([] { Vocabulary::build("\xF4\x90\x80\x80", Level::character); }),
                      "beyond U+10FFFF"));
  // Word level, and a sequence cut short by an ASCII byte: the offset is the sequence's start.
  BOOST_TEST(error_of([] { Vocabulary::build("hello \xE6\x97 world", Level::word); }) ==
             "tokenize_words: invalid UTF-8 at byte offset 6 (byte 0xE6): a 3-byte character "
             "is cut short by byte 0x20 at offset 8");
  const Vocabulary v = Vocabulary::build("abc", Level::character);
  BOOST_TEST(contains(error_of([&] { v.encode("ab\xFF"); }),
                      "Vocabulary::encode: invalid UTF-8 at byte offset 2"));
}

BOOST_AUTO_TEST_CASE(empty_text_and_bad_indices) {
  BOOST_TEST(error_of([] { Vocabulary::build("", Level::character); }) ==
             "Vocabulary::build: the text is empty");
  BOOST_TEST(error_of([] { Vocabulary::build(" \n\t ", Level::word); }) ==
             "Vocabulary::build: the text holds no words");
  const Vocabulary v = Vocabulary::build("abc", Level::character);
  BOOST_TEST(error_of([&] {
               v.decode({0, 3});
             }) ==
             "Vocabulary::decode: index 3 at position 1 is outside the vocabulary of 3 "
             "characters");
  BOOST_TEST(contains(error_of([&] { v.decode({-1}); }), "index -1 at position 0"));
  BOOST_TEST(error_of([&] { v.symbol(3); }) ==
             "Vocabulary::symbol: index 3 is outside the vocabulary of 3 characters");
  BOOST_TEST(parse_level("char") == Level::character);
  BOOST_TEST(parse_level("character") == Level::character);
  BOOST_TEST(parse_level("word") == Level::word);
  BOOST_TEST(error_of([] { parse_level("byte"); }) ==
             "unknown level 'byte' (expected char or word)");
}

// ---------------------------------------------------------------------------------------------
// Vocabulary, word level

BOOST_AUTO_TEST_CASE(word_tokens_split_off_punctuation_and_keep_case) {
  const std::vector<std::string> tokens =
      tokenize_words("Don't stop -- well-known 'quoted' (yes)!");
  const std::vector<std::string> expected = {"Don't",  "stop", "-", "-",   "well-known", "'",
                                             "quoted", "'",    "(", "yes", ")",          "!"};
  BOOST_TEST(tokens == expected, boost::test_tools::per_element());
  // Unicode punctuation and whitespace: curly quotes, an em dash, a no-break space.
  const std::vector<std::string> unicode = tokenize_words(
      "\xE2\x80\x9C"
      "caf\xC3\xA9\xE2\x80\x9D\xE2\x80\x94"
      "ok\xC2\xA0"
      "it\xE2\x80\x99s");
  const std::vector<std::string> unicode_expected = {
      "\xE2\x80\x9C", "caf\xC3\xA9", "\xE2\x80\x9D", "\xE2\x80\x94", "ok", "it\xE2\x80\x99s"};
  BOOST_TEST(unicode == unicode_expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(word_vocabulary_min_count_and_unk) {
  const std::string text = "the king sits. the queen sits, the king rests!";
  const Vocabulary all = Vocabulary::build(text, Level::word);
  const std::vector<std::string> all_expected = {"<unk>", "!",     ",",    ".",  "king",
                                                 "queen", "rests", "sits", "the"};
  BOOST_TEST(all.symbols() == all_expected, boost::test_tools::per_element());
  BOOST_TEST(all.level() == Level::word);
  BOOST_TEST(std::string(all.unit()) == "words");
  BOOST_TEST(all.decode(all.encode(text)) == "the king sits . the queen sits , the king rests !");
  BOOST_TEST(Vocabulary::build(text, Level::word, 0) == all);  // 0 and 1 both keep every word

  const Vocabulary frequent = Vocabulary::build(text, Level::word, 2);
  const std::vector<std::string> frequent_expected = {"<unk>", "king", "sits", "the"};
  BOOST_TEST(frequent.symbols() == frequent_expected, boost::test_tools::per_element());
  const Indices ids = frequent.encode("the queen sits. the zebra");
  BOOST_TEST(ids == (Indices{3, 0, 2, 0, 3, 0}), boost::test_tools::per_element());
  BOOST_TEST(frequent.decode(ids) == "the <unk> sits <unk> the <unk>");
  BOOST_TEST(error_of([&] { Vocabulary::build("a b a", Level::word, 5); }) ==
             "Vocabulary::build: --min-count 5 leaves no words (the most frequent word occurs 2 "
             "times)");
}

BOOST_AUTO_TEST_CASE(word_vocabulary_with_multibyte_words) {
  const std::string text =
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC caf\xC3\xA9.";  // "café 日本 café."
  const Vocabulary v = Vocabulary::build(text, Level::word);
  const std::vector<std::string> expected = {"<unk>", ".", "caf\xC3\xA9",
                                             "\xE6\x97\xA5\xE6\x9C\xAC"};
  BOOST_TEST(v.symbols() == expected, boost::test_tools::per_element());
  const Indices ids = v.encode(text);
  BOOST_TEST(ids == (Indices{2, 3, 2, 1}), boost::test_tools::per_element());
  BOOST_TEST(v.decode(ids) == "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC caf\xC3\xA9 .");
}

// ---------------------------------------------------------------------------------------------
// JSON and fingerprints

BOOST_AUTO_TEST_CASE(data_identity_hash_is_64_bit_fnv1a) {
  // The published FNV-1a 64 test vectors: a checkpoint's data identity must not drift.
  BOOST_TEST(fnv1a_hex("") == "cbf29ce484222325");
  BOOST_TEST(fnv1a_hex("a") == "af63dc4c8601ec8c");
  BOOST_TEST(fnv1a_hex("foobar") == "85944171f73967e8");
}

BOOST_AUTO_TEST_CASE(json_round_trip_keeps_symbols_and_fingerprint) {
  for (const Level level : {Level::character, Level::word}) {
    const Vocabulary v =
        Vocabulary::build("The king, \xE6\x97\xA5\xE6\x9C\xAC and caf\xC3\xA9.\n", level);
    const nlohmann::json j = v.to_json();
    BOOST_TEST(j["level"] == level_name(level));
    BOOST_TEST(j["fingerprint"] == v.fingerprint_hex());
    const Vocabulary back = Vocabulary::from_json(nlohmann::json::parse(j.dump()));
    BOOST_TEST(back == v);
    BOOST_TEST(back.fingerprint() == v.fingerprint());
    BOOST_TEST(back.encode("king") == v.encode("king"), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(fingerprint_is_stable_and_tells_vocabularies_apart) {
  const Vocabulary abc = Vocabulary::build("abc", Level::character);
  BOOST_TEST(abc.fingerprint_hex().size() == 16u);
  // A golden value: the fingerprint is stored in checkpoints, so it must never change.
  BOOST_TEST(abc.fingerprint_hex() == "8c978c72af4632f3");
  BOOST_TEST(Vocabulary::build("cabbage", Level::character).fingerprint() != abc.fingerprint());
  BOOST_TEST(Vocabulary::build("bca", Level::character).fingerprint() == abc.fingerprint());
  BOOST_TEST(Vocabulary::build("abd", Level::character).fingerprint() != abc.fingerprint());
  // The same symbols in another order map text differently, so they must differ too.
  const Vocabulary reordered =
      Vocabulary::from_json(nlohmann::json{{"level", "character"}, {"symbols", {"b", "a", "c"}}});
  BOOST_TEST(reordered.fingerprint() != abc.fingerprint());
  BOOST_TEST(reordered != abc);
  // Symbol boundaries count: {"ab"} is not {"a", "b"}.
  const Vocabulary joined =
      Vocabulary::from_json(nlohmann::json{{"level", "word"}, {"symbols", {"<unk>", "ab"}}});
  const Vocabulary parts =
      Vocabulary::from_json(nlohmann::json{{"level", "word"}, {"symbols", {"<unk>", "a", "b"}}});
  BOOST_TEST(joined.fingerprint() != parts.fingerprint());
  // The level counts: the same symbol list at the two levels encodes text differently.
  const Vocabulary as_char =
      Vocabulary::from_json(nlohmann::json{{"level", "character"}, {"symbols", {"a", "b"}}});
  const Vocabulary as_word =
      Vocabulary::from_json(nlohmann::json{{"level", "word"}, {"symbols", {"<unk>", "b"}}});
  BOOST_TEST(as_char.fingerprint() != as_word.fingerprint());
}

BOOST_AUTO_TEST_CASE(from_json_rejects_malformed_input) {
  nlohmann::json good = Vocabulary::build("abc", Level::character).to_json();
  nlohmann::json bad = good;
  bad["fingerprint"] = "0000000000000000";
  BOOST_TEST(contains(error_of([&] { Vocabulary::from_json(bad); }), "does not match the symbols"));
  bad = good;
  bad["symbols"] = {"a", "b", "a"};
  bad.erase("fingerprint");
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary: symbol 'a' appears twice (indices 0 and 2)");
  bad["symbols"] = {"a", "bc"};
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary::from_json: symbol 1 (\"bc\") is not a single character");
  bad["symbols"] = {"a", 7};
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary::from_json: symbol 1 is not a string");
  bad["symbols"] = nlohmann::json::array();
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary::from_json: the symbol list is empty");
  bad.erase("symbols");
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary::from_json: missing array field \"symbols\"");
  bad = good;
  bad["level"] = "byte";
  BOOST_TEST(contains(error_of([&] { Vocabulary::from_json(bad); }), "level is \"byte\""));
  bad.erase("level");
  BOOST_TEST(error_of([&] { Vocabulary::from_json(bad); }) ==
             "Vocabulary::from_json: missing string field \"level\"");
  BOOST_TEST(error_of([] {
               Vocabulary::from_json(nlohmann::json{{"level", "word"}, {"symbols", {"a", "b"}}});
             }) ==
             "Vocabulary::from_json: a word-level vocabulary must start with \"<unk>\", "
             "got \"a\"");
  BOOST_TEST(error_of([] { Vocabulary::from_json(nlohmann::json::array()); }) ==
             "Vocabulary::from_json: expected a JSON object, got array");
  bad = good;
  bad["version"] = 2;
  BOOST_TEST(contains(error_of([&] { Vocabulary::from_json(bad); }), "version 2"));
}

// ---------------------------------------------------------------------------------------------
// load_text

BOOST_AUTO_TEST_CASE(load_text_reads_files_and_rejects_bad_ones) {
  LmTempDir tmp;
  BOOST_TEST(load_text(tmp.write("ok.txt", "hello\n\xC3\xA9t\xC3\xA9\n")) ==
             "hello\n\xC3\xA9t\xC3\xA9\n");
  BOOST_TEST(load_text(tmp.write("bom.txt", "\xEF\xBB\xBFhi")) == "hi");  // the BOM is dropped
  const std::string two = tmp.write("two.txt", "ab");
  BOOST_TEST(load_text(two) == "ab");

  const std::string missing = (tmp.dir / "missing.txt").string();
  BOOST_TEST(error_of([&] { load_text(missing); }) ==
             "cannot open '" + missing + "': No such file or directory");
  BOOST_TEST(error_of([&] { load_text(tmp.dir.string()); }) ==
             "cannot read '" + tmp.dir.string() + "': Is a directory");

  const std::string empty = tmp.write("empty.txt", "");
  BOOST_TEST(error_of([&] { load_text(empty); }) == "'" + empty + "' is empty");
  const std::string bom_only = tmp.write("bom_only.txt", "\xEF\xBB\xBF");
  BOOST_TEST(error_of([&] { load_text(bom_only); }) == "'" + bom_only + "' is empty");

  const std::string one = tmp.write("one.txt", "a");
  BOOST_TEST(error_of([&] { load_text(one); }) ==
             "'" + one +
                 "' holds only 1 character; a language model needs at least 2 (an input and "
                 "its target)");
  const std::string one_wide = tmp.write("one_wide.txt", "\xE6\x97\xA5");  // one 3-byte character
  BOOST_TEST(contains(error_of([&] { load_text(one_wide); }), "holds only 1 character"));

  const std::string nul = tmp.write("nul.bin", std::string("ab\0cd", 5));
  BOOST_TEST(error_of([&] { load_text(nul); }) ==
             "'" + nul + "' looks like a binary file (a NUL byte at offset 2), not text");
  const std::string control = tmp.write("control.bin",
                                        "\x01\x02\x03"
                                        "abcd");  // 3 of 7: 42%
  BOOST_TEST(error_of([&] { load_text(control); }) ==
             "'" + control +
                 "' looks like a binary file (42% of its bytes are control characters), not "
                 "text");
  // Tabs, newlines and carriage returns are text, and a few stray control bytes are allowed.
  const std::string mostly = tmp.write("mostly.txt",
                                       "\x01\x02"
                                       "abcdefgh\t\r\n");  // 2 of 13
  BOOST_TEST(load_text(mostly).size() == 13u);
}

// ---------------------------------------------------------------------------------------------
// split

BOOST_AUTO_TEST_CASE(split_takes_the_tail_as_validation) {
  const Indices t = iota(10);
  Split s = split(t, 0.2);
  BOOST_TEST(s.train == iota(8), boost::test_tools::per_element());
  BOOST_TEST(s.validation == (Indices{8, 9}), boost::test_tools::per_element());
  s = split(t, 0.0);
  BOOST_TEST(s.train == t, boost::test_tools::per_element());
  BOOST_TEST(s.validation.empty());
  s = split(t, 0.5);
  BOOST_TEST(s.train == iota(5), boost::test_tools::per_element());
  BOOST_TEST(s.validation == (Indices{5, 6, 7, 8, 9}), boost::test_tools::per_element());
  s = split(iota(4), 0.5);  // the smallest split that leaves two symbols on each side
  BOOST_TEST(s.train.size() == 2u);
  BOOST_TEST(s.validation.size() == 2u);

  BOOST_TEST(error_of([&] { split(t, 0.6); }) ==
             "split: --val-fraction must lie in [0, 0.5], got 0.6");
  BOOST_TEST(error_of([&] { split(t, -0.1); }) ==
             "split: --val-fraction must lie in [0, 0.5], got -0.1");
  BOOST_TEST(contains(error_of([&] { split(t, std::numeric_limits<double>::quiet_NaN()); }),
                      "must lie in [0, 0.5], got nan"));
  BOOST_TEST(error_of([&] { split(t, 0.1); }) ==
             "split: --val-fraction 0.1 of 10 symbols leaves 9 for training and 1 for "
             "validation; each part needs at least 2");
  BOOST_TEST(error_of([&] { split(iota(3), 0.5); }) ==
             "split: --val-fraction 0.5 of 3 symbols leaves 1 for training and 2 for "
             "validation; each part needs at least 2");
}

// ---------------------------------------------------------------------------------------------
// StreamBatcher

BOOST_AUTO_TEST_CASE(batcher_first_batches_are_exact) {
  // 21 tokens, B = 2: streams of L = 10 are 0..9 and 10..19; token 20 is not used.
  StreamBatcher s(iota(21), 2, 3);
  BOOST_TEST(s.stream_length() == 10u);
  BOOST_TEST(s.batches_per_epoch() == 3u);
  Batch b = s.next();
  BOOST_TEST(b.inputs.size() == 3u);
  BOOST_TEST(b.inputs[0] == (Indices{0, 10}), boost::test_tools::per_element());
  BOOST_TEST(b.inputs[1] == (Indices{1, 11}), boost::test_tools::per_element());
  BOOST_TEST(b.inputs[2] == (Indices{2, 12}), boost::test_tools::per_element());
  BOOST_TEST(b.targets == (Indices{1, 11, 2, 12, 3, 13}), boost::test_tools::per_element());
  BOOST_TEST(!b.wrapped);
  BOOST_TEST(s.position() == (Position{3, 0}));

  b = s.next();  // every stream continues where it stopped
  BOOST_TEST(b.inputs[0] == (Indices{3, 13}), boost::test_tools::per_element());
  BOOST_TEST(b.inputs[2] == (Indices{5, 15}), boost::test_tools::per_element());
  BOOST_TEST(b.targets == (Indices{4, 14, 5, 15, 6, 16}), boost::test_tools::per_element());
  b = s.next();
  BOOST_TEST(b.inputs[0] == (Indices{6, 16}), boost::test_tools::per_element());
  BOOST_TEST(b.targets == (Indices{7, 17, 8, 18, 9, 19}), boost::test_tools::per_element());
  BOOST_TEST(!b.wrapped);
  BOOST_TEST(s.epoch() == 0u);

  // Offset 9 cannot supply 4 more symbols: everything wraps and the caller is told.
  b = s.next();
  BOOST_TEST(b.wrapped);
  BOOST_TEST(s.wrapped());
  BOOST_TEST(s.epoch() == 1u);
  BOOST_TEST(b.inputs[0] == (Indices{0, 10}), boost::test_tools::per_element());
  BOOST_TEST(b.targets == (Indices{1, 11, 2, 12, 3, 13}), boost::test_tools::per_element());
  b = s.next();
  BOOST_TEST(!b.wrapped);
  BOOST_TEST(!s.wrapped());
  BOOST_TEST(s.position() == (Position{6, 1}));
}

BOOST_AUTO_TEST_CASE(batcher_targets_are_the_next_inputs_across_calls) {
  StreamBatcher s(iota(103), 4, 5);  // L = 25
  Batch previous = s.next();
  for (int k = 0; k < 12; ++k) {
    const Batch b = s.next();
    for (std::size_t t = 0; t < 5; ++t)
      for (std::size_t j = 0; j < 4; ++j) {
        BOOST_TEST(b.inputs[t][j] == std::int64_t(j * 25) + b.inputs[t][0]);  // stream starts
        if (t + 1 < 5) BOOST_TEST(b.targets[t * 4 + j] == b.inputs[t + 1][j]);
      }
    // The last targets of one batch are the first inputs of the next, unless it wrapped.
    if (!b.wrapped)
      for (std::size_t j = 0; j < 4; ++j) BOOST_TEST(previous.targets[4 * 4 + j] == b.inputs[0][j]);
    previous = b;
  }
  BOOST_TEST(s.epoch() == 3u);  // 13 calls, 4 batches per epoch: (25 - 1) / 5
}

BOOST_AUTO_TEST_CASE(batcher_variable_steps_and_exact_fit) {
  // L = T + 1: one batch per epoch, and every later call wraps.
  StreamBatcher exact(iota(8), 2, 3);
  BOOST_TEST(exact.batches_per_epoch() == 1u);
  BOOST_TEST(!exact.next().wrapped);
  BOOST_TEST(exact.next().wrapped);
  BOOST_TEST(exact.next().wrapped);
  BOOST_TEST(exact.epoch() == 2u);

  StreamBatcher s(iota(21), 2, 3);
  Batch b = s.next(9);  // the longest chunk a stream of 10 allows
  BOOST_TEST(b.inputs.size() == 9u);
  BOOST_TEST(b.targets[17] == 19);
  BOOST_TEST(s.batches_per_epoch(9) == 1u);
  b = s.next(1);
  BOOST_TEST(b.wrapped);
  BOOST_TEST(b.inputs[0] == (Indices{0, 10}), boost::test_tools::per_element());
  BOOST_TEST(error_of([&] { s.next(10); }) ==
             "--seq-len 10 is longer than the data allows: 2 streams of 10 symbols each need at "
             "least 11 (lower --seq-len or --batch, or give more text)");
  BOOST_TEST(error_of([&] { s.next(0); }) == "--seq-len must be at least 1, got 0");
  BOOST_TEST(s.position() == (Position{1, 1}));  // failed calls change nothing
}

BOOST_AUTO_TEST_CASE(batcher_errors_name_the_numbers) {
  BOOST_TEST(error_of([] { StreamBatcher(iota(122), 3, 100, "characters"); }) ==
             "--seq-len 100 is longer than the data allows: 3 streams of 40 characters each "
             "need at least 101 (lower --seq-len or --batch, or give more text)");
  BOOST_TEST(error_of([] { StreamBatcher(iota(10), 0, 3); }) ==
             "--batch must be at least 1, got 0");
  BOOST_TEST(error_of([] { StreamBatcher(iota(10), 2, 0); }) ==
             "--seq-len must be at least 1, got 0");
  BOOST_TEST(contains(error_of([] { StreamBatcher(iota(3), 5, 1, "words"); }),
                      "5 streams of 0 words each need at least 2"));
  BOOST_TEST(contains(error_of([] { StreamBatcher(Indices{}, 1, 1); }),
                      "1 streams of 0 symbols each need at least 2"));
}

BOOST_AUTO_TEST_CASE(batcher_set_position_resumes_identically) {
  StreamBatcher a(iota(61), 3, 4);  // L = 20, 4 batches per epoch
  std::vector<Batch> run;
  Position saved;
  for (int k = 0; k < 11; ++k) {
    if (k == 6) saved = a.position();
    run.push_back(a.next());
  }
  BOOST_TEST(saved == (Position{8, 1}));
  StreamBatcher b(iota(61), 3, 4);
  b.set_position(saved);
  BOOST_TEST(b.epoch() == 1u);
  for (int k = 6; k < 11; ++k) {
    const Batch x = b.next();
    BOOST_TEST((x.inputs == run[k].inputs));
    BOOST_TEST(x.targets == run[k].targets, boost::test_tools::per_element());
    BOOST_TEST(x.wrapped == run[k].wrapped);
  }
  BOOST_TEST(b.position() == a.position());

  // An offset at the very end is legal (the next call wraps); beyond it is not.
  b.set_position(Position{20, 4});
  BOOST_TEST(b.next().wrapped);
  BOOST_TEST(b.epoch() == 5u);
  BOOST_TEST(error_of([&] {
               b.set_position(Position{21, 0});
             }) ==
             "StreamBatcher::set_position: offset 21 is beyond the stream length 20 (was the "
             "checkpoint made with other data or another --batch?)");
  BOOST_TEST(b.position() == (Position{4, 5}));
}

// ---------------------------------------------------------------------------------------------
// The built-in corpus

BOOST_AUTO_TEST_CASE(builtin_corpus_is_deterministic_and_teaches_the_king) {
  const std::string corpus = builtin_corpus();
  BOOST_TEST(corpus == builtin_corpus());
  BOOST_TEST(corpus.size() >= 3000u);
  BOOST_TEST(corpus.size() <= 6500u);
  BOOST_TEST(corpus.rfind("the king sits on the throne.", 0) == 0u);
  BOOST_TEST(corpus.back() == '\n');
  // Golden size: the corpus must be byte-identical on every compiler and platform.
  BOOST_TEST(corpus.size() == 4623u);

  // "king sits on" is frequent and always continues with " the throne".
  std::size_t count = 0;
  for (std::size_t at = corpus.find("king sits on"); at != std::string::npos;
       at = corpus.find("king sits on", at + 1)) {
    ++count;
    BOOST_TEST(corpus.compare(at, 23, "king sits on the throne") == 0);
  }
  BOOST_TEST(count >= 20u);

  const Vocabulary chars = Vocabulary::build(corpus, Level::character);
  BOOST_TEST(chars.decode(chars.encode(corpus)) == corpus);
  const Vocabulary words = Vocabulary::build(corpus, Level::word);
  BOOST_TEST(words.find("throne").has_value());
  BOOST_TEST(words.find(".").has_value());
  // Enough text for a char-level run with the CLI's likely defaults.
  BOOST_TEST(StreamBatcher(chars.encode(corpus), 16, 64).batches_per_epoch() >= 3u);
}

BOOST_AUTO_TEST_SUITE_END()
