#include "grammar/byte_trie.h"

#include <algorithm>
#include <map>

#include "base/error.h"

namespace g4::grammar {

void ByteTrie::Build(const std::vector<std::pair<std::string, int32_t>>& entries) {
  // Build with maps first (small tries), then flatten into sorted edge arrays.
  struct Tmp {
    std::map<uint8_t, int32_t> kids;
    int32_t value = -1;
  };
  std::vector<Tmp> tmp(1);
  for (const auto& [bytes, value] : entries) {
    int32_t n = 0;
    for (unsigned char c : bytes) {
      auto it = tmp[n].kids.find(c);
      if (it == tmp[n].kids.end()) {
        tmp.push_back({});
        int32_t id = static_cast<int32_t>(tmp.size()) - 1;
        tmp[n].kids.emplace(c, id);
        n = id;
      } else {
        n = it->second;
      }
    }
    if (tmp[n].value < 0) tmp[n].value = value;
  }
  nodes_.assign(tmp.size(), Node{});
  edge_bytes_.clear();
  edge_targets_.clear();
  for (size_t i = 0; i < tmp.size(); ++i) {
    nodes_[i].value = tmp[i].value;
    nodes_[i].edge_begin = static_cast<uint32_t>(edge_bytes_.size());
    for (const auto& [c, id] : tmp[i].kids) {
      edge_bytes_.push_back(c);
      edge_targets_.push_back(id);
    }
    nodes_[i].edge_end = static_cast<uint32_t>(edge_bytes_.size());
  }
  // Children always have larger ids than parents, so one backwards pass fills the subtree data.
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& n = nodes_[k];
    n.mask = (n.value >= 0 && n.value < 64) ? (uint64_t{1} << n.value) : 0;
    n.dist = n.value >= 0 ? 0 : UINT32_MAX;
    n.next = -1;
    for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
      const Node& child = nodes_[edge_targets_[e]];
      n.mask |= child.mask;
      if (n.value < 0 && child.dist != UINT32_MAX && child.dist + 1 < n.dist) {
        n.dist = child.dist + 1;
        n.next = edge_targets_[e];
      }
    }
  }
}

int32_t ByteTrie::Child(int32_t node, uint8_t byte) const {
  const Node& n = nodes_[node];
  auto begin = edge_bytes_.begin() + n.edge_begin, end = edge_bytes_.begin() + n.edge_end;
  if (n.edge_end - n.edge_begin <= 8) {
    for (auto it = begin; it != end; ++it)
      if (*it == byte) return edge_targets_[it - edge_bytes_.begin()];
    return kDead;
  }
  auto it = std::lower_bound(begin, end, byte);
  if (it == end || *it != byte) return kDead;
  return edge_targets_[it - edge_bytes_.begin()];
}

std::string ByteTrie::ShortestSuffix(int32_t node) const {
  std::string out;
  while (nodes_[node].value < 0) {
    int32_t next = nodes_[node].next;
    G4_CHECK(next >= 0, "trie node without a terminal below it");
    for (uint32_t e = nodes_[node].edge_begin; e < nodes_[node].edge_end; ++e)
      if (edge_targets_[e] == next) out.push_back(static_cast<char>(edge_bytes_[e]));
    node = next;
  }
  return out;
}

std::vector<uint8_t> ByteTrie::EdgeBytes(int32_t node) const {
  return std::vector<uint8_t>(edge_bytes_.begin() + nodes_[node].edge_begin,
                              edge_bytes_.begin() + nodes_[node].edge_end);
}

void TokenTrie::Build(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.bytes != b.bytes) return a.bytes < b.bytes;
    return a.token < b.token;
  });
  byte_.assign(1, 0);
  depth_.assign(1, 0);
  end_.assign(1, 0);
  entry_begin_.clear();
  tokens_.clear();
  aux_.clear();
  max_depth_ = 0;
  // Lexicographic order of the strings is the pre-order of the trie: keep the path of the last
  // string as a stack of node ids and close (set end of) the nodes that the next string leaves.
  std::vector<uint32_t> path = {0};
  std::vector<uint32_t> node_entry_first(1, 0);
  std::string_view prev;
  std::vector<uint32_t> entry_node;  // node of each entry, in entry order
  entry_node.reserve(entries.size());
  for (const Entry& e : entries) {
    size_t lcp = 0;
    while (lcp < prev.size() && lcp < e.bytes.size() && prev[lcp] == e.bytes[lcp]) ++lcp;
    while (path.size() > lcp + 1) {
      end_[path.back()] = static_cast<uint32_t>(byte_.size());
      path.pop_back();
    }
    for (size_t k = lcp; k < e.bytes.size(); ++k) {
      byte_.push_back(static_cast<uint8_t>(e.bytes[k]));
      depth_.push_back(static_cast<uint32_t>(k + 1));
      end_.push_back(0);
      path.push_back(static_cast<uint32_t>(byte_.size() - 1));
    }
    max_depth_ = std::max<uint32_t>(max_depth_, static_cast<uint32_t>(e.bytes.size()));
    entry_node.push_back(path.back());
    prev = e.bytes;
  }
  while (!path.empty()) {
    end_[path.back()] = static_cast<uint32_t>(byte_.size());
    path.pop_back();
  }
  // Entries are already grouped by node in node order (pre-order == sorted order).
  entry_begin_.assign(byte_.size() + 1, 0);
  for (uint32_t n : entry_node) ++entry_begin_[n + 1];
  for (size_t i = 1; i < entry_begin_.size(); ++i) entry_begin_[i] += entry_begin_[i - 1];
  tokens_.resize(entries.size());
  aux_.resize(entries.size());
  for (size_t k = 0; k < entries.size(); ++k) {
    tokens_[k] = entries[k].token;
    aux_[k] = entries[k].aux;
  }
}

}  // namespace g4::grammar
