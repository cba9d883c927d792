#include "engine/soft_tokens.h"

#include <algorithm>

#include "base/error.h"
#include "model/gemma4_text.h"

namespace g4 {

namespace {

// splitmix64's finaliser: spreads every input bit over the whole word.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr uint64_t kSoftBit = uint64_t{1} << 63;

}  // namespace

uint64_t ContentHash(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix(seed);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return Mix(h ^ bytes);
}

void SoftTokens::Append(const float* data, int64_t n, uint64_t content_key, bool bidirectional_run) {
  G4_CHECK(width > 0, "soft tokens without a width");
  rows.insert(rows.end(), data, data + n * width);
  for (int64_t i = 0; i < n; ++i) {
    keys.push_back(Mix(content_key + Mix(static_cast<uint64_t>(i))));
    bidirectional.push_back(bidirectional_run ? 1 : 0);
  }
}

namespace {

// Soft positions and embedding rows must pair up one to one, in order.
void CheckRowAvailable(int64_t row, int64_t available) {
  if (row >= available) Fail("the prompt has more soft-token positions than embedding rows (", available, ")");
}
void CheckEveryRowUsed(int64_t rows, int64_t available) {
  if (rows != available) Fail("the prompt has ", rows, " soft-token positions but ", available, " embedding rows");
}

}  // namespace

std::vector<uint64_t> PositionKeys(const std::vector<int32_t>& ids, const SoftTokens* soft) {
  std::vector<uint64_t> keys(ids.size());
  int64_t row = 0;
  const int64_t available = soft != nullptr ? soft->count() : 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != kSoftToken) {
      keys[i] = TokenKey(ids[i]);
      continue;
    }
    CheckRowAvailable(row, available);
    keys[i] = soft->keys[row++] | kSoftBit;
  }
  CheckEveryRowUsed(row, available);
  return keys;
}

SoftLayout::SoftLayout(const std::vector<int32_t>& ids, const SoftTokens* soft) : soft_(soft) {
  const int64_t available = soft != nullptr ? soft->count() : 0;
  rows_before_.resize(ids.size() + 1);
  int64_t rows = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    rows_before_[i] = rows;
    if (ids[i] != kSoftToken) continue;
    CheckRowAvailable(rows, available);
    const bool bidirectional = soft->bidirectional[rows] != 0;
    if (bidirectional && !runs_.empty() && runs_.back().second == static_cast<int64_t>(i)) {
      ++runs_.back().second;  // the previous position was in this run
    } else if (bidirectional) {
      runs_.push_back({static_cast<int64_t>(i), static_cast<int64_t>(i) + 1});
    }
    ++rows;
  }
  CheckEveryRowUsed(rows, available);
  rows_before_[ids.size()] = rows;
}

const float* SoftLayout::RowsFrom(int64_t pos) const {
  if (soft_ == nullptr || rows_before_[pos] >= soft_->count()) return nullptr;
  return soft_->row(rows_before_[pos]);
}

const uint8_t* SoftLayout::BidirectionalFrom(int64_t pos) const {
  if (soft_ == nullptr || rows_before_[pos] >= soft_->count()) return nullptr;
  return soft_->bidirectional.data() + rows_before_[pos];
}

int64_t SoftLayout::PieceEnd(int64_t begin, int64_t end) const {
  // The run containing position end - 1 (if it goes on past end).
  auto it = std::upper_bound(runs_.begin(), runs_.end(), end - 1,
                             [](int64_t p, const std::pair<int64_t, int64_t>& r) { return p < r.first; });
  if (it == runs_.begin()) return end;
  --it;
  if (it->second <= end) return end;
  return it->first > begin ? it->first : it->second;
}

}  // namespace g4
