// Comparing logits in tests: mean KL divergence of the test distribution from the reference one
// over positions, computed in double precision with the log-sum-exp trick.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace g4 {

// ref and test: rows × vocab logits. Returns the mean over rows of KL(softmax(ref) || softmax(test)).
inline double MeanKl(const float* ref, const float* test, size_t rows, int vocab) {
  double total = 0;
  for (size_t t = 0; t < rows; ++t) {
    const float* p = ref + t * vocab;
    const float* q = test + t * vocab;
    const double mp = *std::max_element(p, p + vocab);
    const double mq = *std::max_element(q, q + vocab);
    double sp = 0, sq = 0;
    for (int i = 0; i < vocab; ++i) {
      sp += std::exp(p[i] - mp);
      sq += std::exp(q[i] - mq);
    }
    const double lp = mp + std::log(sp);
    const double lq = mq + std::log(sq);
    double kl = 0;
    for (int i = 0; i < vocab; ++i) {
      const double log_p = p[i] - lp;
      const double log_q = q[i] - lq;
      kl += std::exp(log_p) * (log_p - log_q);
    }
    total += kl;
  }
  return rows == 0 ? 0 : total / static_cast<double>(rows);
}

}  // namespace g4
