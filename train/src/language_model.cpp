#include "tapegrad/train/language_model.hpp"

#include <algorithm>
#include <cmath>

#include <tapegrad/train/format.hpp>
#include <tapegrad/train/json_fields.hpp>
#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

using json = nlohmann::json;

namespace {

// Adds to e.top1 / e.top3 the rows of `logits` [..., V] whose target ranks first / in the
// first three: its rank is the number of logits at least as large (itself and `never` excluded),
// so a tie ranks it after the others; a target that is `never` is a miss.
void count_top_ranks(const Tensor<float>& logits, const Indices& targets, std::int64_t never,
                     Evaluation& e) {
  const std::size_t V = logits.shape().back();
  const float* row = logits.data();
  for (std::size_t r = 0; r < targets.size(); ++r, row += V) {
    const std::size_t t = std::size_t(targets[r]);
    std::size_t above = targets[r] == never ? 3 : 0;
    for (std::size_t k = 0; k < V && above < 3; ++k)
      above += k != t && std::int64_t(k) != never && row[k] >= row[t];
    e.top1 += above == 0;
    e.top3 += above < 3;
  }
}

// Rows [first, first + count) of a [rows, ...] tensor.
Tensor<float> rows_of(const Tensor<float>& t, std::size_t first, std::size_t count) {
  Shape shape = t.shape();
  shape[0] = count;
  Tensor<float> out = Tensor<float>::from_shape(shape);
  const std::size_t width = t.shape()[0] == 0 ? 0 : t.size() / t.shape()[0];
  std::copy(t.data() + first * width, t.data() + (first + count) * width, out.data());
  return out;
}

// This process's rows of every tensor of a state of all streams.
LanguageModelNet::State shard_rows(const LanguageModelNet::State& all, Shard shard,
                                   std::size_t streams) {
  LanguageModelNet::State out;
  for (const Tensor<float>& t : all.h)
    out.h.push_back(rows_of(t, shard.first(streams), shard.size(streams)));
  for (const Tensor<float>& t : all.c)
    out.c.push_back(rows_of(t, shard.first(streams), shard.size(streams)));
  return out;
}

// The batch shared out among the processes, or a ValueError naming {batch}.
Shard checked_shard(ProcessGroup* processes, std::size_t batch) {
  const Shard shard = shard_of(processes);
  if (batch % shard.count != 0)
    throw ValueError("{batch} " + std::to_string(batch) + " does not divide among " +
                     std::to_string(shard.count) +
                     " processes: every process trains on an equal share of the streams (give a "
                     "multiple of " +
                     std::to_string(shard.count) + ")");
  return shard;
}

std::vector<double> doubles(const json& j, const char* name, const std::string& where) {
  std::vector<double> out;
  for (const json& v : json_field(j, name, json::value_t::array, where)) {
    if (!v.is_number())
      throw Error(where + ": " + name + " holds " + v.dump() + ", expected numbers");
    out.push_back(v.get<double>());
  }
  return out;
}

}  // namespace

double Evaluation::perplexity() const { return std::exp(nats_per_token()); }

double Evaluation::bits_per_character() const {
  return characters > 0 ? nats / characters / std::log(2.0) : 0.0;
}

Evaluation evaluate(const LanguageModelNet& net, const Indices& tokens, std::size_t batch,
                    std::size_t seq_len, double chars_per_token, Shard shard,
                    std::int64_t never_suggested) {
  if (tokens.size() < 2)
    throw Error("evaluate: " + std::to_string(tokens.size()) +
                " tokens; a loss needs at least 2 (an input and its target)");
  if (batch == 0 || seq_len == 0)
    throw ValueError("evaluate: {batch} and {seq_len} must be at least 1");
  NoGradGuard no_grad;
  // As many streams as give each a full chunk (at most `batch`): fewer streams leave fewer
  // symbols unpredicted (the first of each stream) on a short text.
  const std::size_t streams =
      std::max<std::size_t>(1, std::min(batch, tokens.size() / (seq_len + 1)));
  const std::size_t length = tokens.size() / streams;
  const std::size_t steps = std::min(seq_len, length - 1);
  Evaluation out;
  if (shard.size(streams) == 0) return out;  // more processes than streams
  StreamBatcher batcher(tokens, streams, steps, "symbols", shard);
  LanguageModelNet::State state = net.zero_state(batcher.streams());
  Tape<float> tape;
  // Full chunks, then the remainder: every stream predicts its symbols 1 .. length-1.
  std::size_t remaining = length - 1;
  while (remaining > 0) {
    const std::size_t n = std::min(steps, remaining);
    const Batch b = batcher.next(n);
    tape.clear();
    const Var<float> logits = net.forward(tape, b.inputs, state);
    const Var<float> loss = softmax_cross_entropy(logits, b.targets);
    out.nats += double(loss.item()) * double(b.targets.size());
    out.tokens += b.targets.size();
    count_top_ranks(logits.value(), b.targets, never_suggested, out);
    remaining -= n;
  }
  out.characters = double(out.tokens) * chars_per_token;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Memory

TrainingMemory estimate_training_memory(const TrainingSizes& s) {
  using Net = LanguageModelNet;
  const double floats = 4, V = double(s.vocabulary), H = double(s.hidden), L = double(s.layers),
               B = double(s.batch), T = double(s.seq_len);
  // Bytes kept per layer, time step, stream and hidden unit at a step's peak, from the peak
  // resident sizes of tapegrad-lm train (one- and two-layer runs, hidden 256-1024, batch 32-128,
  // seq-len 64-128, a checkpoint every 5 steps), rounded up: every gate's pre-activation,
  // activation and their gradients, twice over at a checkpoint step. An RNN or LSTM layer is one
  // sequence op (measured 34-36 and 146-152 bytes, more in small runs); a GRU runs step by
  // step, a node per gate.
  const double per_unit = s.cell == Net::Cell::rnn ? 40 : s.cell == Net::Cell::lstm ? 170 : 420;
  TrainingMemory m;
  const double p = Net::parameter_count_for(s.vocabulary, s.embed, s.hidden, s.layers, s.cell);
  m.parameters = 2 * p * floats;
  m.optimizer = double(optimizer_state_slots(s.optimizer)) * p * floats;
  const double in = s.embed == 0 ? V : double(s.embed);
  m.activations = L * T * B * H * per_unit   // the recurrent layers
                  + 8 * T * B * V * floats   // logits, probabilities and their gradients, twice
                  + 4 * T * B * in * floats  // the input rows and their gradients, twice
                  + 4 * L * B * H * floats;  // the carried state (h and c)
  // The text, its tokens (8 bytes each), the training and validation copies and the batcher's.
  m.data = double(s.text_bytes) + 4 * 8 * double(s.tokens);
  return m;
}

std::string TrainingMemory::describe(const std::string& optimizer_name) const {
  return format_bytes(total()) + " (parameters and gradients " + format_bytes(parameters) + ", " +
         optimizer_name + " state " + format_bytes(optimizer) + ", one step's activations " +
         format_bytes(activations) + ", the text and its tokens " + format_bytes(data) + ")";
}

// ---------------------------------------------------------------------------------------------
// Sampling helpers

std::vector<double> next_token_logits(const LanguageModelNet& net, LanguageModelNet::State& state,
                                      const Indices& tokens) {
  if (tokens.empty()) throw Error("next_token_logits: no tokens to feed");
  NoGradGuard no_grad;
  // The tokens are read in pieces on one reused tape, and only the last step goes through the
  // head: memory stays that of one piece however long the text (a whole prompt on one tape
  // with logits at every step took about 13 KB per character).
  constexpr std::size_t kPiece = 64;
  Tape<float> tape;
  std::vector<Indices> steps;
  std::vector<double> out;
  for (std::size_t start = 0; start < tokens.size(); start += kPiece) {
    const std::size_t end = std::min(tokens.size(), start + kPiece);
    steps.clear();
    for (std::size_t t = start; t < end; ++t) steps.push_back(Indices{tokens[t]});
    tape.clear();
    const Var<float> hidden = net.recurrent(tape, steps, state);  // [steps, 1, hidden]
    if (end < tokens.size()) continue;
    const Tensor<float>& v = net.logits(select(hidden, 0, std::ptrdiff_t(end - start - 1))).value();
    out.assign(v.begin(), v.end());
  }
  return out;
}

std::vector<double> probabilities(const std::vector<double>& logits, double temperature) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    sum += p[i] = std::exp((logits[i] - top) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

std::int64_t argmax(const std::vector<double>& values) {
  return std::max_element(values.begin(), values.end()) - values.begin();
}

std::vector<std::int64_t> top_indices(const std::vector<double>& values, std::size_t k) {
  std::vector<std::int64_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(i);
  k = std::min(k, order.size());
  std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(k), order.end(),
                    [&](std::int64_t a, std::int64_t b) {
                      return values[a] > values[b] || (values[a] == values[b] && a < b);
                    });
  order.resize(k);
  return order;
}

std::int64_t draw_token(const std::vector<double>& logits, double temperature, std::size_t top_k,
                        nn::Rng& rng) {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw ValueError("{temperature} must be a number >= 0 (0 picks the most likely token), got " +
                     format_number(temperature));
  if (temperature == 0) return argmax(logits);
  std::vector<double> p = probabilities(logits, temperature);
  if (top_k > 0 && top_k < p.size()) {
    std::vector<double> kept(p.size(), 0.0);
    for (std::int64_t i : top_indices(p, top_k)) kept[std::size_t(i)] = p[std::size_t(i)];
    p = std::move(kept);
  }
  double total = 0;
  for (double x : p) total += x;
  const double u = rng.uniform(0, total);
  std::int64_t next = std::int64_t(p.size()) - 1;
  double cumulative = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    cumulative += p[i];
    if (p[i] > 0 && u < cumulative) {
      next = std::int64_t(i);
      break;
    }
  }
  while (p[std::size_t(next)] == 0) --next;  // rounding at the very end: the last kept token
  return next;
}

// ---------------------------------------------------------------------------------------------
// Training

std::vector<std::pair<std::string, Tensor<float>*>> carried_state_tensors(
    LanguageModelNet::State& state) {
  std::vector<std::pair<std::string, Tensor<float>*>> out;
  for (std::size_t l = 0; l < state.h.size(); ++l)
    out.emplace_back("carried.h." + std::to_string(l), &state.h[l]);
  for (std::size_t l = 0; l < state.c.size(); ++l)
    out.emplace_back("carried.c." + std::to_string(l), &state.c[l]);
  return out;
}

LanguageModelTask::LanguageModelTask(LanguageModelNet& net, LanguageModelNet::State& carried,
                                     Indices train, Indices validation, std::size_t batch,
                                     std::size_t seq_len, const std::string& unit,
                                     double chars_per_token, ProcessGroup* processes)
    : net_(net),
      carried_(carried),
      processes_(processes),
      shard_(checked_shard(processes, batch)),
      batcher_(std::move(train), batch, seq_len, unit, shard_),
      validation_(std::move(validation)),
      batch_(batch),
      local_batch_(batcher_.streams()),
      seq_len_(seq_len),
      chars_per_token_(chars_per_token) {
  if (is_parallel(processes_)) {
    net_.set_random_stream(processes_->rank());  // dropout masks of its own on every process
    all_carried_ = net_.zero_state(batch_);
    // A state of all streams (a loaded checkpoint's) is cut to this process's share.
    const bool all_streams =
        !carried_.h.empty() && carried_.h[0].dimension() == 2 && carried_.h[0].shape()[0] == batch_;
    carried_ = all_streams ? shard_rows(carried_, shard_, batch_) : net_.zero_state(local_batch_);
  }
}

void LanguageModelTask::combine_norms(std::vector<double>& norms) {
  if (!is_parallel(processes_) || norms.empty()) return;
  // Each process's loss is the mean over its share, N times the whole batch's gradient on its
  // streams: ||g||^2 = sum over processes of (||g_p|| / N)^2.
  const double n = double(processes_->size());
  for (double& x : norms) x = (x / n) * (x / n);
  processes_->sum(norms.data(), norms.size());
  for (double& x : norms) x = std::sqrt(x);
}

Var<float> LanguageModelTask::training_loss(Tape<float>& tape) {
  Batch batch = batcher_.next();
  // After a wrap the streams show other text than the carried state saw.
  if (batch.wrapped) carried_ = net_.zero_state(local_batch_);
  last_start_state_ = carried_;
  const Var<float> loss = softmax_cross_entropy(
      net_.forward(tape, batch.inputs, carried_, &hidden_grad_norms_), batch.targets);
  last_batch_ = std::move(batch);
  return loss;
}

std::size_t LanguageModelTask::items_in_last_batch() const {
  return last_batch_ ? last_batch_->targets.size() : 0;
}

void LanguageModelTask::after_backward() { combine_norms(hidden_grad_norms_); }

std::optional<double> LanguageModelTask::validation_loss() {
  if (validation_.empty()) return std::nullopt;
  Evaluation e = evaluate(net_, validation_, batch_, seq_len_, chars_per_token_, shard_);
  if (is_parallel(processes_)) {
    double sums[4] = {e.nats, double(e.tokens), double(e.top1), double(e.top3)};
    processes_->sum(sums, 4);
    e.nats = sums[0];
    e.tokens = std::size_t(sums[1]);
    e.top1 = std::size_t(sums[2]);
    e.top3 = std::size_t(sums[3]);
    e.characters = double(e.tokens) * chars_per_token_;
  }
  last_validation_ = e;
  return last_validation_->nats_per_token();
}

void LanguageModelTask::before_checkpoint() {
  if (!last_batch_) return;  // no step since the start or the resume: keep what was loaded
  // The last step again (the weights have moved on by one update since, which a diagnostic can
  // afford; without dropout), with the loss of its last time step alone. Nothing of the training
  // state changes: the state is a copy, and the parameter gradients are zeroed again. In evaluation
  // mode: dropout would draw masks from the model's generators, and a checkpoint taken or not must
  // not change what the training steps draw next.
  nn::EvalMode<float> eval(net_);
  const std::size_t steps = last_batch_->inputs.size();
  LanguageModelNet::State state = last_start_state_;
  Tape<float> tape;
  const Var<float> logits = net_.forward(tape, last_batch_->inputs, state, &reach_grad_norms_);
  const Indices last_targets(last_batch_->targets.end() - std::ptrdiff_t(local_batch_),
                             last_batch_->targets.end());
  tape.backward(softmax_cross_entropy(select(logits, 0, std::ptrdiff_t(steps - 1)), last_targets));
  combine_norms(reach_grad_norms_);
  net_.zero_grad();
}

void LanguageModelTask::gather_state() {
  if (!is_parallel(processes_)) return;
  // Every tensor of the carried state, [local streams, hidden] on each process, lands in rank
  // 0's [all streams, hidden] with the processes' rows in rank order: the shards are
  // contiguous and equal, so the rows of process p are p * local .. (p + 1) * local - 1.
  const auto mine = carried_state_tensors(carried_);
  const auto all = carried_state_tensors(all_carried_);
  for (std::size_t i = 0; i < mine.size(); ++i)
    processes_->gather(mine[i].second->data(), mine[i].second->size() * sizeof(float),
                       all[i].second->data(), 0);
}

std::vector<std::pair<std::string, Tensor<float>*>> LanguageModelTask::state_tensors() {
  return carried_state_tensors(is_parallel(processes_) ? all_carried_ : carried_);
}

json LanguageModelTaskState::to_json() const {
  return json{{"position", {{"offset", position.offset}, {"epoch", position.epoch}}},
              {"last_step_hidden_grad_norms", last_step_hidden_grad_norms},
              {"last_time_step_grad_norms", last_time_step_grad_norms}};
}

LanguageModelTaskState LanguageModelTaskState::from_json(const json& j) {
  const std::string where = "task";
  const json& pos = json_field(j, "position", json::value_t::object, where);
  LanguageModelTaskState s;
  s.position = Position{json_count(pos, "offset", "task.position"),
                        json_count(pos, "epoch", "task.position")};
  s.last_step_hidden_grad_norms = doubles(j, "last_step_hidden_grad_norms", where);
  s.last_time_step_grad_norms = doubles(j, "last_time_step_grad_norms", where);
  return s;
}

json LanguageModelTask::state() const {
  return LanguageModelTaskState{batcher_.position(), hidden_grad_norms_, reach_grad_norms_}
      .to_json();
}

void LanguageModelTask::set_state(const json& j) {
  LanguageModelTaskState s = LanguageModelTaskState::from_json(j);
  batcher_.set_position(s.position);
  // A resume loaded every stream's state into state_tensors(): this process takes its share.
  if (is_parallel(processes_)) carried_ = shard_rows(all_carried_, shard_, batch_);
  hidden_grad_norms_ = std::move(s.last_step_hidden_grad_norms);
  reach_grad_norms_ = std::move(s.last_time_step_grad_norms);
}

}  // namespace tapegrad::train
