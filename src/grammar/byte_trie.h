// Tries over byte strings used by the grammar.
//
// ByteTrie: small tries for a schema's literal sets (enum/const/true/false/null) and property
// names; random access by (node, byte).
// TokenTrie: the trie of a whole vocabulary (or of the token remainders after a string closes),
// laid out in pre-order with subtree ends so a mask computation walks it as a flat array and skips
// a dead subtree with one assignment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace g4::grammar {

class ByteTrie {
 public:
  static constexpr int32_t kDead = -1;

  // Each entry is (bytes, value >= 0). Values of equal byte strings: the first one wins.
  void Build(const std::vector<std::pair<std::string, int32_t>>& entries);

  int32_t root() const { return 0; }
  int32_t Child(int32_t node, uint8_t byte) const;
  int32_t Value(int32_t node) const { return nodes_[node].value; }  // -1: not a terminal
  bool HasChildren(int32_t node) const { return nodes_[node].edge_end > nodes_[node].edge_begin; }
  // Values below 64 found in the subtree of `node` (the node itself included), as bits.
  uint64_t SubtreeMask(int32_t node) const { return nodes_[node].mask; }
  // Bytes on the way from `node` to its nearest terminal (empty when `node` is one).
  std::string ShortestSuffix(int32_t node) const;
  // Bytes leaving `node`, ascending.
  std::vector<uint8_t> EdgeBytes(int32_t node) const;
  size_t size() const { return nodes_.size(); }

 private:
  struct Node {
    uint32_t edge_begin = 0, edge_end = 0;
    int32_t value = -1;
    uint32_t dist = 0;   // bytes to the nearest terminal
    int32_t next = -1;   // child on that shortest path
    uint64_t mask = 0;
  };
  std::vector<Node> nodes_;
  std::vector<uint8_t> edge_bytes_;
  std::vector<int32_t> edge_targets_;
};

// Pre-order trie of token byte strings. Node 0 is the root (empty string). Node i has byte(i)
// on the edge from its parent, depth(i) bytes, its subtree is [i, end(i)), and the entries whose
// bytes end exactly there are entries [entry_begin(i), entry_begin(i + 1)).
class TokenTrie {
 public:
  struct Entry {
    std::string_view bytes;  // must outlive Build only
    int32_t token;
    uint8_t aux;  // carried along (code points before a string closes, for the exit tries)
  };
  void Build(std::vector<Entry> entries);

  uint32_t num_nodes() const { return static_cast<uint32_t>(byte_.size()); }
  uint8_t byte(uint32_t i) const { return byte_[i]; }
  uint32_t depth(uint32_t i) const { return depth_[i]; }
  uint32_t end(uint32_t i) const { return end_[i]; }
  uint32_t entry_begin(uint32_t i) const { return entry_begin_[i]; }
  uint32_t entry_end(uint32_t i) const { return entry_begin_[i + 1]; }
  int32_t token(uint32_t e) const { return tokens_[e]; }
  uint8_t aux(uint32_t e) const { return aux_[e]; }
  uint32_t max_depth() const { return max_depth_; }
  uint32_t num_entries() const { return static_cast<uint32_t>(tokens_.size()); }

 private:
  std::vector<uint8_t> byte_;
  std::vector<uint32_t> depth_, end_, entry_begin_;
  std::vector<int32_t> tokens_;
  std::vector<uint8_t> aux_;
  uint32_t max_depth_ = 0;
};

}  // namespace g4::grammar
