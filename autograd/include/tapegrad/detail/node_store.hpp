#pragma once
// The tape's node storage: chunks of 64 nodes that never move once made, so references from
// Var::value() stay valid while more ops are recorded, indexed with a shift and a mask
// (std::deque's indexing cost 6% of a small RNN step under callgrind). Nodes past size() are
// kept, buffers and all, for the next step of a reused tape.
#include <cstddef>
#include <memory>
#include <vector>

namespace tapegrad::detail {

template <class Node>
class NodeStore {
 public:
  Node& operator[](std::size_t i) { return chunks_[i >> kShift][i & (kChunk - 1)]; }
  const Node& operator[](std::size_t i) const { return chunks_[i >> kShift][i & (kChunk - 1)]; }
  /// Nodes made so far (all kept for reuse).
  std::size_t size() const { return count_; }
  void grow() {
    if (count_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<Node[]>(kChunk));
    ++count_;
  }
  void release() {
    chunks_.clear();
    chunks_.shrink_to_fit();
    count_ = 0;
  }

 private:
  static constexpr std::size_t kShift = 6, kChunk = std::size_t(1) << kShift;
  std::vector<std::unique_ptr<Node[]>> chunks_;
  std::size_t count_ = 0;
};

}  // namespace tapegrad::detail
