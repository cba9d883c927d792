// The soft positions of a prompt: encoder embeddings (images, video frames, audio) that take
// the place of token ids. A prompt's ids carry kSoftToken there; SoftTokens holds, in the same
// order, each position's embedding row, a key naming its content (so a cached prefix is reused
// only for the same media) and whether it belongs to a run that attends both ways.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace g4 {

struct SoftTokens {
  int64_t width = 0;                   // floats per row (the text model's width)
  std::vector<float> rows;             // [count][width]
  std::vector<uint64_t> keys;          // [count] equal only for the same media at the same place
  // [count] 1 for image and video-frame positions: each maximal run of them is one block that
  // attends bidirectionally on models that ask for it (spec §4.4); 0 for audio.
  std::vector<uint8_t> bidirectional;

  int64_t count() const { return static_cast<int64_t>(keys.size()); }
  const float* row(int64_t i) const { return rows.data() + i * width; }
  // Appends n rows, all keyed from `content_key` (row i gets a key mixing in i).
  void Append(const float* data, int64_t n, uint64_t content_key, bool bidirectional_run);
};

// The PositionKeys entry of a text token.
inline uint64_t TokenKey(int32_t id) { return static_cast<uint32_t>(id); }

// A 64-bit content hash (FNV-1a, then a final mix), for keying media by what they contain.
uint64_t ContentHash(const void* data, size_t bytes, uint64_t seed = 0);

// The identity of every prompt position as a prefix cache compares them: a text token is its
// id; a soft position is its content key with the top bit set, so it never equals a token id
// and a different image never matches. Throws g4::Error when the ids' kSoftToken count and the
// soft tokens disagree.
std::vector<uint64_t> PositionKeys(const std::vector<int32_t>& ids, const SoftTokens* soft);

// Where a prompt's soft positions fall: rows before each position, and the bidirectional runs
// that a prefill must evaluate in one piece.
class SoftLayout {
 public:
  SoftLayout() = default;
  // `soft` may be null (no soft positions); it must outlive the layout.
  SoftLayout(const std::vector<int32_t>& ids, const SoftTokens* soft);

  // The first row of the soft positions at or after `pos` (null when there are none).
  const float* RowsFrom(int64_t pos) const;
  const uint8_t* BidirectionalFrom(int64_t pos) const;
  // The end of a prefill piece that starts at `begin` and would end at `end`: pulled back to
  // the start of a bidirectional run that `end` would cut, or, when such a run starts at
  // `begin` itself, pushed to the run's end (a run is never split across passes).
  int64_t PieceEnd(int64_t begin, int64_t end) const;

 private:
  const SoftTokens* soft_ = nullptr;
  std::vector<int64_t> rows_before_;             // [n + 1]
  std::vector<std::pair<int64_t, int64_t>> runs_;  // [begin, end) of each bidirectional run
};

}  // namespace g4
