#include "grammar/number_lexer.h"

#include "base/error.h"

namespace g4::grammar {

bool NumberStart(const JsonSchemaGrammar& g, const SchemaNode& n, uint8_t c, NumberLex* lex) {
  *lex = NumberLex{};
  if (c == '-') {
    lex->negative = 1;
    return g.IntegerPrefixViable(n, true, 0, 0);
  }
  if (c < '0' || c > '9' || !g.IntegerPrefixViable(n, false, static_cast<uint64_t>(c - '0'), 1)) return false;
  lex->phase = c == '0' ? kNumZero : kNumInt;
  lex->digits = 1;
  lex->magnitude = static_cast<uint64_t>(c - '0');
  return true;
}

bool NumberComplete(const SchemaNode& n, const NumberLex& lex) {
  switch (lex.phase) {
    case kNumZero:
    case kNumInt:
      return JsonSchemaGrammar::IntegerInBounds(n, lex.negative, lex.magnitude);
    case kNumFrac:
    case kNumExp:
      return true;
    default:
      return false;
  }
}

NumberStep NumberNext(const JsonSchemaGrammar& g, const SchemaNode& n, NumberLex& lex, uint8_t c) {
  const bool digit = c >= '0' && c <= '9';
  const uint64_t d = digit ? static_cast<uint64_t>(c - '0') : 0;
  auto go = [&](uint8_t phase, uint32_t digits) {
    lex.phase = phase;
    lex.digits = digits;
    return NumberStep::kContinue;
  };
  switch (lex.phase) {
    case kNumSign:
      if (!digit || !g.IntegerPrefixViable(n, true, d, 1)) return NumberStep::kReject;  // a lone '-' ends nothing
      lex.magnitude = d;
      return go(d == 0 ? kNumZero : kNumInt, 1);
    case kNumZero:
    case kNumInt:
      if (digit && lex.phase == kNumInt && lex.digits < JsonSchemaGrammar::kMaxIntDigits &&
          g.IntegerPrefixViable(n, lex.negative, lex.magnitude * 10 + d, static_cast<int>(lex.digits) + 1)) {
        lex.magnitude = lex.magnitude * 10 + d;
        return go(kNumInt, lex.digits + 1);
      }
      if (c == '.' && JsonSchemaGrammar::FractionAllowed(n, lex.negative, lex.magnitude)) return go(kNumDot, 0);
      if ((c == 'e' || c == 'E') && !n.integer && !n.bounded) return go(kNumE, 0);
      break;
    case kNumDot:
      return digit ? go(kNumFrac, 1) : NumberStep::kReject;
    case kNumFrac:
      if (digit && lex.digits < JsonSchemaGrammar::kMaxFracDigits) return go(kNumFrac, lex.digits + 1);
      if ((c == 'e' || c == 'E') && !n.bounded) return go(kNumE, 0);
      break;
    case kNumE:
      if (c == '+' || c == '-') return go(kNumESign, 0);
      return digit ? go(kNumExp, 1) : NumberStep::kReject;
    case kNumESign:
      return digit ? go(kNumExp, 1) : NumberStep::kReject;
    case kNumExp:
      if (digit && lex.digits < JsonSchemaGrammar::kMaxExpDigits) return go(kNumExp, lex.digits + 1);
      break;
  }
  return NumberComplete(n, lex) ? NumberStep::kEnd : NumberStep::kReject;
}

uint8_t NumberCompletionByte(const JsonSchemaGrammar& g, const SchemaNode& n, const NumberLex& lex) {
  if (lex.phase == kNumSign || lex.phase == kNumInt) {
    for (uint64_t d = 0; d <= 9; ++d) {
      const bool ok = lex.phase == kNumSign
                          ? g.IntegerPrefixViable(n, true, d, 1)
                          : lex.digits < JsonSchemaGrammar::kMaxIntDigits &&
                                g.IntegerPrefixViable(n, lex.negative, lex.magnitude * 10 + d,
                                                      static_cast<int>(lex.digits) + 1);
      if (ok) return static_cast<uint8_t>('0' + d);
    }
    G4_CHECK(false, "number prefix with no viable digit at ", n.path);
  }
  return '0';
}

}  // namespace g4::grammar
