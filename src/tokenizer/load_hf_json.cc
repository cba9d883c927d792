// Loads a Hugging Face tokenizer.json (BPE model, Gemma style).
//
// The Gemma 4 file is 16 MB with 262K vocabulary entries and 515K merges. Building nlohmann's
// DOM for it takes about half a second, so the file is read with the SAX interface instead:
// model.vocab and model.merges go straight into flat arrays, and only the small remainder
// (added_tokens, normalizer, ...) becomes a DOM.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace g4::tokenizer_internal {
namespace {

using json = nlohmann::json;

class TokenizerJsonSax : public nlohmann::json_sax<json> {
 public:
  std::vector<std::pair<std::string, int64_t>> vocab;
  MergeList merges;
  json rest;          // everything but model.vocab and model.merges
  std::string error;  // why parsing stopped, when it did
  bool saw_vocab = false;
  bool saw_merges = false;

  bool null() override { return Value(json(nullptr)); }
  bool boolean(bool v) override { return Value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return VocabId(v);
    return Value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) {
      return VocabId(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
    }
    return Value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return Value(json(v)); }
  bool binary(binary_t&) override { return Stop("unexpected binary value"); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 0) {
        // Older files: "left right" strings.
        const size_t space = v.find(' ');
        if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos) {
          return Stop("model.merges[" + std::to_string(merges.refs.size()) + "] '" + v +
                      "' is not of the form 'left right'");
        }
        merges.Add(std::string_view(v).substr(0, space), std::string_view(v).substr(space + 1));
        return true;
      }
      if (merge_parts_ >= 2 || v.size() > UINT32_MAX) return MergeShapeError();
      if (merge_parts_++ == 0) {
        merges.Add(v, "");
      } else {
        merges.refs.back().right_len = static_cast<uint32_t>(v.size());
        merges.chars.append(v);
      }
      return true;
    }
    return Value(json(std::move(v)));
  }
  bool start_object(std::size_t) override {
    if (mode_ != Mode::kDom) return Stop(Where() + " holds an unexpected object");
    if (AtModelKey("vocab")) {
      mode_ = Mode::kVocab;
      saw_vocab = true;
      return true;
    }
    return Open(json::object());
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab) {
      pending_piece_ = std::move(k);
      return true;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ != 0) return MergeShapeError();
      merge_depth_ = 1;
      merge_parts_ = 0;
      merge_index_ = merges.refs.size();
      return true;
    }
    if (mode_ != Mode::kDom) return Stop(Where() + " holds an unexpected array");
    if (AtModelKey("merges")) {
      mode_ = Mode::kMerges;
      saw_merges = true;
      merge_depth_ = 0;
      return true;
    }
    return Open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 1) {
        if (merge_parts_ != 2) {
          if (merge_parts_ == 1) merges.refs.pop_back();
          return MergeShapeError();
        }
        merge_depth_ = 0;
      } else {
        mode_ = Mode::kDom;
      }
      return true;
    }
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // nlohmann's message already says "at line L, column C"; add the byte offset.
    error = std::string(ex.what()) + " (byte offset " + std::to_string(position) + ")";
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges };

  bool Stop(std::string why) {
    error = std::move(why);
    return false;
  }
  bool MergeShapeError() {
    const size_t index = merge_depth_ == 1 ? merge_index_ : merges.refs.size();
    return Stop("model.merges[" + std::to_string(index) +
                "] is not a pair of strings [left, right]");
  }
  bool VocabId(int64_t id) {
    if (id < 0 || id > INT32_MAX) {
      return Stop("model.vocab['" + pending_piece_ + "'] has the invalid id " + std::to_string(id));
    }
    vocab.emplace_back(std::move(pending_piece_), id);
    return true;
  }
  std::string Where() const {
    if (mode_ == Mode::kVocab) return "model.vocab['" + pending_piece_ + "']";
    return "model.merges[" + std::to_string(merges.refs.size()) + "]";
  }
  // The next value is model.<name>: the stack holds the root and the "model" object.
  bool AtModelKey(const char* name) const {
    return stack_.size() == 2 && keys_[1] == "model" && stack_[1]->is_object() && key_ == name;
  }
  // Adds a scalar where the DOM currently is.
  bool Value(json v) {
    if (mode_ != Mode::kDom) return Stop(Where() + " has a value of the wrong type");
    Place(std::move(v));
    return true;
  }
  json* Place(json v) {
    if (stack_.empty()) {
      rest = std::move(v);
      return &rest;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool Open(json container) {
    const std::string key = stack_.empty() || stack_.back()->is_array() ? std::string() : key_;
    stack_.push_back(Place(std::move(container)));
    keys_.push_back(key);
    return true;
  }

  Mode mode_ = Mode::kDom;
  std::vector<json*> stack_;
  std::vector<std::string> keys_;  // the key each open container was stored under
  std::string key_;
  std::string pending_piece_;
  int merge_depth_ = 0;
  int merge_parts_ = 0;
  size_t merge_index_ = 0;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) Fail(path, ": read error");
  return std::move(ss).str();
}

// A string field of a JSON object, or `fallback` when absent or null.
std::string StringOr(const json& obj, const char* key, const std::string& fallback,
                     const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) Fail(where, ".", key, " is not a string");
  return it->get<std::string>();
}

bool BoolOr(const json& obj, const char* key, bool fallback, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) Fail(where, ".", key, " is not a boolean");
  return it->get<bool>();
}

// obj[key] when obj is an object holding key, else nullptr (never throws, unlike at()).
const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// The string obj[key], or "" when absent or not a string.
std::string StrField(const json& obj, const char* key) {
  const json* v = Member(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

// {"type": "<type>", "pattern": {"String": from}, "content": to}
bool IsReplace(const json& j, const std::string& from, const std::string& to) {
  const json* pattern = Member(j, "pattern");
  return StrField(j, "type") == "Replace" && pattern != nullptr &&
         StrField(*pattern, "String") == from && StrField(j, "content") == to;
}

// The single supported normalizer: Replace(" " -> "▁"), alone or as the only member of a
// Sequence. Anything else would change the text in ways this engine does not implement.
void CheckNormalizer(const json& root, const std::string& path) {
  const json* n = Member(root, "normalizer");
  if (n == nullptr || n->is_null()) {
    Fail(path, ": normalizer is missing (expected Replace ' ' -> '▁')");
  }
  if (StrField(*n, "type") == "Sequence") {
    const json* list = Member(*n, "normalizers");
    if (list == nullptr || !list->is_array() || list->size() != 1) {
      Fail(path, ": normalizer Sequence is not supported (expected Replace ' ' -> '▁')");
    }
    n = &(*list)[0];
  }
  if (!IsReplace(*n, " ", "\xE2\x96\x81")) {
    Fail(path, ": normalizer ", n->dump(), " is not supported (expected Replace ' ' -> '▁')");
  }
}

// After the normalizer there are no spaces left, so only splitting on " " (Gemma's vestigial
// pre-tokenizer) or none at all is a no-op that this engine can accept.
void CheckPreTokenizer(const json& root, const std::string& path) {
  const json* p = Member(root, "pre_tokenizer");
  if (p == nullptr || p->is_null()) return;
  const json* pattern = Member(*p, "pattern");
  if (StrField(*p, "type") != "Split" || pattern == nullptr ||
      StrField(*pattern, "String") != " ") {
    Fail(path, ": pre_tokenizer ", p->dump(), " is not supported (expected Split on ' ')");
  }
}

// Decoding is fixed (▁ -> space, byte fallback, fuse); refuse files that ask for more.
void CheckDecoder(const json& root, const std::string& path) {
  const json* d = Member(root, "decoder");
  if (d == nullptr || d->is_null()) return;
  std::vector<const json*> parts;
  const json* list = Member(*d, "decoders");
  if (StrField(*d, "type") == "Sequence" && list != nullptr && list->is_array()) {
    for (const json& part : *list) parts.push_back(&part);
  } else {
    parts.push_back(d);
  }
  for (const json* part : parts) {
    const std::string type = StrField(*part, "type");
    if (type != "ByteFallback" && type != "Fuse" && !IsReplace(*part, "\xE2\x96\x81", " ")) {
      Fail(path, ": decoder ", part->dump(), " is not supported");
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> LoadHfJson(const std::string& path) {
  const std::string data = ReadFile(path);
  TokenizerJsonSax sax;
  bool parsed = false;
  try {
    parsed = json::sax_parse(data, &sax);
  } catch (const json::exception& e) {
    Fail(path, ": ", e.what());
  }
  if (!parsed) Fail(path, ": ", sax.error.empty() ? "not valid JSON" : sax.error);
  const json& root = sax.rest;
  if (!root.is_object()) Fail(path, ": not a tokenizer.json object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) Fail(path, ": model is missing");
  const json& model = *model_it;
  const std::string type = StringOr(model, "type", "", "model");
  if (type != "BPE") Fail(path, ": model.type '", type, "' is not supported (expected BPE)");
  if (!sax.saw_vocab) Fail(path, ": model.vocab is missing");
  if (!sax.saw_merges) Fail(path, ": model.merges is missing");
  if (!StringOr(model, "continuing_subword_prefix", "", "model").empty() ||
      !StringOr(model, "end_of_word_suffix", "", "model").empty()) {
    Fail(path, ": model.continuing_subword_prefix / end_of_word_suffix are not supported");
  }
  if (model.contains("dropout") && model["dropout"].is_number() &&
      model["dropout"].get<double>() > 0) {
    Fail(path, ": model.dropout is not supported");
  }
  CheckNormalizer(root, path);
  CheckPreTokenizer(root, path);
  CheckDecoder(root, path);

  // Added tokens: id -> (content, special). Their ids may extend past model.vocab.
  struct Added {
    int64_t id;
    std::string content;
    bool special;
  };
  std::vector<Added> added;
  if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) Fail(path, ": added_tokens is not an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& a = (*it)[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string()) {
        Fail(path, ": ", where, " needs an integer id and a string content");
      }
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        if (BoolOr(a, flag, false, where)) Fail(path, ": ", where, ".", flag, " is not supported");
      }
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id > INT32_MAX) Fail(path, ": ", where, " has the invalid id ", id);
      added.push_back({id, a["content"].get<std::string>(), BoolOr(a, "special", false, where)});
    }
  }

  int64_t n = 0;
  for (const auto& [piece, id] : sax.vocab) n = std::max(n, id + 1);
  for (const Added& a : added) n = std::max(n, a.id + 1);
  // Checked before allocating: a stray huge id must not make us reserve gigabytes.
  if (static_cast<size_t>(n) > sax.vocab.size() + added.size()) {
    Fail(path, ": token ids are not contiguous (the largest is ", n - 1, " but there are only ",
         sax.vocab.size() + added.size(), " entries)");
  }
  auto tok = std::unique_ptr<BpeTokenizer>(new BpeTokenizer());
  tok->flavor_ = BpeTokenizer::Flavor::kHfJson;
  tok->pieces_.resize(n);
  std::vector<bool> have(n, false), in_vocab(n, false), is_added(n, false), special(n, false);
  for (auto& [piece, id] : sax.vocab) {
    if (in_vocab[id]) Fail(path, ": model.vocab gives the id ", id, " to two pieces");
    in_vocab[id] = have[id] = true;
    tok->pieces_[id] = std::move(piece);
  }
  for (const Added& a : added) {
    if (have[a.id] && tok->pieces_[a.id] != a.content) {
      Fail(path, ": added token ", a.id, " '", a.content, "' differs from the vocabulary's '",
           tok->pieces_[a.id], "'");
    }
    have[a.id] = is_added[a.id] = true;
    special[a.id] = a.special;
    tok->pieces_[a.id] = a.content;
  }
  for (int64_t id = 0; id < n; ++id) {
    if (!have[id]) Fail(path, ": no piece has the id ", id, " (ids must be 0..", n - 1, ")");
  }
  tok->kinds_.resize(n);
  for (int64_t id = 0; id < n; ++id) {
    tok->kinds_[id] = Gemma4TokenKind(tok->pieces_[id], is_added[id], special[id], in_vocab[id]);
  }

  const std::string unk = StringOr(model, "unk_token", "", "model");
  tok->byte_fallback_ = BoolOr(model, "byte_fallback", false, "model");
  tok->fuse_unk_ = BoolOr(model, "fuse_unk", false, "model");
  tok->ignore_merges_ = BoolOr(model, "ignore_merges", false, "model");
  tok->clean_spaces_ = true;  // as tokenizers.js decodes (and llama.cpp for Gemma 4)
  tok->add_space_prefix_ = false;

  tok->matcher_ = std::make_unique<TokenMatcher>();
  for (const Added& a : added) {
    // Non-special added tokens that are markers (<|tool_call>, ... where a file flags them so)
    // still never match inside user text.
    const TokenKind kind = tok->kinds_[a.id];
    const bool marker = kind == TokenKind::kControl || kind == TokenKind::kUserDefined;
    tok->matcher_->Add(a.content, static_cast<int32_t>(a.id),
                       a.special ? TokenMatcher::kSpecial : marker ? TokenMatcher::kMarkup : TokenMatcher::kText);
  }
  tok->bos_id_ = tok->eos_id_ = tok->pad_id_ = tok->unk_id_ = -1;
  tok->FinishVocab(path);
  // tokenizer.json does not name bos/eos/pad (tokenizer_config.json does): use Gemma's names.
  tok->bos_id_ = tok->index_->Find("<bos>");
  tok->eos_id_ = tok->index_->Find("<eos>");
  tok->pad_id_ = tok->index_->Find("<pad>");
  if (!unk.empty()) {
    const int32_t id = tok->index_->Find(unk);
    if (id < 0) Fail(path, ": model.unk_token '", unk, "' is not in the vocabulary");
    tok->unk_id_ = id;
  }

  tok->FinishBpe(path, "model.merges", sax.merges, in_vocab);
  return tok;
}

}  // namespace g4::tokenizer_internal
