// KV cache tests: the visibility rule of sliding and full attention, ring-buffer retention of
// sliding layers, growth of full layers, Clear() and the footprint formula.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace g4 {
namespace {

// --- KeyVisible / RingSlot --------------------------------------------------------------------

TEST(KeyVisibleTest, SlidingWindowSeesItselfAndWindowMinusOneBefore) {
  for (int window : {1, 2, 4, 8, 512}) {
    for (int64_t q : {0, 1, 5, 100, 1000}) {
      int visible = 0;
      for (int64_t k = 0; k <= q + 3; ++k) {
        const bool want = k <= q && q - k <= window - 1;
        EXPECT_EQ(KeyVisible(q, k, window), want) << "window " << window << " q " << q << " k " << k;
        visible += KeyVisible(q, k, window);
      }
      EXPECT_EQ(visible, std::min<int64_t>(window, q + 1)) << "window " << window << " q " << q;
    }
  }
  // The exact edges for W = 4 at query 10: keys 7..10.
  EXPECT_FALSE(KeyVisible(10, 6, 4));
  EXPECT_TRUE(KeyVisible(10, 7, 4));
  EXPECT_TRUE(KeyVisible(10, 10, 4));
  EXPECT_FALSE(KeyVisible(10, 11, 4));
  EXPECT_TRUE(KeyVisible(0, 0, 1));
  EXPECT_FALSE(KeyVisible(1, 0, 1));
}

TEST(KeyVisibleTest, FullAttentionIsCausal) {
  EXPECT_TRUE(KeyVisible(1000, 0, 0));
  EXPECT_TRUE(KeyVisible(1000, 1000, 0));
  EXPECT_FALSE(KeyVisible(1000, 1001, 0));
  EXPECT_TRUE(KeyVisible(0, 0, 0));
  EXPECT_FALSE(KeyVisible(0, 1, 0));
}

TEST(KeyVisibleTest, EmptySlotNeverVisible) {
  for (int window : {0, 1, 8}) {
    for (int64_t q : {0, 1, 7, 100}) EXPECT_FALSE(KeyVisible(q, -1, window)) << window << " " << q;
  }
}

TEST(RingSlotTest, PositionModCapacity) {
  EXPECT_EQ(RingSlot(0, 8), 0);
  EXPECT_EQ(RingSlot(7, 8), 7);
  EXPECT_EQ(RingSlot(8, 8), 0);
  EXPECT_EQ(RingSlot(22, 8), 6);
  EXPECT_EQ(RingSlot(5, 1), 0);
  EXPECT_EQ(RingSlot(int64_t{1} << 40, 3), (int64_t{1} << 40) % 3);
  // W consecutive positions land on W distinct slots.
  std::set<int64_t> slots;
  for (int64_t p = 13; p < 13 + 8; ++p) slots.insert(RingSlot(p, 8));
  EXPECT_EQ(slots.size(), 8u);
}

// --- KvCache ----------------------------------------------------------------------------------

// Layers: 0 sliding (window 8, 2 KV heads x 4), 1 full (1 KV head x 6), 2 sliding shared from 0,
// 3 full shared from 1.
ModelConfig SmallConfig(int window = 8) {
  ModelConfig c;
  c.n_layers = 4;
  c.d_model = 16;
  c.vocab_size = 32;
  c.sliding_window = window;
  c.first_kv_shared_layer = 2;
  c.rope_sliding = MakeRope(4, 1e4, {});
  c.rope_full = MakeProportionalRope(6, 1e6, 0.25);
  c.layers.resize(4);
  for (int i = 0; i < 4; ++i) {
    LayerSpec& l = c.layers[i];
    l.kind = i % 2 == 0 ? AttentionKind::kSliding : AttentionKind::kFull;
    l.n_heads = 2;
    l.n_kv_heads = i % 2 == 0 ? 2 : 1;
    l.head_dim = i % 2 == 0 ? 4 : 6;
    l.ff_dim = 32;
  }
  c.Finalize("small");
  return c;
}

// Distinct contents for (position, lane): K positive, V negative.
float KValue(int64_t pos, int64_t lane) { return static_cast<float>(pos * 100 + lane + 1); }
float VValue(int64_t pos, int64_t lane) { return -KValue(pos, lane); }

void AppendRange(KvCache* cache, int layer, int64_t first_pos, int64_t n, int64_t kv_dim) {
  std::vector<float> k(n * kv_dim), v(n * kv_dim);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t d = 0; d < kv_dim; ++d) {
      k[t * kv_dim + d] = KValue(first_pos + t, d);
      v[t * kv_dim + d] = VValue(first_pos + t, d);
    }
  }
  cache->Append(layer, k.data(), v.data(), n, first_pos);
}

// Positions held by a layer (slots with pos >= 0), checking each slot's K/V contents.
std::set<int64_t> HeldPositions(const KvCache& cache, int layer) {
  const KvCache::View view = cache.Get(layer);
  std::set<int64_t> held;
  for (int64_t s = 0; s < view.n; ++s) {
    const int64_t pos = view.pos[s];
    if (pos < 0) continue;
    EXPECT_TRUE(held.insert(pos).second) << "position " << pos << " held twice";
    std::vector<float> k(view.kv_dim), v(view.kv_dim);
    DequantizeRow(view.type, view.KeyRow(s), k.data(), view.kv_dim);
    DequantizeRow(view.type, view.ValueRow(s), v.data(), view.kv_dim);
    for (int64_t d = 0; d < view.kv_dim; ++d) {
      EXPECT_EQ(k[d], KValue(pos, d)) << "slot " << s << " lane " << d;
      EXPECT_EQ(v[d], VValue(pos, d)) << "slot " << s << " lane " << d;
    }
  }
  return held;
}

std::set<int64_t> Range(int64_t first, int64_t last) {
  std::set<int64_t> s;
  for (int64_t p = first; p <= last; ++p) s.insert(p);
  return s;
}

TEST(KvCacheTest, ConfigAsExpected) {
  const ModelConfig c = SmallConfig();
  EXPECT_EQ(c.layers[0].window, 8);
  EXPECT_EQ(c.layers[1].window, 0);
  EXPECT_FALSE(c.layers[2].owns_kv);
  EXPECT_EQ(c.layers[2].kv_source, 0);
  EXPECT_EQ(c.layers[3].kv_source, 1);
}

TEST(KvCacheTest, SlidingLayerKeepsLastWindow) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  AppendRange(&cache, 0, 0, 3, 8);
  EXPECT_EQ(cache.Get(0).kv_dim, 8);
  EXPECT_LE(cache.Get(0).n, 8);
  EXPECT_EQ(HeldPositions(cache, 0), Range(0, 2));

  AppendRange(&cache, 0, 3, 20, 8);
  EXPECT_EQ(cache.Get(0).n, 8);
  EXPECT_EQ(HeldPositions(cache, 0), Range(15, 22));
  // Each position sits in its ring slot.
  const KvCache::View view = cache.Get(0);
  for (int64_t s = 0; s < view.n; ++s) EXPECT_EQ(RingSlot(view.pos[s], 8), s);
}

TEST(KvCacheTest, SlidingLayerOneTokenAtATime) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  for (int64_t p = 0; p < 30; ++p) {
    AppendRange(&cache, 0, p, 1, 8);
    ASSERT_EQ(HeldPositions(cache, 0), Range(std::max<int64_t>(0, p - 7), p)) << "after position " << p;
  }
}

TEST(KvCacheTest, BatchExactlyTheWindowReplacesEverything) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  AppendRange(&cache, 0, 0, 5, 8);
  AppendRange(&cache, 0, 5, 8, 8);
  EXPECT_EQ(HeldPositions(cache, 0), Range(5, 12));
}

TEST(KvCacheTest, FullLayerKeepsAllAndGrows) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  const size_t empty_bytes = cache.bytes_in_use();
  AppendRange(&cache, 1, 0, 3, 6);
  EXPECT_EQ(cache.Get(1).n, 3);
  EXPECT_EQ(cache.Get(1).kv_dim, 6);
  const size_t small_bytes = cache.bytes_in_use();
  EXPECT_GT(small_bytes, empty_bytes);
  AppendRange(&cache, 1, 3, 20, 6);
  EXPECT_EQ(cache.Get(1).n, 23);
  EXPECT_GT(cache.bytes_in_use(), small_bytes);
  EXPECT_EQ(HeldPositions(cache, 1), Range(0, 22));
  const KvCache::View view = cache.Get(1);
  for (int64_t s = 0; s < view.n; ++s) EXPECT_EQ(view.pos[s], s);
  // Fill up to the context exactly.
  AppendRange(&cache, 1, 23, 41, 6);
  EXPECT_EQ(cache.Get(1).n, 64);
  EXPECT_EQ(HeldPositions(cache, 1), Range(0, 63));
}

TEST(KvCacheTest, LayersAreIndependent) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  AppendRange(&cache, 1, 0, 10, 6);
  EXPECT_TRUE(HeldPositions(cache, 0).empty());
  AppendRange(&cache, 0, 0, 10, 8);
  EXPECT_EQ(HeldPositions(cache, 0), Range(2, 9));
  EXPECT_EQ(HeldPositions(cache, 1), Range(0, 9));
}

TEST(KvCacheTest, ClearEmptiesEveryLayer) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  AppendRange(&cache, 0, 0, 12, 8);
  AppendRange(&cache, 1, 0, 12, 6);
  cache.Clear();
  EXPECT_TRUE(HeldPositions(cache, 0).empty());
  EXPECT_TRUE(HeldPositions(cache, 1).empty());
  EXPECT_EQ(cache.Get(1).n, 0);
  // Usable again from position 0.
  AppendRange(&cache, 0, 0, 2, 8);
  AppendRange(&cache, 1, 0, 2, 6);
  EXPECT_EQ(HeldPositions(cache, 0), Range(0, 1));
  EXPECT_EQ(HeldPositions(cache, 1), Range(0, 1));
}

TEST(KvCacheTest, WindowNotSmallerThanContextKeepsEverything) {
  const ModelConfig config = SmallConfig(/*window=*/32);
  KvCache cache(config, 16);
  AppendRange(&cache, 0, 0, 16, 8);
  EXPECT_EQ(HeldPositions(cache, 0), Range(0, 15));
}

TEST(KvCacheDeathTest, SharedLayerHasNoCache) {
  const ModelConfig config = SmallConfig();
  KvCache cache(config, 64);
  EXPECT_DEATH(cache.Get(2), "no cache of its own");
}

TEST(KvCacheTest, BytesAtContextFormula) {
  const ModelConfig c = SmallConfig();
  for (int64_t ctx : {1, 5, 8, 9, 100}) {
    for (DType type : {DType::kF16, DType::kF32}) {
      const size_t bpv = type == DType::kF16 ? 2 : 4;
      const size_t want = 2 * std::min<int64_t>(8, ctx) * 2 * 4 * bpv + 2 * ctx * 1 * 6 * bpv;
      EXPECT_EQ(KvCache::BytesAtContext(c, ctx, type), want) << "ctx " << ctx << " bytes per value " << bpv;
    }
  }
}

// E2B's layout (spec §1.3): 12 sliding + 3 full owning layers; bf16 costs 18 KiB per token
// within the window, and only the full layers' 6 KiB per token grows past it.
TEST(KvCacheTest, BytesAtContextE2BLayout) {
  ModelConfig c;
  c.n_layers = 35;
  c.d_model = 1536;
  c.sliding_window = 512;
  c.first_kv_shared_layer = 15;
  c.rope_sliding = MakeProportionalRope(256, 1e4, 1.0);
  c.rope_full = MakeProportionalRope(512, 1e6, 0.25);
  c.layers.resize(35);
  for (int i = 0; i < 35; ++i) {
    LayerSpec& l = c.layers[i];
    l.kind = i % 5 == 4 ? AttentionKind::kFull : AttentionKind::kSliding;
    l.n_heads = 8;
    l.n_kv_heads = 1;
    l.head_dim = l.kind == AttentionKind::kFull ? 512 : 256;
    l.ff_dim = 6144;
  }
  c.Finalize("e2b");
  ASSERT_EQ(c.n_kv_owning_layers(), 15);
  EXPECT_EQ(KvCache::BytesAtContext(c, 512, DType::kBF16), 512u * 18 * 1024);
  EXPECT_EQ(KvCache::BytesAtContext(c, 100, DType::kBF16), 100u * 18 * 1024);
  EXPECT_EQ(KvCache::BytesAtContext(c, 1512, DType::kBF16) - KvCache::BytesAtContext(c, 512, DType::kBF16),
            1000u * 6 * 1024);
  // Q8_0: 34 bytes per 32 values.
  EXPECT_EQ(KvCache::BytesAtContext(c, 512, DType::kQ8_0), 512u * 18 * 1024 / 64 * 34);
}

}  // namespace
}  // namespace g4
