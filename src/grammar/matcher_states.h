// Frame kinds and per-kind phases of GrammarMatcher (internal to src/grammar).
#pragma once

#include <cstdint>

namespace g4::grammar::detail {

enum FrameKind : uint8_t { kRoot, kObject, kArray, kString, kNumber, kLiteral };
enum RootPhase : uint8_t { kRootBefore, kRootAfter };
enum ObjectPhase : uint8_t { kObjStart, kObjKey, kObjAfterKey, kObjColon, kObjAfterValue, kObjAfterComma };
enum ArrayPhase : uint8_t { kArrStart, kArrAfterValue, kArrAfterComma };

inline constexpr uint32_t kDeadKey = 0xFFFFFFFFu;        // key matches no usable property name
inline constexpr uint32_t kAdditionalProp = 0xFFFFFFFEu; // value of an unlisted key
inline constexpr size_t kMaxStacks = 64;                 // kept between tokens
inline constexpr size_t kMaxStacksInToken = 4096;        // safety cap within one token

}  // namespace g4::grammar::detail
