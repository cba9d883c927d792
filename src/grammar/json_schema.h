// JSON Schema -> compiled grammar for constrained decoding.
//
// Supported (what OpenAI structured outputs accept, plus a little more): type (one or a list),
// object (properties, required, additionalProperties false/true/schema, minProperties and
// maxProperties), array (items, prefixItems, minItems, maxItems), string (minLength, maxLength;
// format is ignored), number and integer (minimum, maximum, exclusiveMinimum, exclusiveMaximum),
// boolean, null, enum, const, anyOf, oneOf whose alternatives start differently, allOf with one
// element, local $ref ("#", "#/$defs/x", any JSON pointer; recursion allowed) and $defs /
// definitions. true / {} means any JSON value (json_object mode: JsonSchemaGrammar::AnyJson()).
// Annotations (title, description, default, examples, $comment, $schema, $id, ...) and "x-"
// keys are ignored. Everything else (pattern, multipleOf, not, if/then/else, patternProperties,
// uniqueItems: true, ...) throws g4::Error naming the schema path, e.g.
//   schema.properties.name.pattern: unsupported keyword
//
// The language generated is a subset of what the schema accepts, chosen so generation always
// terminates and every prefix can still be completed:
//  * whitespace between tokens is optional and at most `max_whitespace` bytes in a row;
//  * object keys and enum/const literals use the canonical spelling (no needless escapes) and
//    a declared key may appear once; keys may come in any order;
//  * numbers have at most 15 integer digits, 20 fraction digits and a 2-digit exponent; with
//    bounds, no exponent and a fraction only where every continuation stays in range;
//  * nesting is limited to `max_depth` containers (alternatives that would need more are not
//    offered, so no prefix gets stuck);
//  * when "additionalProperties" is absent from an object that lists "properties", other keys
//    are not generated (set allow_unlisted_properties to follow JSON Schema's default instead).
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/byte_trie.h"

namespace g4::grammar {

struct JsonSchemaOptions {
  int max_whitespace = 12;  // longest run of whitespace bytes between tokens
  int max_depth = 32;       // deepest container nesting
  bool allow_unlisted_properties = false;
};

enum class NodeKind : uint8_t { kAnyOf, kObject, kArray, kString, kNumber, kLiteral };

struct SchemaProperty {
  std::string name;
  std::string key;  // canonical JSON encoding without the quotes
  uint32_t node = 0;
};

// One compiled schema node. Fields are used according to `kind`.
struct SchemaNode {
  NodeKind kind = NodeKind::kAnyOf;
  std::string path;  // for messages, e.g. "schema.properties.tags.items"
  std::vector<uint32_t> alts;  // kAnyOf
  // kObject
  std::vector<SchemaProperty> props;
  uint64_t required = 0;   // bits over props
  uint64_t forbidden = 0;  // props that cannot be generated (schema false or unsatisfiable)
  int32_t additional = -1; // schema of other keys, -1: none
  uint32_t min_props = 0, max_props = UINT32_MAX;
  int32_t key_trie = -1;   // index into JsonSchemaGrammar::tries(), values = prop index
  // kArray
  std::vector<uint32_t> prefix;
  int32_t items = -1;      // schema of items after the prefix, -1: none
  uint32_t min_items = 0, max_items = UINT32_MAX;
  // kString
  uint32_t min_length = 0, max_length = UINT32_MAX;
  // kNumber
  bool integer = false;
  bool bounded = false;
  double lo = 0, hi = 0;           // bounds as written (when bounded)
  bool lo_excl = false, hi_excl = false;
  int64_t int_lo = 0, int_hi = 0;  // the integers inside the bounds
  // kLiteral: canonical serializations, and a trie over them (values = index)
  std::vector<std::string> literals;
  int32_t lit_trie = -1;
  // enum/const before filtering against the rest of the node
  std::vector<nlohmann::json> enum_values;
  int32_t enum_base = -1;
  bool pending_enum = false;

  // Analysis results.
  bool productive = false;     // has a finite valid document
  int min_depth = 0;           // containers needed by the shallowest document
  std::string min_doc;         // that document (shortest among the shallowest)
  std::vector<uint32_t> leaves;  // non-anyOf nodes this node stands for
  std::bitset<256> first;      // bytes a document can start with (leaves only)
};

class JsonSchemaGrammar {
 public:
  // Throws g4::Error naming the schema path on invalid or unsupported input.
  static std::shared_ptr<const JsonSchemaGrammar> Compile(const nlohmann::json& schema,
                                                         const JsonSchemaOptions& options = {});
  // Any JSON value (OpenAI response_format json_object allows only objects: use
  // Compile({"type":"object"}) for that).
  static std::shared_ptr<const JsonSchemaGrammar> AnyJson(const JsonSchemaOptions& options = {});

  const JsonSchemaOptions& options() const { return options_; }
  uint32_t root() const { return root_; }
  const SchemaNode& node(uint32_t i) const { return nodes_[i]; }
  size_t num_nodes() const { return nodes_.size(); }
  const ByteTrie& trie(int32_t i) const { return tries_[i]; }

  // Whether `value` satisfies the compiled schema (as far as the compiled form expresses it;
  // used to filter enum values and by tests).
  bool Matches(const nlohmann::json& value) const { return Matches(root_, value, 0); }
  bool Matches(uint32_t node, const nlohmann::json& value, int depth) const;

  // Whether an integer part (sign, magnitude `mag` of `digits` digits; digits == 0 after a lone
  // '-') can still be completed to a number in the node's bounds, and whether it is in bounds as
  // it stands. Used by the matcher.
  bool IntegerPrefixViable(const SchemaNode& n, bool negative, uint64_t mag, int digits) const;
  static bool IntegerInBounds(const SchemaNode& n, bool negative, uint64_t mag);
  // Whether a fraction may follow the integer part: every value between it and the next integer
  // away from zero is in bounds.
  static bool FractionAllowed(const SchemaNode& n, bool negative, uint64_t mag);

  static constexpr int kMaxIntDigits = 15;
  static constexpr int kMaxFracDigits = 20;
  static constexpr int kMaxExpDigits = 2;

 private:
  friend class SchemaCompiler;
  JsonSchemaOptions options_;
  std::vector<SchemaNode> nodes_;
  std::vector<ByteTrie> tries_;
  uint32_t root_ = 0;

  void Analyze();  // enum filtering, productivity, pruning, leaves, first bytes
};

// Integral floats become integers, recursively, so equal numbers serialize equally.
nlohmann::json NormalizeJsonValue(const nlohmann::json& value);

}  // namespace g4::grammar
