// Gemma 4 tool calls constrained by the tools' parameter schemas (spec/gemma4-io.md §3.3).
//
// After the model writes <|tool_call>, the only text GemmaCallMatcher lets it write is
//   call:NAME{ARGS}<tool_call|>
// where NAME is one of the declared tools and ARGS are that tool's arguments, valid for its
// "parameters" JSON Schema, in Gemma's value syntax: bare keys, strings between <|"|> tokens
// (raw UTF-8, no escapes), numbers, true/false/null, nested objects and arrays, no whitespace.
// The schemas are compiled with JsonSchemaGrammar (same keywords, same limits, same generated
// subset: see json_schema.h); this file adds the Gemma spellings of their keys, literals and
// smallest documents.
//
// Spellings are byte strings over "units": ordinary bytes plus kUnitQuote and kUnitCallEnd for
// the <|"|> and <tool_call|> tokens (0xFF and 0xFE never occur in UTF-8 text). A property name
// made only of ASCII letters, digits, '_', '-', '.', '$' or non-ASCII characters is written bare
// (name:value), as the chat template writes history; any other name is written <|"|>name<|"|>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/byte_trie.h"
#include "grammar/json_schema.h"

namespace g4::grammar {

inline constexpr uint8_t kUnitQuote = 0xFF;    // the <|"|> token
inline constexpr uint8_t kUnitCallEnd = 0xFE;  // the <tool_call|> token

class GemmaCallGrammar {
 public:
  // Gemma spellings for one compiled schema node.
  struct NodeSpelling {
    std::vector<std::string> keys;  // objects: per property, its key spelling
    int32_t key_trie = -1;          // objects: trie over `keys`, values = property index
    int32_t literal_trie = -1;      // literals: trie over the spelled literals
    std::string min_doc;            // the node's smallest document, spelled
  };
  struct Tool {
    std::string name;
    std::shared_ptr<const JsonSchemaGrammar> schema;  // its "parameters"
    std::vector<NodeSpelling> nodes;                  // indexed like schema->node(i)
  };

  // `tools`: an OpenAI tools array ({type:"function", function:{name, parameters}} or bare
  // {name, parameters}). A tool without "parameters" takes no arguments ({}). Throws g4::Error
  // naming tools[i] on a bad or unsupported schema, a parameters schema that does not allow an
  // object, a name that cannot be written in a call, or a name declared twice.
  static std::shared_ptr<const GemmaCallGrammar> Compile(const nlohmann::json& tools,
                                                         const JsonSchemaOptions& options = {});

  size_t num_tools() const { return tools_.size(); }
  const Tool& tool(size_t i) const { return tools_[i]; }
  // "call:NAME{" for every tool; values = tool index.
  const ByteTrie& header() const { return tries_[0]; }
  const ByteTrie& trie(int32_t i) const { return tries_[i]; }

  // Gemma spelling (units) of a JSON value.
  static std::string Spell(const nlohmann::json& value);
  static bool IsBareKey(std::string_view name);

 private:
  std::vector<Tool> tools_;
  std::vector<ByteTrie> tries_;  // [0] = header
};

}  // namespace g4::grammar
