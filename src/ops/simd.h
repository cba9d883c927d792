// Run-time choice of the SIMD code path: the one dispatch point of src/ops.
//
// Every fast kernel exists once per level in kernels_<level>.cc and once as a plain scalar
// twin (kernels_scalar.cc); KernelsFor(level) returns the table of one level. The active level
// is the best the CPU supports, unless the environment variable G4_SIMD names another one
// (scalar, avx2, neon, neon-dotprod): then that one is used if the CPU has it. Tests run every supported level
// with ScopedSimdLevel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace g4 {

enum class SimdLevel : int {
  kScalar = 0,  // plain C++, any CPU (and the reference twin of every kernel)
  kAvx2 = 1,    // AVX2 + FMA + F16C (x86-64-v3)
  kNeon = 2,    // AArch64 Advanced SIMD (every 64-bit Arm CPU)
  kNeonDot = 3, // + the Armv8.2 dot product (UDOT/SDOT: Cortex-A55/A76 on, Apple M1, Graviton 2)
};

const char* SimdLevelName(SimdLevel level);

// Levels this CPU can run, lowest first (always includes kScalar).
std::vector<SimdLevel> SupportedSimdLevels();
bool SimdLevelSupported(SimdLevel level);

// The level kernels use now: G4_SIMD if set and supported, else the best supported one.
SimdLevel ActiveSimdLevel();
// Forces a level (must be supported); for tests and benchmarks.
void SetSimdLevel(SimdLevel level);

class ScopedSimdLevel {
 public:
  explicit ScopedSimdLevel(SimdLevel level) : saved_(ActiveSimdLevel()) { SetSimdLevel(level); }
  ~ScopedSimdLevel() { SetSimdLevel(saved_); }
  ScopedSimdLevel(const ScopedSimdLevel&) = delete;
  ScopedSimdLevel& operator=(const ScopedSimdLevel&) = delete;

 private:
  SimdLevel saved_;
};

// Sum of n 64-bit words, read with the widest loads the CPU has: a streaming read for
// measuring memory bandwidth (g4 bench).
uint64_t ReadSum(const uint64_t* data, size_t n);

}  // namespace g4
