#include "ops/simd.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace g4 {

namespace {

bool CpuHas(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return true;
    case SimdLevel::kAvx2:
#if defined(__x86_64__) && defined(__GNUC__)
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
      return false;
#endif
    case SimdLevel::kNeon:
#if defined(__aarch64__)
      return true;
#else
      return false;
#endif
    case SimdLevel::kNeonDot:
#if defined(__aarch64__) && defined(__linux__)
      return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
      return false;
#endif
  }
  return false;
}

constexpr SimdLevel kAllLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kNeon, SimdLevel::kNeonDot};

SimdLevel BestLevel() {
  SimdLevel best = SimdLevel::kScalar;
  for (SimdLevel l : kAllLevels) {
    if (CpuHas(l)) best = l;
  }
  return best;
}

SimdLevel InitialLevel() {
  const SimdLevel best = BestLevel();
  const char* env = std::getenv("G4_SIMD");
  if (env == nullptr || *env == '\0') return best;
  for (SimdLevel l : kAllLevels) {
    if (std::strcmp(env, SimdLevelName(l)) == 0) {
      if (CpuHas(l)) return l;
      std::fprintf(stderr, "g4: G4_SIMD=%s is not supported by this CPU; using %s\n", env, SimdLevelName(best));
      return best;
    }
  }
  std::fprintf(stderr, "g4: unknown G4_SIMD=%s (scalar, avx2, neon, neon-dotprod); using %s\n", env, SimdLevelName(best));
  return best;
}

std::atomic<int>& LevelSlot() {
  static std::atomic<int> level{static_cast<int>(InitialLevel())};
  return level;
}

}  // namespace

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kNeon:
      return "neon";
    case SimdLevel::kNeonDot:
      return "neon-dotprod";
  }
  return "?";
}

std::vector<SimdLevel> SupportedSimdLevels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : kAllLevels) {
    if (CpuHas(l)) out.push_back(l);
  }
  return out;
}

bool SimdLevelSupported(SimdLevel level) { return CpuHas(level); }

SimdLevel ActiveSimdLevel() { return static_cast<SimdLevel>(LevelSlot().load(std::memory_order_relaxed)); }

void SetSimdLevel(SimdLevel level) {
  G4_CHECK(CpuHas(level), "SIMD level ", SimdLevelName(level), " is not supported by this CPU");
  LevelSlot().store(static_cast<int>(level), std::memory_order_relaxed);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
uint64_t ReadSum(const uint64_t* data, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += data[i];
    s1 += data[i + 1];
    s2 += data[i + 2];
    s3 += data[i + 3];
  }
  for (; i < n; ++i) s0 += data[i];
  return s0 + s1 + s2 + s3;
}

}  // namespace g4
