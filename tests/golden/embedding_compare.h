// Comparing encoder embeddings with a GME1 reference, against the targets of
// shared/golden/multimodal/README.md: relative L2 <= 2e-3 and every per-token cosine >= 0.9999.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "io/gme.h"

namespace g4 {

struct Agreement {
  double rel_l2 = 0;
  double min_cosine = 1;
};

inline Agreement Compare(const EmbeddingsFile& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  Agreement a;
  for (int32_t t = 0; t < ref.n_tokens; ++t) {
    const float* r = ref.row(t);
    const float* g = got.data() + static_cast<size_t>(t) * ref.n_embd;
    double dot = 0, rr = 0, gg = 0;
    for (int32_t i = 0; i < ref.n_embd; ++i) {
      num += (r[i] - g[i]) * static_cast<double>(r[i] - g[i]);
      dot += static_cast<double>(r[i]) * g[i];
      rr += static_cast<double>(r[i]) * r[i];
      gg += static_cast<double>(g[i]) * g[i];
    }
    den += rr;
    a.min_cosine = std::min(a.min_cosine, dot / (std::sqrt(rr * gg) + 1e-30));
  }
  a.rel_l2 = std::sqrt(num / (den + 1e-30));
  return a;
}

inline void ExpectMeetsTargets(const EmbeddingsFile& ref, const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(got.size(), ref.embd.size()) << what;
  const Agreement a = Compare(ref, got);
  std::printf("[ embd     ] %-40s tokens=%d rel_l2=%.3e min_cosine=1-%.1e\n", what.c_str(), ref.n_tokens,
              a.rel_l2, 1.0 - a.min_cosine);
  EXPECT_LE(a.rel_l2, 2e-3) << what;
  EXPECT_GE(a.min_cosine, 0.9999) << what;
}

}  // namespace g4
