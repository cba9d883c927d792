// JSON numbers inside a compiled schema's bounds, one byte at a time: shared by the JSON matcher
// and the Gemma tool-call matcher (numbers read the same in both syntaxes).
//
// Generated numbers have at most kMaxIntDigits integer digits, kMaxFracDigits fraction digits
// and a kMaxExpDigits-digit exponent; with bounds, no exponent and a fraction only where every
// continuation stays in range; integers never get a fraction or an exponent.
#pragma once

#include <cstdint>

#include "grammar/json_schema.h"

namespace g4::grammar {

enum NumberPhase : uint8_t { kNumSign, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumESign, kNumExp };

struct NumberLex {
  uint8_t phase = kNumSign;
  uint8_t negative = 0;
  uint32_t digits = 0;     // in the current part
  uint64_t magnitude = 0;  // of the integer part
};

enum class NumberStep : uint8_t {
  kContinue,  // the byte extends the number
  kEnd,       // the byte is not part of it, and the number is complete: the byte is the parent's
  kReject,
};

// The first byte of a number of node `n`; false if no number in bounds starts with it.
bool NumberStart(const JsonSchemaGrammar& g, const SchemaNode& n, uint8_t c, NumberLex* lex);
NumberStep NumberNext(const JsonSchemaGrammar& g, const SchemaNode& n, NumberLex& lex, uint8_t c);
// The text so far is a complete number in bounds.
bool NumberComplete(const SchemaNode& n, const NumberLex& lex);
// A byte that makes progress towards a complete number (call only when !NumberComplete).
uint8_t NumberCompletionByte(const JsonSchemaGrammar& g, const SchemaNode& n, const NumberLex& lex);

}  // namespace g4::grammar
