#include "tapegrad/train/stream_batcher.hpp"

#include <cmath>

#include <tapegrad/train/format.hpp>
#include <tapegrad/train/value_error.hpp>

namespace tapegrad::train {

Split split(const Indices& tokens, double val_fraction) {
  if (!(val_fraction >= 0.0 && val_fraction <= 0.5))  // also rejects NaN
    throw ValueError("split: {val_fraction} must lie in [0, 0.5], got " +
                     format_number(val_fraction));
  const std::size_t n = tokens.size();
  const std::size_t n_val =
      static_cast<std::size_t>(std::llround(static_cast<double>(n) * val_fraction));
  if (val_fraction > 0.0 && (n_val < 2 || n - n_val < 2))
    throw ValueError("split: {val_fraction} " + format_number(val_fraction) + " of " +
                     std::to_string(n) + " symbols leaves " + std::to_string(n - n_val) +
                     " for training and " + std::to_string(n_val) +
                     " for validation; each part needs at least 2");
  const auto cut = tokens.begin() + static_cast<std::ptrdiff_t>(n - n_val);
  return Split{Indices(tokens.begin(), cut), Indices(cut, tokens.end())};
}

// ---------------------------------------------------------------------------------------------

namespace {

[[noreturn]] void too_short(std::size_t steps, std::size_t batch, std::size_t length,
                            const std::string& unit) {
  throw ValueError("{seq_len} " + std::to_string(steps) +
                   " is longer than the data allows: " + std::to_string(batch) + " streams of " +
                   std::to_string(length) + " " + unit + " each need at least " +
                   std::to_string(steps + 1) + " (lower {seq_len} or {batch}, or give more text)");
}

}  // namespace

StreamBatcher::StreamBatcher(Indices tokens, std::size_t batch, std::size_t seq_len,
                             std::string unit, Shard shard)
    : tokens_(std::move(tokens)),
      batch_(batch),
      seq_len_(seq_len),
      stream_length_(batch == 0 ? 0 : tokens_.size() / batch),
      unit_(std::move(unit)),
      first_stream_(0),
      shard_streams_(0) {
  if (shard.count == 0 || shard.index >= shard.count)
    throw Error("StreamBatcher: shard " + std::to_string(shard.index) + " of " +
                std::to_string(shard.count) + " does not exist");
  first_stream_ = shard.first(batch);
  shard_streams_ = shard.size(batch);
  if (batch_ == 0) throw ValueError("{batch} must be at least 1, got 0");
  if (seq_len_ == 0) throw ValueError("{seq_len} must be at least 1, got 0");
  if (stream_length_ < seq_len_ + 1) too_short(seq_len_, batch_, stream_length_, unit_);
}

std::size_t StreamBatcher::batches_per_epoch(std::size_t steps) const {
  // Offsets 0, T, 2T, ... are usable while offset + T + 1 <= L.
  return steps == 0 ? 0 : (stream_length_ - 1) / steps;
}

Batch StreamBatcher::next(std::size_t steps) {
  if (steps == 0) throw ValueError("{seq_len} must be at least 1, got 0");
  if (stream_length_ < steps + 1) too_short(steps, batch_, stream_length_, unit_);
  wrapped_ = position_.offset + steps + 1 > stream_length_;
  if (wrapped_) {
    position_.offset = 0;
    ++position_.epoch;
  }
  Batch out;
  out.wrapped = wrapped_;
  const std::size_t n = shard_streams_;
  out.inputs.assign(steps, Indices(n));
  out.targets.resize(steps * n);
  for (std::size_t t = 0; t < steps; ++t)
    for (std::size_t b = 0; b < n; ++b) {
      const std::size_t at = (first_stream_ + b) * stream_length_ + position_.offset + t;
      out.inputs[t][b] = tokens_[at];
      out.targets[t * n + b] = tokens_[at + 1];
    }
  position_.offset += steps;
  return out;
}

void StreamBatcher::set_position(const Position& p) {
  if (p.offset > stream_length_)
    throw ValueError("StreamBatcher::set_position: offset " + std::to_string(p.offset) +
                     " is beyond the stream length " + std::to_string(stream_length_) +
                     " (was the checkpoint made with other data or another {batch}?)");
  position_ = p;
  wrapped_ = false;
}

}  // namespace tapegrad::train
