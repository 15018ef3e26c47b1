// The training library's stream batcher and split: exact batches, wrapping, resuming from a
// position, and errors that name the values at fault ({seq_len}, {batch}, {val_fraction}) --
// checked here as tapegrad-lm shows them, with its flags for the names.
#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/train/stream_batcher.hpp>
#include <tapegrad/train/value_error.hpp>

using namespace tapegrad;
using namespace tapegrad::train;

namespace {

Indices iota(std::size_t n) {
  Indices out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int64_t>(i);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The message of the ValueError `f` throws, with every value named as a flag ("seq_len" ->
// "--seq-len"), or "<no error>".
std::string flag_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.message([](const std::string& name) {
      std::string flag = "--" + name;
      for (char& c : flag)
        if (c == '_') c = '-';
      return flag;
    });
  }
  return "<no error>";
}

}  // namespace

namespace tapegrad::train {
std::ostream& boost_test_print_type(std::ostream& os, const Position& p) {
  return os << "{offset " << p.offset << ", epoch " << p.epoch << "}";
}
}  // namespace tapegrad::train

BOOST_AUTO_TEST_SUITE(stream_batcher)

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

  BOOST_TEST(flag_error_of([&] { split(t, 0.6); }) ==
             "split: --val-fraction must lie in [0, 0.5], got 0.6");
  BOOST_TEST(flag_error_of([&] { split(t, -0.1); }) ==
             "split: --val-fraction must lie in [0, 0.5], got -0.1");
  BOOST_TEST(contains(flag_error_of([&] { split(t, std::numeric_limits<double>::quiet_NaN()); }),
                      "must lie in [0, 0.5], got nan"));
  BOOST_TEST(flag_error_of([&] { split(t, 0.1); }) ==
             "split: --val-fraction 0.1 of 10 symbols leaves 9 for training and 1 for "
             "validation; each part needs at least 2");
  BOOST_TEST(flag_error_of([&] { split(iota(3), 0.5); }) ==
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
  BOOST_TEST(flag_error_of([&] { s.next(10); }) ==
             "--seq-len 10 is longer than the data allows: 2 streams of 10 symbols each need at "
             "least 11 (lower --seq-len or --batch, or give more text)");
  BOOST_TEST(flag_error_of([&] { s.next(0); }) == "--seq-len must be at least 1, got 0");
  BOOST_TEST(s.position() == (Position{1, 1}));  // failed calls change nothing
}

BOOST_AUTO_TEST_CASE(batcher_errors_name_the_numbers) {
  BOOST_TEST(flag_error_of([] { StreamBatcher(iota(122), 3, 100, "characters"); }) ==
             "--seq-len 100 is longer than the data allows: 3 streams of 40 characters each "
             "need at least 101 (lower --seq-len or --batch, or give more text)");
  BOOST_TEST(flag_error_of([] { StreamBatcher(iota(10), 0, 3); }) ==
             "--batch must be at least 1, got 0");
  BOOST_TEST(flag_error_of([] { StreamBatcher(iota(10), 2, 0); }) ==
             "--seq-len must be at least 1, got 0");
  BOOST_TEST(contains(flag_error_of([] { StreamBatcher(iota(3), 5, 1, "words"); }),
                      "5 streams of 0 words each need at least 2"));
  BOOST_TEST(contains(flag_error_of([] { StreamBatcher(Indices{}, 1, 1); }),
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
  BOOST_TEST(flag_error_of([&] {
               b.set_position(Position{21, 0});
             }) ==
             "StreamBatcher::set_position: offset 21 is beyond the stream length 20 (was the "
             "checkpoint made with other data or another --batch?)");
  BOOST_TEST(b.position() == (Position{4, 5}));
}

BOOST_AUTO_TEST_CASE(errors_name_the_values_as_the_library_knows_them) {
  try {
    StreamBatcher(iota(122), 3, 100, "characters");
    BOOST_FAIL("no error");
  } catch (const ValueError& e) {
    BOOST_TEST(std::string(e.what()) ==
               "seq_len 100 is longer than the data allows: 3 streams of 40 characters each need "
               "at least 101 (lower seq_len or batch, or give more text)");
  }
  try {
    split(iota(10), 0.7);
    BOOST_FAIL("no error");
  } catch (const ValueError& e) {
    BOOST_TEST(std::string(e.what()) == "split: val_fraction must lie in [0, 0.5], got 0.7");
  }
}

BOOST_AUTO_TEST_SUITE_END()
