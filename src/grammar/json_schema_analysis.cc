// Analysis of a compiled schema: enum filtering, which nodes have a finite document (and the
// shallowest, shortest one), pruning of what cannot be completed, and first bytes. After this,
// every prefix the matcher accepts can still be completed to a valid document.
#include <algorithm>
#include <cmath>
#include <set>

#include "base/error.h"
#include "grammar/json_schema.h"

namespace g4::grammar {

using nlohmann::json;

namespace {

constexpr size_t kMaxMinDocBytes = 1 << 20;
constexpr int kMaxMatchDepth = 256;

uint64_t Pow10(int e) {
  uint64_t r = 1;
  while (e-- > 0) r *= 10;
  return r;
}

size_t CountCodepoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

struct Best {
  bool ok = false;
  int depth = 0;
  std::string doc;
  bool BetterThan(const Best& o) const {
    if (!ok) return false;
    if (!o.ok) return true;
    if (depth != o.depth) return depth < o.depth;
    return doc.size() < o.doc.size();
  }
};

void Flatten(const std::vector<SchemaNode>& nodes, uint32_t id, std::vector<uint32_t>& stamp, uint32_t gen,
             std::vector<uint32_t>& out) {
  if (stamp[id] == gen) return;
  stamp[id] = gen;
  if (nodes[id].kind != NodeKind::kAnyOf) {
    out.push_back(id);
    return;
  }
  for (uint32_t a : nodes[id].alts) Flatten(nodes, a, stamp, gen, out);
}

}  // namespace

bool JsonSchemaGrammar::IntegerInBounds(const SchemaNode& n, bool negative, uint64_t mag) {
  if (!n.bounded) return true;
  const int64_t v = negative ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag);
  return v >= n.int_lo && v <= n.int_hi;
}

bool JsonSchemaGrammar::IntegerPrefixViable(const SchemaNode& n, bool negative, uint64_t mag, int digits) const {
  if (!n.bounded) return true;
  if (digits == 0) return n.int_lo <= 0;  // "-": -0 and every negative integer are reachable
  if (mag == 0) return IntegerInBounds(n, false, 0);  // a leading zero ends the integer part
  for (int j = 0; digits + j <= kMaxIntDigits; ++j) {
    const int64_t lo_m = static_cast<int64_t>(mag * Pow10(j));
    const int64_t hi_m = j == 0 ? lo_m : static_cast<int64_t>((mag + 1) * Pow10(j) - 1);
    const int64_t a = negative ? -hi_m : lo_m, b = negative ? -lo_m : hi_m;
    if (b >= n.int_lo && a <= n.int_hi) return true;
  }
  return false;
}

bool JsonSchemaGrammar::FractionAllowed(const SchemaNode& n, bool negative, uint64_t mag) {
  if (n.integer) return false;
  if (!n.bounded) return true;
  // Any decimal strictly between the integer part and the next integer away from zero rounds to
  // a double inside [a, b], so the whole closed interval must be in bounds.
  const double m = static_cast<double>(mag);
  const double a = negative ? -(m + 1) : m, b = negative ? -m : m + 1;
  const bool lo_ok = n.lo_excl ? a > n.lo : a >= n.lo;
  const bool hi_ok = n.hi_excl ? b < n.hi : b <= n.hi;
  return lo_ok && hi_ok;
}

bool JsonSchemaGrammar::Matches(uint32_t id, const json& v, int depth) const {
  if (depth > kMaxMatchDepth) return false;
  const SchemaNode& n = nodes_[id];
  switch (n.kind) {
    case NodeKind::kAnyOf:
      for (uint32_t leaf : n.leaves)
        if (Matches(leaf, v, depth + 1)) return true;
      return false;
    case NodeKind::kObject: {
      if (!v.is_object()) return false;
      uint64_t seen = 0;
      for (auto it = v.begin(); it != v.end(); ++it) {
        size_t k = 0;
        while (k < n.props.size() && n.props[k].name != it.key()) ++k;
        if (k < n.props.size()) {
          if ((n.forbidden >> k) & 1) return false;
          if (!Matches(n.props[k].node, it.value(), depth + 1)) return false;
          seen |= uint64_t{1} << k;
        } else if (n.additional < 0 || !Matches(static_cast<uint32_t>(n.additional), it.value(), depth + 1)) {
          return false;
        }
      }
      return (seen & n.required) == n.required && v.size() >= n.min_props && v.size() <= n.max_props;
    }
    case NodeKind::kArray: {
      if (!v.is_array() || v.size() < n.min_items || v.size() > n.max_items) return false;
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t item = i < n.prefix.size() ? static_cast<int64_t>(n.prefix[i]) : n.items;
        if (item < 0 || !Matches(static_cast<uint32_t>(item), v[i], depth + 1)) return false;
      }
      return true;
    }
    case NodeKind::kString: {
      if (!v.is_string()) return false;
      size_t len = CountCodepoints(v.get_ref<const std::string&>());
      return len >= n.min_length && len <= n.max_length;
    }
    case NodeKind::kNumber: {
      if (!v.is_number()) return false;
      const double d = v.get<double>();
      if (n.integer && !v.is_number_integer() && std::floor(d) != d) return false;
      if (!n.bounded) return true;
      const bool lo_ok = n.lo_excl ? d > n.lo : d >= n.lo;
      const bool hi_ok = n.hi_excl ? d < n.hi : d <= n.hi;
      return lo_ok && hi_ok;
    }
    case NodeKind::kLiteral: {
      const json norm = NormalizeJsonValue(v);
      if (n.pending_enum) {
        bool listed = std::find(n.enum_values.begin(), n.enum_values.end(), norm) != n.enum_values.end();
        return listed && Matches(static_cast<uint32_t>(n.enum_base), v, depth + 1);
      }
      std::string dump;
      try {
        dump = norm.dump();
      } catch (const json::exception&) {
        return false;
      }
      return std::find(n.literals.begin(), n.literals.end(), dump) != n.literals.end();
    }
  }
  return false;
}

void JsonSchemaGrammar::Analyze() {
  const size_t count = nodes_.size();
  auto compute_leaves = [&] {
    std::vector<uint32_t> stamp(count, 0);
    for (size_t i = 0; i < count; ++i) {
      nodes_[i].leaves.clear();
      Flatten(nodes_, static_cast<uint32_t>(i), stamp, static_cast<uint32_t>(i + 1), nodes_[i].leaves);
    }
  };
  compute_leaves();

  // 1. enum/const: keep the values that satisfy the rest of the node.
  for (size_t i = 0; i < count; ++i) {
    SchemaNode& n = nodes_[i];
    if (!n.pending_enum) continue;
    std::vector<std::string> kept;
    for (const json& v : n.enum_values) {
      if (!Matches(static_cast<uint32_t>(n.enum_base), v, 0)) continue;
      std::string dump = v.dump();
      if (std::find(kept.begin(), kept.end(), dump) == kept.end()) kept.push_back(dump);
    }
    if (kept.empty()) Fail(n.path, ".enum: no listed value satisfies the rest of the schema");
    n.literals = std::move(kept);
  }
  for (auto& n : nodes_) {
    if (n.kind != NodeKind::kLiteral) continue;
    n.pending_enum = false;
    std::vector<std::pair<std::string, int32_t>> entries;
    for (size_t k = 0; k < n.literals.size(); ++k) entries.emplace_back(n.literals[k], static_cast<int32_t>(k));
    tries_.emplace_back();
    tries_.back().Build(entries);
    n.lit_trie = static_cast<int32_t>(tries_.size() - 1);
  }

  // 2. Shallowest (then shortest) finite document of every node, by fixpoint iteration.
  std::vector<Best> best(count);
  auto eval = [&](const SchemaNode& n) -> Best {
    Best r;
    switch (n.kind) {
      case NodeKind::kAnyOf:
        for (uint32_t a : n.alts)
          if (best[a].BetterThan(r)) r = best[a];
        return r;
      case NodeKind::kObject: {
        std::string body;
        int depth = 0;
        uint32_t used = 0;
        auto add = [&](const SchemaProperty& p) {
          if (!body.empty()) body += ",";
          body += "\"" + p.key + "\":" + best[p.node].doc;
          depth = std::max(depth, best[p.node].depth);
          ++used;
        };
        for (size_t k = 0; k < n.props.size(); ++k) {
          if (!((n.required >> k) & 1)) continue;
          if (!best[n.props[k].node].ok || ((n.forbidden >> k) & 1)) return r;
          add(n.props[k]);
        }
        if (used < n.min_props) {
          std::vector<size_t> optional;
          for (size_t k = 0; k < n.props.size(); ++k)
            if (!((n.required >> k) & 1) && !((n.forbidden >> k) & 1) && best[n.props[k].node].ok)
              optional.push_back(k);
          std::sort(optional.begin(), optional.end(), [&](size_t a, size_t b) {
            return best[n.props[a].node].BetterThan(best[n.props[b].node]);
          });
          for (size_t k = 0; k < optional.size() && used < n.min_props; ++k) add(n.props[optional[k]]);
          if (used < n.min_props) return r;
        }
        if (used > n.max_props) return r;
        r.ok = true;
        r.depth = depth + 1;
        r.doc = "{" + body + "}";
        return r;
      }
      case NodeKind::kArray: {
        if (n.min_items > n.max_items) return r;
        std::string body;
        int depth = 0;
        for (uint32_t i = 0; i < n.min_items; ++i) {
          int64_t item = i < n.prefix.size() ? static_cast<int64_t>(n.prefix[i]) : n.items;
          if (item < 0 || !best[item].ok) return r;
          if (i) body += ",";
          body += best[item].doc;
          depth = std::max(depth, best[item].depth);
          if (body.size() > kMaxMinDocBytes) Fail(n.path, ": the smallest valid document is too large");
        }
        r.ok = true;
        r.depth = depth + 1;
        r.doc = "[" + body + "]";
        return r;
      }
      case NodeKind::kString:
        r.ok = true;
        r.doc = "\"" + std::string(n.min_length, 'a') + "\"";
        return r;
      case NodeKind::kNumber: {
        r.ok = true;
        int64_t v = 0;
        if (n.bounded && (n.int_lo > 0 || n.int_hi < 0)) v = n.int_lo > 0 ? n.int_lo : n.int_hi;
        r.doc = std::to_string(v);
        return r;
      }
      case NodeKind::kLiteral:
        for (const auto& lit : n.literals)
          if (!r.ok || lit.size() < r.doc.size()) {
            r.ok = true;
            r.doc = lit;
          }
        return r;
    }
    return r;
  };
  for (int round = 0; round < 10000; ++round) {
    bool changed = false;
    for (size_t i = 0; i < count; ++i) {
      Best cand = eval(nodes_[i]);
      if (cand.BetterThan(best[i])) {
        if (cand.doc.size() > kMaxMinDocBytes) Fail(nodes_[i].path, ": the smallest valid document is too large");
        best[i] = std::move(cand);
        changed = true;
      }
    }
    if (!changed) break;
  }

  // 3. Prune what has no finite document, so no generated prefix can get stuck.
  for (size_t i = 0; i < count; ++i) {
    SchemaNode& n = nodes_[i];
    n.productive = best[i].ok;
    n.min_depth = best[i].depth;
    n.min_doc = best[i].doc;
    switch (n.kind) {
      case NodeKind::kAnyOf: {
        std::vector<uint32_t> alts;
        for (uint32_t a : n.alts)
          if (best[a].ok) alts.push_back(a);
        n.alts = std::move(alts);
        break;
      }
      case NodeKind::kObject:
        for (size_t k = 0; k < n.props.size(); ++k)
          if (!best[n.props[k].node].ok) n.forbidden |= uint64_t{1} << k;
        if (n.additional >= 0 && !best[n.additional].ok) n.additional = -1;
        break;
      case NodeKind::kArray:
        for (size_t k = 0; k < n.prefix.size(); ++k)
          if (!best[n.prefix[k]].ok) {
            n.max_items = std::min<uint32_t>(n.max_items, static_cast<uint32_t>(k));
            break;
          }
        if (n.items >= 0 && !best[n.items].ok) n.items = -1;
        if (n.items < 0) n.max_items = std::min<uint32_t>(n.max_items, static_cast<uint32_t>(n.prefix.size()));
        break;
      default:
        break;
    }
  }
  const SchemaNode& root = nodes_[root_];
  if (!root.productive) Fail(root.path, ": no finite JSON document satisfies this schema");
  if (root.min_depth > options_.max_depth)
    Fail(root.path, ": every valid document nests ", root.min_depth, " containers deep, more than max_depth ",
         options_.max_depth);

  // 4. Leaves and first bytes.
  compute_leaves();
  for (auto& n : nodes_) {
    n.first.reset();
    switch (n.kind) {
      case NodeKind::kObject: n.first.set('{'); break;
      case NodeKind::kArray: n.first.set('['); break;
      case NodeKind::kString: n.first.set('"'); break;
      case NodeKind::kNumber:
        if (IntegerPrefixViable(n, true, 0, 0)) n.first.set('-');
        for (int d = 0; d <= 9; ++d)
          if (IntegerPrefixViable(n, false, static_cast<uint64_t>(d), 1)) n.first.set('0' + d);
        break;
      case NodeKind::kLiteral:
        for (uint8_t c : tries_[n.lit_trie].EdgeBytes(0)) n.first.set(c);
        break;
      case NodeKind::kAnyOf: break;
    }
  }
}

void CheckOneOfDisjoint(const JsonSchemaGrammar& g, const std::vector<uint32_t>& oneof_nodes) {
  // oneOf needs exactly one alternative to match. Alternatives that start with different bytes
  // can never both match, so only that case is accepted.
  for (uint32_t id : oneof_nodes) {
    const SchemaNode& n = g.node(id);
    std::vector<std::bitset<256>> firsts;
    for (uint32_t a : n.alts) {
      std::bitset<256> f;
      for (uint32_t leaf : g.node(a).leaves) f |= g.node(leaf).first;
      firsts.push_back(f);
    }
    for (size_t i = 0; i < firsts.size(); ++i)
      for (size_t j = i + 1; j < firsts.size(); ++j)
        if ((firsts[i] & firsts[j]).any())
          Fail(n.path, ".oneOf: alternatives ", i, " and ", j,
               " can start alike, so a document could match both; use anyOf instead");
  }
}

}  // namespace g4::grammar
