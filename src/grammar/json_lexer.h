// Byte-level lexer for the inside of a JSON string, shared by the grammar matcher and the
// per-vocabulary token caches (so a cached answer is exactly what the matcher would compute).
//
// Three modes:
//  * kValue: any valid JSON string content: UTF-8 checked byte by byte (no overlong forms, no
//    surrogates, nothing above U+10FFFF), the short escapes, \uXXXX with surrogate pairs checked.
//  * kKey: the one canonical spelling nlohmann::json::dump() produces (only \" \\ \b \f \n \r \t
//    and lowercase \u00XX for other control characters; everything else raw UTF-8). Object keys
//    use it so that a key equals a declared property name exactly when its bytes do, which keeps
//    the property-name trie sound.
//  * kGemma: the inside of a Gemma tool-call string (<|"|>...<|"|>, spec/gemma4-io.md §3.3): raw
//    UTF-8 taken verbatim (no escapes; tab, newline and carriage return allowed, other control
//    bytes not), closed only by the <|"|> token, never by a byte. The text must not spell any of
//    the markers the output parser reacts to inside a call (kGemmaStringMarkers), so the marker
//    states below track how much of one the text ends with.
#pragma once

#include <cstdint>

namespace g4::grammar {

enum class StringMode : uint8_t { kValue = 0, kKey = 1, kGemma = 2 };
inline constexpr int kNumStringModes = 3;

// Marker spellings a Gemma string may not contain.
inline constexpr const char* kGemmaStringMarkers[] = {"<|\"|>",   "<tool_call|>", "<|tool_call>",
                                                      "<turn|>", "<|tool_response>", "<eos>"};
// Distinct proper non-empty prefixes of those markers ("<", "<|", "<t", ...).
inline constexpr int kNumMarkerPrefixes = 38;

// Lexer states inside a string (after the opening quote).
enum StringState : uint8_t {
  kStrNormal = 0,
  kStrEscape,  // after a backslash
  // \u escapes (value mode): U1 expects the first hex digit; U2D follows a first digit D/d, where
  // the second digit decides between a plain character, a high surrogate (U3H/U4H, then a low
  // surrogate escape must follow) and a lone low surrogate (rejected).
  kStrU1, kStrU2, kStrU2D, kStrU3, kStrU4, kStrU3H, kStrU4H,
  kStrLowBackslash, kStrLowU, kStrLowU1, kStrLowU2, kStrLowU3, kStrLowU4,
  // Canonical \u00XX (key mode).
  kStrCU1, kStrCU2, kStrCU3, kStrCU4Zero, kStrCU4One,
  // UTF-8 continuation bytes still expected (C1: one more; C2/C3: two/three more, with the
  // restricted first continuation ranges of E0, ED, F0 and F4).
  kStrC1, kStrC2, kStrC2E0, kStrC2ED, kStrC3, kStrC3F0, kStrC3F4,
  // kGemma mode: the text ends with marker prefix number (state - kStrMarker0).
  kStrMarker0,
  kNumStringStates = kStrMarker0 + kNumMarkerPrefixes
};

// A UTF-8 character has started but not finished.
inline bool IsInsideUtf8(uint8_t state) { return state >= kStrC1 && state <= kStrC3F4; }

enum class LexAction : uint8_t { kReject = 0, kContinue = 1, kClose = 2 };

struct LexStep {
  LexAction action;
  uint8_t next;        // next state when kContinue
  uint8_t codepoints;  // characters completed by this byte (0 or 1), as JSON Schema counts them
};

// One byte of string content. Table driven; the table is built on first use.
LexStep StringLex(StringMode mode, uint8_t state, uint8_t byte);

// The byte that makes the most progress towards closing the string from `state` (a closing quote
// from kStrNormal): used to build completions. Always a byte StringLex accepts.
uint8_t StringCompletionByte(StringMode mode, uint8_t state);

inline bool IsJsonWhitespace(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace g4::grammar
