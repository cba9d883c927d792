#include "grammar/json_lexer.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace g4::grammar {
namespace {

bool IsHex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsLowerHex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

constexpr LexStep kReject{LexAction::kReject, 0, 0};
LexStep Go(uint8_t next, uint8_t cp = 0) { return LexStep{LexAction::kContinue, next, cp}; }
LexStep Char() { return Go(kStrNormal, 1); }

LexStep Compute(StringMode mode, uint8_t state, uint8_t c) {
  const bool key = mode == StringMode::kKey;
  switch (state) {
    case kStrNormal:
      if (c < 0x20) return kReject;
      if (c == '"') return LexStep{LexAction::kClose, kStrNormal, 0};
      if (c == '\\') return Go(kStrEscape);
      if (c < 0x80) return Char();
      if (c >= 0xC2 && c <= 0xDF) return Go(kStrC1);
      if (c == 0xE0) return Go(kStrC2E0);
      if (c == 0xED) return Go(kStrC2ED);
      if (c >= 0xE1 && c <= 0xEF) return Go(kStrC2);
      if (c == 0xF0) return Go(kStrC3F0);
      if (c >= 0xF1 && c <= 0xF3) return Go(kStrC3);
      if (c == 0xF4) return Go(kStrC3F4);
      return kReject;
    case kStrEscape:
      switch (c) {
        case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't': return Char();
        case '/': return key ? kReject : Char();
        case 'u': return Go(key ? kStrCU1 : kStrU1);
        default: return kReject;
      }
    case kStrU1:
      if (c == 'd' || c == 'D') return Go(kStrU2D);
      return IsHex(c) ? Go(kStrU2) : kReject;
    case kStrU2: return IsHex(c) ? Go(kStrU3) : kReject;
    case kStrU2D:
      if (c >= '0' && c <= '7') return Go(kStrU3);
      if (c == '8' || c == '9' || c == 'a' || c == 'b' || c == 'A' || c == 'B') return Go(kStrU3H);
      return kReject;  // a lone low surrogate is not a character
    case kStrU3: return IsHex(c) ? Go(kStrU4) : kReject;
    case kStrU4: return IsHex(c) ? Char() : kReject;
    case kStrU3H: return IsHex(c) ? Go(kStrU4H) : kReject;
    case kStrU4H: return IsHex(c) ? Go(kStrLowBackslash) : kReject;
    case kStrLowBackslash: return c == '\\' ? Go(kStrLowU) : kReject;
    case kStrLowU: return c == 'u' ? Go(kStrLowU1) : kReject;
    case kStrLowU1: return (c == 'd' || c == 'D') ? Go(kStrLowU2) : kReject;
    case kStrLowU2:
      return ((c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F')) ? Go(kStrLowU3) : kReject;
    case kStrLowU3: return IsHex(c) ? Go(kStrLowU4) : kReject;
    case kStrLowU4: return IsHex(c) ? Char() : kReject;  // the pair is one character
    case kStrCU1: return c == '0' ? Go(kStrCU2) : kReject;
    case kStrCU2: return c == '0' ? Go(kStrCU3) : kReject;
    case kStrCU3:
      if (c == '0') return Go(kStrCU4Zero);
      if (c == '1') return Go(kStrCU4One);
      return kReject;
    case kStrCU4Zero:
      // \u0008 \u0009 \u000a \u000c \u000d have short forms, so dump() never writes them.
      if (c == '8' || c == '9' || c == 'a' || c == 'c' || c == 'd') return kReject;
      return IsLowerHex(c) ? Char() : kReject;
    case kStrCU4One: return IsLowerHex(c) ? Char() : kReject;
    case kStrC1: return (c >= 0x80 && c <= 0xBF) ? Char() : kReject;
    case kStrC2: return (c >= 0x80 && c <= 0xBF) ? Go(kStrC1) : kReject;
    case kStrC2E0: return (c >= 0xA0 && c <= 0xBF) ? Go(kStrC1) : kReject;
    case kStrC2ED: return (c >= 0x80 && c <= 0x9F) ? Go(kStrC1) : kReject;
    case kStrC3: return (c >= 0x80 && c <= 0xBF) ? Go(kStrC2) : kReject;
    case kStrC3F0: return (c >= 0x90 && c <= 0xBF) ? Go(kStrC2) : kReject;
    case kStrC3F4: return (c >= 0x80 && c <= 0x8F) ? Go(kStrC2) : kReject;
    default: return kReject;
  }
}

// The proper prefixes of kGemmaStringMarkers; prefix i is lexer state kStrMarker0 + i.
const std::vector<std::string>& MarkerPrefixes() {
  static const std::vector<std::string>* prefixes = [] {
    auto* out = new std::vector<std::string>();
    for (std::string_view m : kGemmaStringMarkers)
      for (size_t n = 1; n < m.size(); ++n)
        if (std::find(out->begin(), out->end(), m.substr(0, n)) == out->end()) out->emplace_back(m.substr(0, n));
    G4_CHECK(out->size() == kNumMarkerPrefixes, "kNumMarkerPrefixes should be ", out->size());
    return out;
  }();
  return *prefixes;
}

LexStep ComputeGemma(uint8_t state, uint8_t c) {
  if (IsInsideUtf8(state)) return Compute(StringMode::kValue, state, c);
  if (state != kStrNormal && state < kStrMarker0) return kReject;
  if (c >= 0x80) return Compute(StringMode::kValue, kStrNormal, c);  // a UTF-8 lead byte
  if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return kReject;
  const std::vector<std::string>& prefixes = MarkerPrefixes();
  std::string text = state >= kStrMarker0 ? prefixes[state - kStrMarker0] : std::string();
  text += static_cast<char>(c);
  for (std::string_view m : kGemmaStringMarkers)
    if (text == m) return kReject;
  // Every marker holds '<' only first, so after a mismatch only a new '<' can start one.
  auto it = std::find(prefixes.begin(), prefixes.end(), text);
  if (it == prefixes.end() && c == '<') it = prefixes.begin();  // prefixes[0] is "<"
  if (it == prefixes.end()) return Char();
  return Go(static_cast<uint8_t>(kStrMarker0 + (it - prefixes.begin())), 1);
}

using Table = std::array<std::array<std::array<LexStep, 256>, kNumStringStates>, kNumStringModes>;

const Table& GetTable() {
  static const Table* table = [] {
    auto* t = new Table();
    for (int m = 0; m < kNumStringModes; ++m)
      for (int s = 0; s < kNumStringStates; ++s)
        for (int c = 0; c < 256; ++c)
          (*t)[m][s][c] = static_cast<StringMode>(m) == StringMode::kGemma
                              ? ComputeGemma(static_cast<uint8_t>(s), static_cast<uint8_t>(c))
                              : Compute(static_cast<StringMode>(m), static_cast<uint8_t>(s), static_cast<uint8_t>(c));
    return t;
  }();
  return *table;
}

}  // namespace

LexStep StringLex(StringMode mode, uint8_t state, uint8_t byte) {
  return GetTable()[static_cast<int>(mode)][state][byte];
}

uint8_t StringCompletionByte(StringMode mode, uint8_t state) {
  switch (state) {
    case kStrNormal: return '"';
    case kStrEscape: return 'n';
    case kStrLowBackslash: return '\\';
    case kStrLowU: return 'u';
    case kStrLowU1: return 'd';
    case kStrLowU2: return 'c';
    case kStrC2E0: return 0xA0;
    case kStrC3F0: return 0x90;
    case kStrC1: case kStrC2: case kStrC2ED: case kStrC3: case kStrC3F4: return 0x80;
    default: return '0';  // every hex position, and the canonical \u00XX digits, take '0'
  }
}

}  // namespace g4::grammar
