// The data-parallel pieces that need no second process: shards of a batch, a sharded stream
// batcher and a sharded evaluation against the whole, the parameter fingerprints, and what a
// group of one does (nothing). The collective behaviour runs under mpirun in tests/distributed.
#include <cmath>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/linear.hpp>
#include <tapegrad/train/data_parallel.hpp>
#include <tapegrad/train/language_model.hpp>
#include <tapegrad/train/value_error.hpp>

#include "support/error_of.hpp"

using namespace tapegrad;
using namespace tapegrad::train;

namespace {

Indices tokens(std::size_t n) {
  Indices out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::int64_t((i * 7 + i / 3) % 11);
  return out;
}

// Process `rank` of `size`, alone: every collective operation fails the test, so the code under
// test must not reach one.
class Pretend : public ProcessGroup {
 public:
  Pretend(std::size_t rank, std::size_t size) : rank_(rank), size_(size) {}
  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  void sum(float*, std::size_t) override { BOOST_ERROR("sum reached"); }
  void sum(double*, std::size_t) override { BOOST_ERROR("sum reached"); }
  void broadcast(void*, std::size_t, std::size_t) override { BOOST_ERROR("broadcast reached"); }
  void gather(const void*, std::size_t, void*, std::size_t) override {
    BOOST_ERROR("gather reached");
  }
  [[noreturn]] void abort(int) override { throw Error("abort reached"); }

 private:
  std::size_t rank_, size_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(data_parallel)

BOOST_AUTO_TEST_CASE(shards_cut_n_items_into_contiguous_near_equal_parts) {
  for (std::size_t n = 0; n <= 20; ++n)
    for (std::size_t count = 1; count <= 6; ++count) {
      std::size_t next = 0, smallest = n, largest = 0;
      for (std::size_t index = 0; index < count; ++index) {
        const Shard s{index, count};
        BOOST_TEST(s.first(n) == next);
        next += s.size(n);
        smallest = std::min(smallest, s.size(n));
        largest = std::max(largest, s.size(n));
      }
      BOOST_TEST(next == n);
      BOOST_TEST(largest - smallest <= 1u);
    }
  BOOST_TEST(Shard{}.first(9) == 0u);
  BOOST_TEST(Shard{}.size(9) == 9u);
  const Shard third{2, 4};
  BOOST_TEST(third.first(8) == 4u);
  BOOST_TEST(third.size(8) == 2u);
}

BOOST_AUTO_TEST_CASE(the_shards_of_a_batcher_read_the_whole_batch) {
  const Indices t = tokens(6 * 23);
  StreamBatcher whole(t, 6, 5);
  std::vector<StreamBatcher> parts;
  for (std::size_t k = 0; k < 3; ++k) parts.emplace_back(t, 6, 5, "symbols", Shard{k, 3});
  BOOST_TEST(parts[1].streams() == 2u);
  BOOST_TEST(parts[1].batch() == 6u);
  BOOST_TEST(parts[1].stream_length() == whole.stream_length());
  for (int step = 0; step < 9; ++step) {  // 4 chunks per epoch: wraps twice
    const Batch w = whole.next();
    for (std::size_t k = 0; k < 3; ++k) {
      const Batch p = parts[k].next();
      BOOST_TEST(p.wrapped == w.wrapped);
      BOOST_TEST((parts[k].position() == whole.position()));
      for (std::size_t s = 0; s < 5; ++s)
        for (std::size_t b = 0; b < 2; ++b) {
          BOOST_TEST(p.inputs[s][b] == w.inputs[s][2 * k + b]);
          BOOST_TEST(p.targets[s * 2 + b] == w.targets[s * 6 + 2 * k + b]);
        }
    }
  }
  BOOST_TEST(testsupport::error_of([&] {
               StreamBatcher(t, 6, 5, "symbols", Shard{3, 3});
             }) == "StreamBatcher: shard 3 of 3 does not exist");
}

BOOST_AUTO_TEST_CASE(the_shards_of_an_evaluation_sum_to_the_whole) {
  nn::Rng rng(3);
  LanguageModelNet net(11, 4, 9, 1, LanguageModelNet::Cell::gru, rng);
  const Indices t = tokens(157);
  const Evaluation whole = evaluate(net, t, 5, 7);  // 5 streams of 31, chunks of 7
  Evaluation sum;
  for (std::size_t k = 0; k < 3; ++k) {  // 1, 2 and 2 streams
    const Evaluation e = evaluate(net, t, 5, 7, 1.0, Shard{k, 3});
    sum.nats += e.nats;
    sum.tokens += e.tokens;
  }
  BOOST_TEST(sum.tokens == whole.tokens);
  BOOST_TEST(sum.nats == whole.nats, boost::test_tools::tolerance(1e-6));
  // More processes than streams: some read nothing.
  const Evaluation none =
      evaluate(net, tokens(20), 5, 7, 1.0, Shard{0, 4});  // 2 streams: 0, 1, 0, 1
  BOOST_TEST(none.tokens == 0u);
  BOOST_TEST(none.nats == 0.0);
}

BOOST_AUTO_TEST_CASE(a_batch_that_does_not_divide_is_refused_before_anything_is_sent) {
  nn::Rng rng(1);
  LanguageModelNet net(11, 4, 9, 1, LanguageModelNet::Cell::lstm, rng);
  LanguageModelNet::State carried = net.zero_state(5);
  Pretend second_of_two(1, 2);
  try {
    LanguageModelTask task(net, carried, tokens(300), tokens(40), 5, 6, "symbols", 1.0,
                           &second_of_two);
    BOOST_ERROR("no error");
  } catch (const ValueError& e) {
    BOOST_TEST(e.message_template() ==
               "{batch} 5 does not divide among 2 processes: every process trains on an equal "
               "share of the streams (give a multiple of 2)");
  }
  // Its share of an even batch: a carried state of all streams is cut to the process's rows.
  LanguageModelNet::State all = net.zero_state(6);
  for (std::size_t i = 0; i < all.h[0].size(); ++i) all.h[0].data()[i] = float(i);
  LanguageModelTask task(net, all, tokens(300), tokens(40), 6, 6, "symbols", 1.0, &second_of_two);
  BOOST_TEST(task.batcher().streams() == 3u);
  BOOST_TEST(net.random_stream() == 1u);  // dropout masks of its own
  BOOST_TEST(all.h[0].shape()[0] == 3u);
  BOOST_TEST(all.h[0](0, 0) == float(3 * 9));  // row 3 of the 6
  BOOST_TEST(all.c[0].shape()[0] == 3u);
}

BOOST_AUTO_TEST_CASE(fingerprints_see_one_bit_and_one_name) {
  nn::Rng rng(2);
  nn::Linear<float> layer(3, 2, rng);
  const auto parameters = layer.parameters();
  const std::uint64_t values = fingerprint_values(parameters);
  const std::uint64_t layout = fingerprint_layout(parameters);
  BOOST_TEST(fingerprint_values(parameters) == values);  // a function of the bits
  float& w = parameters[0]->value.data()[5];
  const float old = w;
  w = std::nextafter(w, 1.0f);  // the smallest change a float can make
  BOOST_TEST(fingerprint_values(parameters) != values);
  BOOST_TEST(fingerprint_layout(parameters) == layout);  // values are not the layout
  w = old;
  BOOST_TEST(fingerprint_values(parameters) == values);
  parameters[1]->name = "other";
  BOOST_TEST(fingerprint_layout(parameters) != layout);
  nn::Linear<float> wider(3, 3, rng);
  BOOST_TEST(fingerprint_layout(wider.parameters()) != layout);
}

BOOST_AUTO_TEST_CASE(alone_nothing_is_sent) {
  Pretend alone(0, 1);
  int ran = 0;
  run_on_root(&alone, [&] { ++ran; });
  run_on_root(nullptr, [&] { ++ran; });
  BOOST_TEST(ran == 2);
  BOOST_CHECK_THROW(run_on_root(nullptr, [] { throw Error("as is"); }), Error);
  check_same_everywhere(alone, 1, "anything");
  nn::Rng rng(2);
  nn::Linear<float> layer(2, 2, rng);
  broadcast_parameters(alone, layer);
  GradientAverager<float> average(alone, layer.parameters());
  average();
  BOOST_TEST(!is_parallel(&alone));
  BOOST_TEST(!is_parallel(nullptr));
  BOOST_TEST(shard_of(nullptr).count == 1u);
}

BOOST_AUTO_TEST_CASE(the_launcher_is_read_from_the_environment) {
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("PMIX_SIZE");
  ::unsetenv("PMI_SIZE");
  BOOST_TEST(launched_processes() == 0u);
  ::setenv("PMI_SIZE", "4", 1);
  BOOST_TEST(launched_processes() == 4u);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);  // Open MPI's own first
  BOOST_TEST(launched_processes() == 2u);
  ::setenv("OMPI_COMM_WORLD_SIZE", "two", 1);  // not a number: not launched so by it
  BOOST_TEST(launched_processes() == 4u);
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("PMI_SIZE");
}

BOOST_AUTO_TEST_SUITE_END()
