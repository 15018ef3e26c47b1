// The tapegrad-lm data layer: vocabularies at both levels, text loading and the built-in corpus
// (the split and the stream batcher are the training library's:
// tests/train/test_stream_batcher.cpp). Error messages are compared in full where the CLI shows
// them to users, since their numbers are the point.
#include <sys/stat.h>
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

}  // namespace

// Boost.Test prints both sides of a failed comparison; these make the data types printable.
namespace tapegrad::lm {
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
  const auto unicode_text = [] {
    return std::string(
        "\xE2\x80\x9C"
        "caf\xC3\xA9\xE2\x80\x9D\xE2\x80\x94"
        "ok\xC2\xA0"
        "it\xE2\x80\x99s");
  };
  const std::vector<std::string> unicode = tokenize_words(unicode_text());
  const std::vector<std::string> unicode_expected = {
      "\xE2\x80\x9C", "caf\xC3\xA9", "\xE2\x80\x9D", "\xE2\x80\x94", "ok", "it\xE2\x80\x99s"};
  BOOST_TEST(unicode == unicode_expected, boost::test_tools::per_element());
  // Where each token starts: the byte offsets, so that a token's text can be found again.
  const std::string text = "Don't stop -- well-known 'quoted' (yes)!";
  std::vector<std::size_t> starts = {99};  // replaced
  BOOST_TEST(tokenize_words(text, &starts) == expected, boost::test_tools::per_element());
  const std::vector<std::size_t> expected_starts = {0, 6, 11, 12, 14, 25, 26, 32, 34, 35, 38, 39};
  BOOST_TEST(starts == expected_starts, boost::test_tools::per_element());
  for (std::size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(text.compare(starts[i], expected[i].size(), expected[i]) == 0, expected[i]);
  tokenize_words(unicode_text(), &starts);
  BOOST_TEST(starts == std::vector<std::size_t>({0, 3, 8, 11, 14, 18}),
             boost::test_tools::per_element());
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
  BOOST_TEST(train::fnv1a_hex("") == "cbf29ce484222325");
  BOOST_TEST(train::fnv1a_hex("a") == "af63dc4c8601ec8c");
  BOOST_TEST(train::fnv1a_hex("foobar") == "85944171f73967e8");
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
             "'" + missing + "': cannot open: No such file or directory");
  BOOST_TEST(error_of([&] { load_text(tmp.dir.string()); }) ==
             "'" + tmp.dir.string() + "': is a directory, not a regular file");

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

BOOST_AUTO_TEST_CASE(load_text_never_hangs_and_never_reads_without_bound) {
  LmTempDir tmp;
  // A FIFO with no writer used to block open() forever; /dev/zero used to be read until memory
  // ran out. Both are refused before a byte is read.
  const std::string fifo = tmp.path("fifo.txt");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(error_of([&] { load_text(fifo); }) ==
             "'" + fifo + "': is a FIFO (named pipe), not a regular file");
  BOOST_TEST(error_of([&] { load_text("/dev/zero"); }) ==
             "'/dev/zero': is a character device, not a regular file");
  // The limit is checked against the file's size before reading, and names its flag.
  const std::string eleven = tmp.write("eleven.txt", "hello world");
  BOOST_TEST(load_text(eleven, 11) == "hello world");
  BOOST_TEST(error_of([&] { load_text(eleven, 10); }) ==
             "'" + eleven +
                 "': is 11 bytes, more than the 10 bytes accepted (raise the limit with "
                 "--max-text)");
  BOOST_TEST(kDefaultMaxTextBytes == std::uint64_t(256) << 20);
  // A sparse file of 1 GiB of zeros (under a raised limit) stops at its first piece: the NUL
  // at offset 0 is reported without reading (or keeping) the rest.
  const std::string sparse = tmp.path("sparse.txt");
  { std::ofstream touch(sparse); }
  lmtest::fs::resize_file(sparse, std::uint64_t(1) << 30);
  BOOST_TEST(error_of([&] { load_text(sparse, std::uint64_t(1) << 31); }) ==
             "'" + sparse + "' looks like a binary file (a NUL byte at offset 0), not text");
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
