// JSON Schema -> SchemaNode graph. Analysis (enum filtering, productivity, pruning, first bytes)
// is in json_schema_analysis.cc.
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "base/error.h"
#include "grammar/json_schema.h"

namespace g4::grammar {

using nlohmann::json;

namespace {

constexpr int kMaxSchemaDepth = 64;
constexpr size_t kMaxNodes = 50000;
constexpr uint32_t kMaxLengthKeyword = 100000;
constexpr int64_t kMaxInt = 999999999999999;  // 15 digits, exact in a double

bool IsAnnotation(const std::string& k) {
  static const std::set<std::string> kNames = {
      "title", "description", "$comment", "examples", "default", "$schema", "$id", "$anchor",
      "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "format",
      "$vocabulary", "$defs", "definitions"};
  return kNames.count(k) > 0 || k.rfind("x-", 0) == 0;
}

bool IsSupported(const std::string& k) {
  static const std::set<std::string> kNames = {
      "type", "properties", "required", "additionalProperties", "minProperties", "maxProperties",
      "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",
      "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const", "anyOf",
      "oneOf", "allOf", "$ref"};
  return kNames.count(k) > 0;
}

// Keywords that constrain one JSON type, and so make a sibling anyOf an intersection.
const char* FamilyOf(const std::string& k) {
  static const std::map<std::string, const char*> kFamilies = {
      {"properties", "object"}, {"required", "object"}, {"additionalProperties", "object"},
      {"minProperties", "object"}, {"maxProperties", "object"}, {"items", "array"},
      {"prefixItems", "array"}, {"minItems", "array"}, {"maxItems", "array"},
      {"uniqueItems", "array"}, {"minLength", "string"}, {"maxLength", "string"},
      {"minimum", "number"}, {"maximum", "number"}, {"exclusiveMinimum", "number"},
      {"exclusiveMaximum", "number"}};
  auto it = kFamilies.find(k);
  return it == kFamilies.end() ? nullptr : it->second;
}

std::string Quote(const std::string& s) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    return "\"<invalid UTF-8>\"";
  }
}

}  // namespace

// Replaces integral floats by integers so equal numbers serialize equally ("1", not "1.0").
json NormalizeJsonValue(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740992.0)
      return json(static_cast<int64_t>(d));
    return v;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(NormalizeJsonValue(e));
    return out;
  }
  if (v.is_object()) {
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = NormalizeJsonValue(it.value());
    return out;
  }
  return v;
}

class SchemaCompiler {
 public:
  SchemaCompiler(const json& root, JsonSchemaGrammar& g) : root_(root), g_(g) {}

  uint32_t Compile(const json& s, const std::string& path, int depth) {
    if (depth > kMaxSchemaDepth) Fail(path, ": schema nested more than ", kMaxSchemaDepth, " levels deep");
    if (s.is_boolean()) return s.get<bool>() ? AnyNode() : NewNode(NodeKind::kAnyOf, path);
    if (!s.is_object()) Fail(path, ": expected a schema (object or boolean), got ", s.type_name());
    if (s.contains("$ref")) return CompileRef(s, path, depth);
    uint32_t id = NewNode(NodeKind::kAnyOf, path);
    CompileInto(id, s, path, depth);
    return id;
  }

  uint32_t AnyNode() {
    if (any_ >= 0) return static_cast<uint32_t>(any_);
    uint32_t any = NewNode(NodeKind::kAnyOf, "any");
    any_ = any;
    uint32_t obj = NewNode(NodeKind::kObject, "any.object");
    g_.nodes_[obj].additional = static_cast<int32_t>(any);
    g_.nodes_[obj].key_trie = AddTrie({});
    uint32_t arr = NewNode(NodeKind::kArray, "any.array");
    g_.nodes_[arr].items = static_cast<int32_t>(any);
    uint32_t str = NewNode(NodeKind::kString, "any.string");
    uint32_t num = NewNode(NodeKind::kNumber, "any.number");
    uint32_t lit = NewNode(NodeKind::kLiteral, "any.literal");
    g_.nodes_[lit].literals = {"true", "false", "null"};
    g_.nodes_[any].alts = {obj, arr, str, num, lit};
    return any;
  }

  std::vector<uint32_t> oneof_nodes;

 private:
  uint32_t NewNode(NodeKind kind, const std::string& path) {
    if (g_.nodes_.size() >= kMaxNodes) Fail(path, ": schema too large (more than ", kMaxNodes, " nodes)");
    g_.nodes_.emplace_back();
    g_.nodes_.back().kind = kind;
    g_.nodes_.back().path = path;
    return static_cast<uint32_t>(g_.nodes_.size() - 1);
  }

  int32_t AddTrie(const std::vector<std::pair<std::string, int32_t>>& entries) {
    g_.tries_.emplace_back();
    g_.tries_.back().Build(entries);
    return static_cast<int32_t>(g_.tries_.size() - 1);
  }

  uint32_t CompileRef(const json& s, const std::string& path, int depth) {
    for (auto it = s.begin(); it != s.end(); ++it)
      if (it.key() != "$ref" && !IsAnnotation(it.key()))
        Fail(path, ".", it.key(), ": keywords beside $ref are unsupported");
    const json& ref = s["$ref"];
    if (!ref.is_string()) Fail(path, ".$ref: expected a string");
    std::string r = ref.get<std::string>();
    if (r.empty() || r[0] != '#')
      Fail(path, ".$ref: only local references (\"#\", \"#/$defs/name\") are supported, got ", Quote(r));
    std::string pointer = PercentDecode(r.substr(1), path);
    auto memo = ref_ids_.find(pointer);
    if (memo != ref_ids_.end()) return memo->second;
    json::json_pointer ptr;
    try {
      ptr = json::json_pointer(pointer);
    } catch (const json::exception&) {
      Fail(path, ".$ref: ", Quote(r), " is not a valid JSON pointer");
    }
    const json* target = nullptr;
    try {
      if (root_.contains(ptr)) target = &root_.at(ptr);
    } catch (const json::exception&) {
      target = nullptr;
    }
    if (target == nullptr) Fail(path, ".$ref: ", Quote(r), " does not resolve inside the schema");
    std::string label = "schema";
    for (char c : pointer) label.push_back(c == '/' ? '.' : c);
    if (target->is_object() && target->contains("$ref")) {
      // A reference to a reference: follow the chain, refusing loops that never reach a schema.
      if (!resolving_.insert(pointer).second) Fail(path, ".$ref: circular chain of $ref through ", Quote(r));
      uint32_t id = Compile(*target, label, depth + 1);
      resolving_.erase(pointer);
      ref_ids_[pointer] = id;
      return id;
    }
    if (!target->is_object()) {
      uint32_t id = Compile(*target, label, depth + 1);
      ref_ids_[pointer] = id;
      return id;
    }
    // Reserve the node first so recursive references inside the target find it.
    uint32_t id = NewNode(NodeKind::kAnyOf, label);
    ref_ids_[pointer] = id;
    CompileInto(id, *target, label, depth + 1);
    return id;
  }

  static std::string PercentDecode(const std::string& s, const std::string& path) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%') {
        if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
          Fail(path, ".$ref: bad percent escape");
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  void CompileInto(uint32_t id, const json& s, const std::string& path, int depth) {
    std::set<std::string> families;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (IsAnnotation(k)) continue;
      if (!IsSupported(k)) Fail(path, ".", k, ": unsupported keyword");
      if (const char* f = FamilyOf(k)) families.insert(f);
    }
    for (const char* defs : {"$defs", "definitions"})
      if (s.contains(defs) && !s[defs].is_object()) Fail(path, ".", defs, ": expected an object");

    if (s.contains("enum") || s.contains("const")) {
      CompileEnum(id, s, path, depth);
      return;
    }
    int combinators = s.contains("anyOf") + s.contains("oneOf") + s.contains("allOf");
    if (combinators > 0) {
      if (combinators > 1) Fail(path, ": more than one of anyOf/oneOf/allOf is unsupported");
      if (s.contains("type") || !families.empty())
        Fail(path, ": anyOf/oneOf/allOf beside type keywords is unsupported; move them into each alternative");
      const char* key = s.contains("anyOf") ? "anyOf" : s.contains("oneOf") ? "oneOf" : "allOf";
      const json& list = s[key];
      if (!list.is_array() || list.empty()) Fail(path, ".", key, ": expected a non-empty array");
      if (std::string(key) == "allOf" && list.size() != 1)
        Fail(path, ".allOf: only a single-element allOf is supported");
      std::vector<uint32_t> alts;
      for (size_t i = 0; i < list.size(); ++i)
        alts.push_back(Compile(list[i], Concat(path, ".", key, "[", i, "]"), depth + 1));
      g_.nodes_[id].kind = NodeKind::kAnyOf;
      g_.nodes_[id].alts = std::move(alts);
      if (std::string(key) == "oneOf") oneof_nodes.push_back(id);
      return;
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const auto& e : t) {
          if (!e.is_string()) Fail(path, ".type: expected a string or an array of strings");
          types.push_back(e.get<std::string>());
        }
      } else {
        Fail(path, ".type: expected a string or an array of strings");
      }
      static const std::set<std::string> kTypes = {"object", "array", "string", "number",
                                                   "integer", "boolean", "null"};
      std::set<std::string> seen;
      for (const auto& name : types) {
        if (!kTypes.count(name)) Fail(path, ".type: unsupported value ", Quote(name));
        if (!seen.insert(name).second) Fail(path, ".type: ", Quote(name), " listed twice");
      }
    } else {
      // No type: constraints of one family imply that type (a subset of what the schema allows).
      types.assign(families.begin(), families.end());
      if (types.empty()) {
        g_.nodes_[id].kind = NodeKind::kAnyOf;
        g_.nodes_[id].alts = {AnyNode()};
        return;
      }
    }
    if (types.size() == 1) {
      BuildType(id, types[0], s, path, depth);
      return;
    }
    std::vector<uint32_t> alts;
    for (const auto& t : types) {
      uint32_t alt = NewNode(NodeKind::kAnyOf, path);
      BuildType(alt, t, s, path, depth);
      alts.push_back(alt);
    }
    g_.nodes_[id].kind = NodeKind::kAnyOf;
    g_.nodes_[id].alts = std::move(alts);
  }

  void CompileEnum(uint32_t id, const json& s, const std::string& path, int depth) {
    std::vector<json> values;
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (!e.is_array() || e.empty()) Fail(path, ".enum: expected a non-empty array");
      for (const auto& v : e) values.push_back(NormalizeJsonValue(v));
    }
    if (s.contains("const")) {
      json c = NormalizeJsonValue(s["const"]);
      if (!values.empty()) {
        bool listed = false;
        for (const auto& v : values) listed = listed || v == c;
        if (!listed) Fail(path, ".const: value is not in the enum");
      }
      values = {c};
    }
    for (const auto& v : values) {
      try {
        (void)v.dump();
      } catch (const json::exception&) {
        Fail(path, s.contains("const") ? ".const" : ".enum", ": value is not valid UTF-8");
      }
    }
    json rest = s;
    rest.erase("enum");
    rest.erase("const");
    uint32_t base = NewNode(NodeKind::kAnyOf, path);
    CompileInto(base, rest, path, depth);
    SchemaNode& n = g_.nodes_[id];
    n.kind = NodeKind::kLiteral;
    n.pending_enum = true;
    n.enum_values = std::move(values);
    n.enum_base = static_cast<int32_t>(base);
  }

  uint32_t Count(const json& s, const char* key, const std::string& path, uint32_t fallback) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    double d = v.is_number() ? v.get<double>() : -1;
    if (!v.is_number() || d < 0 || std::floor(d) != d)
      Fail(path, ".", key, ": expected a non-negative integer");
    return d > static_cast<double>(UINT32_MAX - 1) ? UINT32_MAX - 1 : static_cast<uint32_t>(d);
  }

  void BuildType(uint32_t id, const std::string& type, const json& s, const std::string& path, int depth) {
    if (type == "object") return BuildObject(id, s, path, depth);
    if (type == "array") return BuildArray(id, s, path, depth);
    SchemaNode tmp;
    if (type == "string") {
      tmp.kind = NodeKind::kString;
      tmp.min_length = Count(s, "minLength", path, 0);
      tmp.max_length = Count(s, "maxLength", path, UINT32_MAX);
      if (tmp.min_length > kMaxLengthKeyword) Fail(path, ".minLength: larger than ", kMaxLengthKeyword, " is unsupported");
      if (tmp.min_length > tmp.max_length) Fail(path, ": minLength is greater than maxLength");
    } else if (type == "number" || type == "integer") {
      tmp.kind = NodeKind::kNumber;
      tmp.integer = type == "integer";
      BuildBounds(tmp, s, path);
    } else if (type == "boolean") {
      tmp.kind = NodeKind::kLiteral;
      tmp.literals = {"true", "false"};
    } else {
      tmp.kind = NodeKind::kLiteral;
      tmp.literals = {"null"};
    }
    SchemaNode& n = g_.nodes_[id];
    tmp.path = n.path;
    n = std::move(tmp);
  }

  static void BuildBounds(SchemaNode& n, const json& s, const std::string& path) {
    n.lo = -INFINITY;
    n.hi = INFINITY;
    auto bound = [&](const char* key, bool lower, bool excl) {
      if (!s.contains(key)) return;
      const json& v = s[key];
      if (v.is_boolean()) Fail(path, ".", key, ": boolean form (draft 4) is unsupported; use a number");
      if (!v.is_number()) Fail(path, ".", key, ": expected a number");
      double d = v.get<double>();
      n.bounded = true;
      if (lower && (d > n.lo || (d == n.lo && excl))) {
        n.lo = d;
        n.lo_excl = excl;
      }
      if (!lower && (d < n.hi || (d == n.hi && excl))) {
        n.hi = d;
        n.hi_excl = excl;
      }
    };
    bound("minimum", true, false);
    bound("exclusiveMinimum", true, true);
    bound("maximum", false, false);
    bound("exclusiveMaximum", false, true);
    const double max = static_cast<double>(kMaxInt);
    double lo = n.lo_excl ? std::floor(n.lo) + 1 : std::ceil(n.lo);
    double hi = n.hi_excl ? std::ceil(n.hi) - 1 : std::floor(n.hi);
    n.int_lo = static_cast<int64_t>(std::max(lo, -max));
    n.int_hi = static_cast<int64_t>(std::min(hi, max));
    if (lo > max || hi < -max || n.int_lo > n.int_hi)
      Fail(path, ": no integer of at most 15 digits lies within the bounds (ranges without one are unsupported)");
  }

  void BuildObject(uint32_t id, const json& s, const std::string& path, int depth) {
    std::vector<SchemaProperty> props;
    if (s.contains("properties")) {
      const json& p = s["properties"];
      if (!p.is_object()) Fail(path, ".properties: expected an object");
      for (auto it = p.begin(); it != p.end(); ++it) {
        std::string key;
        try {
          key = json(it.key()).dump();
        } catch (const json::exception&) {
          Fail(path, ".properties: a property name is not valid UTF-8");
        }
        SchemaProperty prop;
        prop.name = it.key();
        prop.key = key.substr(1, key.size() - 2);
        prop.node = Compile(it.value(), Concat(path, ".properties.", it.key()), depth + 1);
        props.push_back(std::move(prop));
      }
    }
    int32_t additional = -1;
    bool explicit_no_additional = false;
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (a.is_boolean() && !a.get<bool>()) {
        explicit_no_additional = true;
      } else {
        additional = static_cast<int32_t>(Compile(a, path + ".additionalProperties", depth + 1));
      }
    } else if (props.empty() || g_.options_.allow_unlisted_properties) {
      additional = static_cast<int32_t>(AnyNode());
    }
    uint64_t required = 0;
    if (s.contains("required")) {
      const json& r = s["required"];
      if (!r.is_array()) Fail(path, ".required: expected an array of strings");
      for (const auto& e : r) {
        if (!e.is_string()) Fail(path, ".required: expected an array of strings");
        const std::string name = e.get<std::string>();
        size_t k = 0;
        while (k < props.size() && props[k].name != name) ++k;
        if (k == props.size()) {
          // Required but not listed: its value follows additionalProperties.
          if (explicit_no_additional)
            Fail(path, ".required: ", Quote(name), " is not a listed property and additionalProperties is false");
          SchemaProperty prop;
          std::string key = json(name).dump();
          prop.name = name;
          prop.key = key.substr(1, key.size() - 2);
          prop.node = additional >= 0 ? static_cast<uint32_t>(additional) : AnyNode();
          props.push_back(std::move(prop));
        }
        if (k >= 64) Fail(path, ".properties: more than 64 properties are unsupported");
        required |= uint64_t{1} << k;
      }
    }
    if (props.size() > 64) Fail(path, ".properties: more than 64 properties are unsupported");
    uint32_t min_props = Count(s, "minProperties", path, 0);
    uint32_t max_props = Count(s, "maxProperties", path, UINT32_MAX);
    if (min_props > 0 && additional >= 0)
      Fail(path, ".minProperties: unsupported unless additionalProperties is false");
    if (min_props > max_props) Fail(path, ": minProperties is greater than maxProperties");
    std::vector<std::pair<std::string, int32_t>> keys;
    for (size_t k = 0; k < props.size(); ++k) keys.emplace_back(props[k].key, static_cast<int32_t>(k));
    int32_t trie = AddTrie(keys);
    SchemaNode& n = g_.nodes_[id];
    n.kind = NodeKind::kObject;
    n.props = std::move(props);
    n.required = required;
    n.additional = additional;
    n.min_props = min_props;
    n.max_props = max_props;
    n.key_trie = trie;
  }

  void BuildArray(uint32_t id, const json& s, const std::string& path, int depth) {
    if (s.contains("uniqueItems") && !(s["uniqueItems"].is_boolean() && !s["uniqueItems"].get<bool>()))
      Fail(path, ".uniqueItems: unsupported keyword");
    std::vector<uint32_t> prefix;
    if (s.contains("prefixItems")) {
      const json& p = s["prefixItems"];
      if (!p.is_array()) Fail(path, ".prefixItems: expected an array of schemas");
      for (size_t i = 0; i < p.size(); ++i)
        prefix.push_back(Compile(p[i], Concat(path, ".prefixItems[", i, "]"), depth + 1));
    }
    int32_t items;
    if (!s.contains("items")) {
      items = static_cast<int32_t>(AnyNode());
    } else if (s["items"].is_array()) {
      Fail(path, ".items: the array form is unsupported; use prefixItems");
    } else if (s["items"].is_boolean() && !s["items"].get<bool>()) {
      items = -1;
    } else {
      items = static_cast<int32_t>(Compile(s["items"], path + ".items", depth + 1));
    }
    uint32_t min_items = Count(s, "minItems", path, 0);
    uint32_t max_items = Count(s, "maxItems", path, UINT32_MAX);
    if (min_items > max_items) Fail(path, ": minItems is greater than maxItems");
    if (min_items > 100000) Fail(path, ".minItems: larger than 100000 is unsupported");
    SchemaNode& n = g_.nodes_[id];
    n.kind = NodeKind::kArray;
    n.prefix = std::move(prefix);
    n.items = items;
    n.min_items = min_items;
    n.max_items = max_items;
  }

  const json& root_;
  JsonSchemaGrammar& g_;
  int64_t any_ = -1;
  std::map<std::string, uint32_t> ref_ids_;
  std::set<std::string> resolving_;
};

void CheckOneOfDisjoint(const JsonSchemaGrammar& g, const std::vector<uint32_t>& oneof_nodes);

std::shared_ptr<const JsonSchemaGrammar> JsonSchemaGrammar::Compile(const json& schema,
                                                                   const JsonSchemaOptions& options) {
  if (options.max_depth < 1 || options.max_depth > 200) Fail("grammar options: max_depth must be in [1, 200]");
  if (options.max_whitespace < 0 || options.max_whitespace > 200)
    Fail("grammar options: max_whitespace must be in [0, 200]");
  auto g = std::shared_ptr<JsonSchemaGrammar>(new JsonSchemaGrammar());
  g->options_ = options;
  SchemaCompiler compiler(schema, *g);
  try {
    g->root_ = compiler.Compile(schema, "schema", 0);
  } catch (const json::exception& e) {
    Fail("schema: ", e.what());
  }
  g->Analyze();
  CheckOneOfDisjoint(*g, compiler.oneof_nodes);
  return g;
}

std::shared_ptr<const JsonSchemaGrammar> JsonSchemaGrammar::AnyJson(const JsonSchemaOptions& options) {
  return Compile(json(true), options);
}

}  // namespace g4::grammar
