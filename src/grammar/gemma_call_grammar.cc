#include "grammar/gemma_call_grammar.h"

#include <set>

#include "base/error.h"
#include "grammar/json_lexer.h"

namespace g4::grammar {

using nlohmann::json;

namespace {

// What the output parser accepts as a function name (chat/output_parser.cc NameFromHeader).
bool IsCallableName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.' || c == ':' || u >= 0x80;
    if (!ok) return false;
  }
  return true;
}

// Whether `text` can stand between two <|"|> tokens (see StringMode::kGemma).
bool IsGemmaStringText(std::string_view text) {
  uint8_t state = kStrNormal;
  for (char c : text) {
    const LexStep st = StringLex(StringMode::kGemma, state, static_cast<uint8_t>(c));
    if (st.action != LexAction::kContinue) return false;
    state = st.next;
  }
  return !IsInsideUtf8(state);
}

void CheckSpellable(const json& v, const std::string& where) {
  if (v.is_string() && !IsGemmaStringText(v.get_ref<const std::string&>()))
    Fail(where, ": the string ", v.dump(), " cannot be written in a Gemma tool call (it spells a control token)");
  if (v.is_array())
    for (const json& e : v) CheckSpellable(e, where);
  if (v.is_object()) {
    for (const auto& [k, e] : v.items()) {
      if (!GemmaCallGrammar::IsBareKey(k) && !IsGemmaStringText(k))
        Fail(where, ": the key ", json(k).dump(), " cannot be written in a Gemma tool call");
      CheckSpellable(e, where);
    }
  }
}

// <|"|>text<|"|> in units.
std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back(static_cast<char>(kUnitQuote));
  out.append(text);
  out.push_back(static_cast<char>(kUnitQuote));
  return out;
}

std::string SpellKey(const std::string& name) { return GemmaCallGrammar::IsBareKey(name) ? name : Quoted(name); }

}  // namespace

bool GemmaCallGrammar::IsBareKey(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.' || c == '$' || u >= 0x80;
    if (!ok) return false;
  }
  return true;
}

std::string GemmaCallGrammar::Spell(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return Quoted(value.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out += ',';
        out += Spell(value[i]);
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : value.items()) {
        if (!first) out += ',';
        out += SpellKey(k);
        out += ':';
        out += Spell(v);
        first = false;
      }
      return out + "}";
    }
    default:
      return value.dump();  // numbers, true, false, null read the same in both syntaxes
  }
}

std::shared_ptr<const GemmaCallGrammar> GemmaCallGrammar::Compile(const json& tools, const JsonSchemaOptions& options) {
  if (!tools.is_array()) Fail("tools: expected an array");
  auto g = std::make_shared<GemmaCallGrammar>();
  g->tries_.emplace_back();  // the header trie, built last
  std::vector<std::pair<std::string, int32_t>> headers;
  std::set<std::string> seen;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string where = Concat("tools[", i, "]");
    const json& t = tools[i];
    if (!t.is_object()) Fail(where, ": expected an object");
    const bool wrapped = t.contains("function");
    const json& fn = wrapped ? t["function"] : t;
    const std::string fwhere = where + (wrapped ? ".function" : "");
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
      Fail(fwhere, ".name: expected a string");
    Tool tool;
    tool.name = fn["name"].get<std::string>();
    if (!IsCallableName(tool.name))
      Fail(fwhere, ".name: ", json(tool.name).dump(), " cannot be written in a Gemma tool call");
    if (!seen.insert(tool.name).second) Fail(fwhere, ".name: ", json(tool.name).dump(), " is declared twice");
    json params = fn.contains("parameters") && !fn["parameters"].is_null()
                      ? fn["parameters"]
                      : json{{"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
    try {
      tool.schema = JsonSchemaGrammar::Compile(params, options);
    } catch (const Error& e) {
      Fail(fwhere, ".parameters: ", e.what());
    }
    const JsonSchemaGrammar& s = *tool.schema;
    bool object_root = false;
    for (uint32_t leaf : s.node(s.root()).leaves) object_root = object_root || s.node(leaf).kind == NodeKind::kObject;
    if (!object_root) Fail(fwhere, ".parameters: must allow an object (the arguments of a call)");

    tool.nodes.resize(s.num_nodes());
    for (uint32_t k = 0; k < s.num_nodes(); ++k) {
      const SchemaNode& n = s.node(k);
      NodeSpelling& sp = tool.nodes[k];
      const std::string nwhere = fwhere + ".parameters (" + n.path + ")";
      if (n.kind == NodeKind::kObject) {
        std::vector<std::pair<std::string, int32_t>> entries;
        for (size_t p = 0; p < n.props.size(); ++p) {
          if (!IsBareKey(n.props[p].name) && !IsGemmaStringText(n.props[p].name))
            Fail(nwhere, ": the property name ", json(n.props[p].name).dump(), " cannot be written in a Gemma tool call");
          sp.keys.push_back(SpellKey(n.props[p].name));
          entries.emplace_back(sp.keys.back(), static_cast<int32_t>(p));
        }
        g->tries_.emplace_back();
        g->tries_.back().Build(entries);
        sp.key_trie = static_cast<int32_t>(g->tries_.size() - 1);
      }
      if (n.kind == NodeKind::kLiteral) {
        std::vector<std::pair<std::string, int32_t>> entries;
        for (size_t l = 0; l < n.literals.size(); ++l) {
          const json v = json::parse(n.literals[l]);
          CheckSpellable(v, nwhere);
          entries.emplace_back(Spell(v), static_cast<int32_t>(l));
        }
        g->tries_.emplace_back();
        g->tries_.back().Build(entries);
        sp.literal_trie = static_cast<int32_t>(g->tries_.size() - 1);
      }
      if (n.productive) sp.min_doc = Spell(json::parse(n.min_doc));
    }
    headers.emplace_back("call:" + tool.name + "{", static_cast<int32_t>(g->tools_.size()));
    g->tools_.push_back(std::move(tool));
  }
  g->tries_[0].Build(headers);
  return g;
}

}  // namespace g4::grammar
