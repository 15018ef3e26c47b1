// State dicts: a PyTorch model's weights, written with numpy.savez under PyTorch's names
// (tests/fixtures/make_state_dict_fixture.py), load into the equivalent tapegrad model and give
// PyTorch's outputs; a dict that does not fit is refused with every problem listed and nothing
// changed; write_npz and read_npz round-trip; files read_npz cannot take are errors naming the
// entry.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/nn.hpp>
#include <xtensor/xview.hpp>

#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
using testsupport::error_of;

namespace {

const std::string kFixtures = TAPEGRAD_FIXTURE_DIR;
const std::string kWeights = kFixtures + "/state_dict_weights.npz";
const std::string kIo = kFixtures + "/state_dict_io.npz";

// The fixture's torch model, attribute for attribute: an Embedding -> 2-layer LSTM -> Linear
// language model, a 2-layer GRU, a 2-layer tanh RNN and a Conv1d with stride 2. Built without a
// generator (the default one), as a user would.
struct TorchLike : nn::Module<double> {
  TorchLike() {
    register_module("emb", emb);
    register_module("rnn", rnn);
    register_module("head", head);
    register_module("gru", gru);
    register_module("simple", simple);
    register_module("conv", conv);
  }
  nn::Embedding<double> emb{7, 4};
  nn::LSTM<double> rnn{4, 5, 2};
  nn::Linear<double> head{5, 3};
  nn::GRU<double> gru{3, 4, 2};
  nn::RNN<double> simple{3, 4, 2};
  nn::Conv1d<double> conv{2, 3, 3, 2};
};

double max_abs_difference(const Tensor<double>& a, const Tensor<double>& b) {
  BOOST_TEST_REQUIRE(shape_str(a.shape()) == shape_str(b.shape()));
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
  return worst;
}

// Step t of a [T, B, ...] tensor.
Tensor<double> step(const Tensor<double>& seq, std::size_t t) { return xt::view(seq, t); }

// The top layer's output at every step, as a [T, B, H] tensor.
template <class Out>
Tensor<double> stacked(const Out& out) {
  std::vector<Var<double>> steps = out.outputs;
  return stack(steps, 0).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(state_dict)

BOOST_AUTO_TEST_CASE(a_pytorch_state_dict_from_numpy_savez_gives_pytorchs_outputs) {
  TorchLike model;
  const nn::StateDict<double> weights = nn::read_npz<double>(kWeights);
  model.load_state_dict(weights);
  // '<f4' arrays widen exactly: the parameter holds the file's float.
  BOOST_TEST(model.rnn.layer(1).weight_ih().value(3, 2) == weights.at("rnn.weight_ih_l1")(3, 2));
  BOOST_TEST(model.conv.bias().value(2) == weights.at("conv.bias")(2));
  BOOST_TEST(model.conv.bias().value(2) != 0.0);

  const nn::StateDict<double> io = nn::read_npz<double>(kIo);
  Tape<double> tape;
  // Embedding -> LSTM -> Linear on token ids [T, B].
  const Tensor<double>& tokens = io.at("lm_tokens");
  std::vector<Var<double>> embedded;
  for (std::size_t t = 0; t < tokens.shape()[0]; ++t)
    embedded.push_back(model.emb(tape, {std::int64_t(tokens(t, 0)), std::int64_t(tokens(t, 1))}));
  std::vector<Var<double>> logits;
  for (const Var<double>& h : model.rnn(embedded).outputs) logits.push_back(model.head(h));
  const Tensor<double> lm = stack(logits, 0).value();
  BOOST_TEST(max_abs_difference(lm, io.at("lm_logits")) < 1e-12);

  const Tensor<double>& x = io.at("seq_x");
  std::vector<Var<double>> xs;
  for (std::size_t t = 0; t < x.shape()[0]; ++t) xs.push_back(tape.constant(step(x, t)));
  BOOST_TEST(max_abs_difference(stacked(model.gru(xs)), io.at("gru_out")) < 1e-12);
  BOOST_TEST(max_abs_difference(stacked(model.simple(xs)), io.at("simple_out")) < 1e-12);

  const Tensor<double> conv = model.conv(tape.constant(io.at("conv_x"))).value();
  BOOST_TEST(max_abs_difference(conv, io.at("conv_out")) < 1e-12);

  // The outputs are not trivially small: a tolerance of 1e-12 means something.
  BOOST_TEST(xt::amax(xt::abs(lm))() > 0.1);
}

BOOST_AUTO_TEST_CASE(parameters_have_a_tapegrad_and_a_pytorch_name) {
  TorchLike model;
  std::vector<std::string> torch_names, file_names;
  for (const auto& [name, p] : model.named_parameters(nn::ParameterNames::pytorch))
    torch_names.push_back(name);
  const nn::StateDict<double> file = nn::read_npz<double>(kWeights);
  for (const auto& [name, t] : nn::read_npz<double>(kWeights)) file_names.push_back(name);
  std::sort(torch_names.begin(), torch_names.end());
  BOOST_TEST(torch_names == file_names, boost::test_tools::per_element());
  BOOST_TEST(file_names.size() == 29u);

  // The same parameters, in the same order, under both names.
  const auto ours = model.named_parameters();
  const auto theirs = model.named_parameters(nn::ParameterNames::pytorch);
  BOOST_TEST_REQUIRE(ours.size() == theirs.size());
  BOOST_TEST(ours[1].first == "rnn.layer0.weight_ih");
  BOOST_TEST(theirs[1].first == "rnn.weight_ih_l0");
  BOOST_TEST(ours[8].first == "rnn.layer1.bias_hh");
  BOOST_TEST(theirs[8].first == "rnn.bias_hh_l1");
  BOOST_TEST(theirs[9].first == "head.weight");
  for (std::size_t i = 0; i < ours.size(); ++i) BOOST_TEST(ours[i].second == theirs[i].second);
  // A parameter's own name is its path in the model: errors about it say which it is.
  BOOST_TEST(model.rnn.layer(1).weight_ih().name == "rnn.layer1.weight_ih");
  BOOST_TEST(model.head.bias().name == "head.bias");

  // state_dict() copies: changing it does not change the model.
  nn::StateDict<double> dict = model.state_dict(nn::ParameterNames::pytorch);
  BOOST_TEST(dict.count("simple.weight_hh_l1") == 1u);
  dict.at("head.bias").fill(7.0);
  BOOST_TEST(model.head.bias().value(0) != 7.0);

  // A stack without biases has no PyTorch bias names either.
  nn::GRU<double> plain(2, 3, 2, nn::RecurrentOptions{false});
  std::vector<std::string> plain_names;
  for (const auto& [name, p] : plain.named_parameters(nn::ParameterNames::pytorch))
    plain_names.push_back(name);
  BOOST_TEST(plain_names == (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0",
                                                      "weight_ih_l1", "weight_hh_l1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(either_name_is_accepted_and_names_may_be_mixed) {
  const nn::StateDict<double> torch_named = nn::read_npz<double>(kWeights);
  nn::StateDict<double> mixed = torch_named;
  // Half of the recurrent weights under tapegrad's names.
  for (const char* l : {"0", "1"}) {
    const std::string theirs = std::string("gru.weight_hh_l") + l;
    mixed.emplace(std::string("gru.layer") + l + ".weight_hh", mixed.at(theirs));
    mixed.erase(theirs);
  }
  TorchLike a, b;
  a.load_state_dict(torch_named);
  b.load_state_dict(mixed);
  BOOST_TEST((a.state_dict() == b.state_dict()));
  BOOST_TEST(b.gru.layer(1).weight_hh().value(2, 1) == torch_named.at("gru.weight_hh_l1")(2, 1));
}

BOOST_AUTO_TEST_CASE(every_mismatch_is_listed_in_one_error_and_nothing_changes) {
  nn::StateDict<double> dict = nn::read_npz<double>(kWeights);
  dict.erase("rnn.bias_hh_l1");                                           // missing
  dict.erase("emb.weight");                                               // missing
  dict.emplace("rnn.weight_ih_l2", Tensor<double>::from_shape({20, 5}));  // unexpected
  dict.at("head.weight") = Tensor<double>::from_shape({3, 4});            // wrong shape
  dict.emplace("gru.layer0.weight_ih", dict.at("gru.weight_ih_l0"));      // given twice
  dict.at("conv.bias") = Tensor<double>::from_shape({4});                 // wrong, and last

  TorchLike model;
  const nn::StateDict<double> before = model.state_dict();
  BOOST_TEST(error_of([&] { model.load_state_dict(dict); }) ==
             "load_state_dict: the model's 29 parameters and the 29 given tensors do not match "
             "(6 problems; nothing was loaded):\n"
             "  missing 'emb.weight'\n"
             "  missing 'rnn.layer1.bias_hh' (PyTorch: 'rnn.bias_hh_l1')\n"
             "  'head.weight': expected shape [3, 5], given [3, 4]\n"
             "  'gru.layer0.weight_ih' given twice, also as 'gru.weight_ih_l0'\n"
             "  'conv.bias': expected shape [3], given [4]\n"
             "  unexpected 'rnn.weight_ih_l2'");
  BOOST_TEST((model.state_dict() == before));

  // One problem alone is reported the same way; parameters before it are not touched either.
  nn::StateDict<double> almost = nn::read_npz<double>(kWeights);
  almost.at("conv.bias") = Tensor<double>::from_shape({2});
  BOOST_TEST(error_of([&] { model.load_state_dict(almost); }) ==
             "load_state_dict: the model's 29 parameters and the 29 given tensors do not match "
             "(1 problem; nothing was loaded):\n"
             "  'conv.bias': expected shape [3], given [2]");
  BOOST_TEST((model.state_dict() == before));
}

BOOST_AUTO_TEST_CASE(write_npz_then_read_npz_round_trips_in_both_names) {
  testsupport::ScratchDir dir("state_dict");
  TorchLike trained;
  trained.load_state_dict(nn::read_npz<double>(kWeights));
  for (nn::ParameterNames names : {nn::ParameterNames::pytorch, nn::ParameterNames::tapegrad}) {
    const std::string path = dir.path("w.npz");
    nn::write_npz(path, trained.state_dict(names));
    const nn::StateDict<double> back = nn::read_npz<double>(path);
    BOOST_TEST((back == trained.state_dict(names)));
    TorchLike fresh;
    BOOST_TEST(!(fresh.state_dict() == trained.state_dict()));
    fresh.load_state_dict(back);
    BOOST_TEST((fresh.state_dict() == trained.state_dict()));
  }
  const nn::StateDict<double> again = nn::read_npz<double>(dir.path("w.npz"));
  BOOST_TEST(again.count("rnn.layer0.weight_ih") == 1u);  // the last write used tapegrad's names

  // float: written as '<f4', read back exactly, and as double too.
  nn::Rng rng(3);
  nn::Linear<float> small(3, 2, rng);
  nn::write_npz(dir.path("f.npz"), small.state_dict());
  BOOST_TEST((nn::read_npz<float>(dir.path("f.npz")) == small.state_dict()));
  BOOST_TEST(nn::read_npz<double>(dir.path("f.npz")).at("weight")(1, 2) ==
             double(small.weight().value(1, 2)));
  // The writer is the atomic one: only the finished files are in the directory.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.dir))
    files += !!entry.is_regular_file();
  BOOST_TEST(files == 2u);
  // A failed write leaves the file that was there.
  BOOST_TEST(error_of([&] {
               nn::write_npz<float>(dir.path("f.npz"), {{"", small.weight().value}});
             }) == "write_npz: " + dir.path("f.npz") + ": a tensor has an empty name");
  BOOST_TEST((nn::read_npz<float>(dir.path("f.npz")) == small.state_dict()));
}

BOOST_AUTO_TEST_CASE(entries_that_are_not_float_arrays_are_errors_naming_them) {
  const std::string int64 = kFixtures + "/state_dict_int64.npz";
  BOOST_TEST(error_of([&] { nn::read_npz<double>(int64); }) ==
             "read_npz: " + int64 +
                 ": entry 'num_batches_tracked.npy' has dtype <i8; expected float32 (<f4) or "
                 "float64 (<f8)");
  const std::string compressed = kFixtures + "/state_dict_compressed.npz";
  BOOST_TEST(error_of([&] { nn::read_npz<float>(compressed); }) ==
             "read_npz: " + compressed +
                 ": entry 'weight.npy' is compressed (method 8, as numpy.savez_compressed "
                 "writes); expected stored entries, as numpy.savez writes");
  const std::string fortran = kFixtures + "/state_dict_fortran.npz";
  BOOST_TEST(error_of([&] { nn::read_npz<float>(fortran); }) ==
             "read_npz: " + fortran +
                 ": entry 'weight.npy' (dtype <f4) is stored in Fortran order; expected C order "
                 "(fortran_order False)");
}

BOOST_AUTO_TEST_CASE(truncated_corrupt_and_foreign_files_are_errors) {
  testsupport::ScratchDir dir("state_dict");
  const std::string bytes = testsupport::read_file(kWeights);
  BOOST_TEST_REQUIRE(bytes.size() > 1000u);

  const std::string cut = dir.write("cut.npz", bytes.substr(0, bytes.size() / 2));
  const std::string cut_error = error_of([&] { nn::read_npz<double>(cut); });
  BOOST_TEST(cut_error.rfind("read_npz: " + cut + ": is truncated (entry '", 0) == 0, cut_error);

  std::string flipped = bytes;
  const std::size_t at = bytes.find("rnn.weight_hh_l1.npy") + 200;  // inside that entry's data
  flipped[at] = char(flipped[at] ^ 0x40);
  const std::string bad = dir.write("bad.npz", flipped);
  BOOST_TEST(error_of([&] { nn::read_npz<double>(bad); }) ==
             "read_npz: " + bad + ": CRC mismatch in entry 'rnn.weight_hh_l1.npy' (corrupt file)");

  const std::string text = dir.write("text.npz", "weight = [1, 2, 3]\n");
  BOOST_TEST(error_of([&] { nn::read_npz<double>(text); }) ==
             "read_npz: " + text +
                 ": is not a .npz file (not a ZIP archive, as numpy.savez writes)");
  const std::string empty = dir.write("empty.npz", "");
  BOOST_TEST(error_of([&] { nn::read_npz<double>(empty); }) ==
             "read_npz: " + empty + ": is empty (not a .npz file)");
  const std::string missing = dir.path("missing.npz");
  BOOST_TEST(error_of([&] {
               nn::read_npz<double>(missing);
             }).rfind("read_npz: " + missing + ": cannot open", 0) == 0);
}

// The README tour's snippet, line for line, run in a scratch directory holding the fixture's
// language-model weights as "weights.npz" (the entries of emb, rnn and head only).
namespace readme {
struct Model : nn::Module<double> {  // torch: self.emb, self.rnn, self.head
  nn::Embedding<double> emb{7, 4};   // Embedding(7, 4)
  nn::LSTM<double> rnn{4, 5, 2};     // LSTM(4, 5, num_layers=2)
  nn::Linear<double> head{5, 3};     // Linear(5, 3)
  Model() {
    register_module("emb", emb);
    register_module("rnn", rnn);
    register_module("head", head);
  }
};
}  // namespace readme

BOOST_AUTO_TEST_CASE(the_readme_snippet_loads_pytorch_weights) {
  testsupport::ScratchDir dir("state_dict_readme");
  nn::StateDict<double> lm;
  for (const auto& [name, t] : nn::read_npz<double>(kWeights))
    if (name.rfind("emb.", 0) == 0 || name.rfind("rnn.", 0) == 0 || name.rfind("head.", 0) == 0)
      lm.emplace(name, t);
  BOOST_TEST_REQUIRE(lm.size() == 11u);
  nn::write_npz(dir.path("weights.npz"), lm);
  const std::filesystem::path was = std::filesystem::current_path();
  std::filesystem::current_path(dir.dir);
  struct Back {
    std::filesystem::path to;
    ~Back() { std::filesystem::current_path(to); }
  } back{was};

  using readme::Model;
  Model model;
  model.load_state_dict(nn::read_npz<double>("weights.npz"));  // "rnn.weight_ih_l1" is
                                                               // rnn.layer(1).weight_ih()
  nn::write_npz("back.npz", model.state_dict(nn::ParameterNames::pytorch));

  BOOST_TEST(model.rnn.layer(1).weight_ih().value(0, 1) == lm.at("rnn.weight_ih_l1")(0, 1));
  BOOST_TEST((nn::read_npz<double>("back.npz") == lm));
  BOOST_TEST(
      testsupport::error_of([&] {
        model.head.weight().value = Tensor<double>{1, 2};
      }) ==
      "parameter 'head.weight' has shape [3, 5]; `value =` was given shape [2] (a parameter's "
      "shape is fixed; expected the same shape)");
}

BOOST_AUTO_TEST_SUITE_END()
