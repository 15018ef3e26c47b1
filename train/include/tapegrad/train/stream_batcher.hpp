#pragma once
// Batches for truncated BPTT over one token sequence: the held-out split, B parallel streams
// read chunk by chunk so that the hidden state can be carried, and the position a checkpoint
// stores so that a resumed run sees the same batches. Errors name the values at fault as
// {batch}, {seq_len} and {val_fraction} (see ValueError).
#include <cstddef>
#include <string>
#include <vector>

#include <tapegrad/tensor.hpp>

namespace tapegrad::train {

/// The training part and the held-out tail of a token sequence.
struct Split {
  Indices train, validation;
};

/// The last round(n * val_fraction) symbols become the validation part. val_fraction must lie
/// in [0, 0.5]. With val_fraction > 0 both parts need at least 2 symbols (an input and its
/// target); with 0 the validation part is empty and train is the whole sequence.
Split split(const Indices& tokens, double val_fraction);

/// Where a StreamBatcher is: every stream's offset from its start (all streams move together)
/// and how many times the streams have wrapped. Saved in a checkpoint so that a resumed run
/// continues with the same batches.
struct Position {
  std::size_t offset = 0;
  std::size_t epoch = 0;
  bool operator==(const Position& o) const { return offset == o.offset && epoch == o.epoch; }
  bool operator!=(const Position& o) const { return !(*this == o); }
};

/// One process's part of n items (streams) cut into `count` contiguous parts, as data-parallel
/// training shares a batch: part `index` is [first(n), first(n) + size(n)), the parts in index
/// order cover 0..n-1 and their sizes differ by at most one. The default is the whole.
struct Shard {
  std::size_t index = 0, count = 1;
  std::size_t first(std::size_t n) const { return n * index / count; }
  std::size_t size(std::size_t n) const { return n * (index + 1) / count - first(n); }
};

/// One chunk for truncated BPTT.
struct Batch {
  /// inputs[t][b]: the symbol stream b shows at step t (T steps of B symbols, CharLM's input;
  /// with a Shard, B is the shard's streams and b counts from its first).
  std::vector<Indices> inputs;
  /// targets[t * B + b] = the symbol after inputs[t][b]; matches CharLM's time-major logits rows.
  Indices targets;
  /// True when the streams went back to their starts for this batch: the state carried from
  /// the previous batch belongs to other text and must be reset to zeros.
  bool wrapped = false;
};

/// B parallel streams over one token sequence, as char-rnn trains: the sequence is cut into B
/// contiguous streams of L = n / B symbols each (the last n % B symbols are not used), stream b
/// covering [b * L, (b + 1) * L). Each next() returns the next T symbols of every stream and
/// advances all of them by T, so batch k+1 continues exactly where batch k stopped and the
/// hidden state can be carried. When a stream cannot supply T + 1 more symbols (T inputs plus
/// the target of the last), all streams wrap to their starts and epoch() increments.
class StreamBatcher {
 public:
  /// `unit` only words the error messages ("characters", "words"). Errors: batch or seq_len
  /// 0, or streams too short to supply seq_len + 1 symbols. With a `shard`, the streams are cut
  /// as for the whole batch (so the data order depends on `batch` alone) and next() returns only
  /// the shard's part of them: the processes of a data-parallel run together read what one
  /// process reads alone.
  StreamBatcher(Indices tokens, std::size_t batch, std::size_t seq_len,
                std::string unit = "symbols", Shard shard = {});

  /// The next chunk of seq_len() steps.
  Batch next() { return next(seq_len_); }
  /// The next chunk of `steps` steps (1 <= steps < stream_length(), else an Error).
  Batch next(std::size_t steps);

  /// All streams (the global batch).
  std::size_t batch() const { return batch_; }
  /// The streams next() returns: the shard's.
  std::size_t streams() const { return shard_streams_; }
  std::size_t seq_len() const { return seq_len_; }
  std::size_t stream_length() const { return stream_length_; }
  /// Full chunks of `steps` steps each stream gives before wrapping.
  std::size_t batches_per_epoch(std::size_t steps) const;
  std::size_t batches_per_epoch() const { return batches_per_epoch(seq_len_); }

  std::size_t epoch() const { return position_.epoch; }
  /// Whether the last next() wrapped (the caller must reset its carried state).
  bool wrapped() const { return wrapped_; }

  Position position() const { return position_; }
  /// Continues from a saved position. The offset must be at most stream_length(); the next
  /// next() wraps first if fewer than steps + 1 symbols remain, exactly as an uninterrupted
  /// run would.
  void set_position(const Position& p);

 private:
  Indices tokens_;
  std::size_t batch_, seq_len_, stream_length_;
  std::string unit_;
  std::size_t first_stream_, shard_streams_;
  Position position_;
  bool wrapped_ = false;
};

}  // namespace tapegrad::train
