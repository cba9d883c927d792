// Loads the tokenizer from GGUF metadata (tokenizer.ggml.*), following how llama.cpp reads it.
#include <limits>

#include "base/error.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer_internal.h"

namespace g4::tokenizer_internal {
namespace {

constexpr char kTokens[] = "tokenizer.ggml.tokens";
constexpr char kTypes[] = "tokenizer.ggml.token_type";
constexpr char kScores[] = "tokenizer.ggml.scores";
constexpr char kMerges[] = "tokenizer.ggml.merges";

// The array stored under `key` (elements read in place, not copied), or nullptr if absent.
const GgufValue* FindArray(const GgufFile& gguf, const char* key, bool (*elem_ok)(GgufType),
                           const char* what) {
  const GgufValue* v = gguf.Find(key);
  if (v == nullptr) return nullptr;
  if (!v->is_array() || !elem_ok(v->elem_type)) {
    Fail(gguf.path(), ": metadata key '", key, "' is not ", what);
  }
  return v;
}

bool IsString(GgufType t) { return t == GgufType::kString; }
bool IsIntType(GgufType t) {
  return t == GgufType::kInt32 || t == GgufType::kUint32 || t == GgufType::kInt8 ||
         t == GgufType::kUint8 || t == GgufType::kInt16 || t == GgufType::kUint16 ||
         t == GgufType::kInt64 || t == GgufType::kUint64;
}
bool IsNumeric(GgufType t) {
  return IsIntType(t) || t == GgufType::kFloat32 || t == GgufType::kFloat64;
}

void CheckLength(const GgufFile& gguf, const char* key, const GgufValue& v, size_t n) {
  if (v.array.size() != n) {
    Fail(gguf.path(), ": metadata key '", key, "' has ", v.array.size(), " entries but '", kTokens,
         "' has ", n);
  }
}

int32_t SpecialId(const GgufFile& gguf, const char* key) {
  if (gguf.Find(key) == nullptr) return -1;
  const uint64_t id = gguf.GetUint(key);
  if (id > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    Fail(gguf.path(), ": metadata key '", key, "' = ", id, " is not a token id");
  }
  return static_cast<int32_t>(id);
}

// What both vocabulary types share: pieces, types, special ids, the special-token matcher.
void LoadCommon(const GgufFile& gguf, std::vector<std::string>* pieces,
                std::vector<TokenKind>* kinds, int32_t* ids[4],
                std::unique_ptr<TokenMatcher>* matcher) {
  const GgufValue* tokens = FindArray(gguf, kTokens, IsString, "an array of strings");
  if (tokens == nullptr) Fail(gguf.path(), ": metadata key '", kTokens, "' is missing");
  const size_t n = tokens->array.size();
  if (n == 0) Fail(gguf.path(), ": metadata key '", kTokens, "' is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    Fail(gguf.path(), ": metadata key '", kTokens, "' has too many entries (", n, ")");
  }
  pieces->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*pieces)[i] = tokens->array[i].str;
    // llama.cpp renames empty pieces so that every id keeps a distinct string.
    if ((*pieces)[i].empty()) (*pieces)[i] = "[EMPTY_" + std::to_string(i) + "]";
  }
  kinds->assign(n, TokenKind::kNormal);
  if (const GgufValue* types = FindArray(gguf, kTypes, IsIntType, "an array of integers")) {
    CheckLength(gguf, kTypes, *types, n);
    for (size_t i = 0; i < n; ++i) {
      const auto t = types->array[i].as_int();
      if (!t || *t < 1 || *t > 6) {
        Fail(gguf.path(), ": ", kTypes, "[", i, "] = ", t.value_or(-1),
             " is not a token type (1..6)");
      }
      (*kinds)[i] = static_cast<TokenKind>(*t);
    }
  }
  const char* keys[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                         "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id"};
  for (int k = 0; k < 4; ++k) {
    *ids[k] = SpecialId(gguf, keys[k]);
    if (*ids[k] >= static_cast<int32_t>(n)) {
      Fail(gguf.path(), ": metadata key '", keys[k], "' = ", *ids[k],
           " is outside the vocabulary (", n, " tokens)");
    }
  }
  // llama.cpp matches CONTROL and UNKNOWN tokens only with parse_special, USER_DEFINED always.
  *matcher = std::make_unique<TokenMatcher>();
  for (size_t i = 0; i < n; ++i) {
    const TokenKind k = (*kinds)[i];
    if (k == TokenKind::kControl || k == TokenKind::kUnknown || k == TokenKind::kUserDefined) {
      (*matcher)->Add((*pieces)[i], static_cast<int32_t>(i),
                      k == TokenKind::kUserDefined ? TokenMatcher::kMarkup : TokenMatcher::kSpecial);
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> LoadGgufBpe(const GgufFile& gguf) {
  auto tok = std::unique_ptr<BpeTokenizer>(new BpeTokenizer());
  tok->flavor_ = BpeTokenizer::Flavor::kGgufGemma4;
  int32_t* ids[4] = {&tok->bos_id_, &tok->eos_id_, &tok->pad_id_, &tok->unk_id_};
  LoadCommon(gguf, &tok->pieces_, &tok->kinds_, ids, &tok->matcher_);
  const size_t n = tok->pieces_.size();
  if (const GgufValue* scores = FindArray(gguf, kScores, IsNumeric, "an array of numbers")) {
    CheckLength(gguf, kScores, *scores, n);  // unused by BPE, but a wrong length means a bad file
  }
  // llama.cpp: BPE vocabularies never get a space prefix unless the file asks for one.
  tok->add_space_prefix_ = gguf.GetBoolOr("tokenizer.ggml.add_space_prefix", false);
  tok->clean_spaces_ = true;  // llama.cpp's clean_spaces for the GEMMA4 pre-tokenizer
  tok->byte_fallback_ = true;
  tok->fuse_unk_ = false;
  tok->FinishVocab(gguf.path());

  const GgufValue* merges = FindArray(gguf, kMerges, IsString, "an array of strings");
  if (merges == nullptr) Fail(gguf.path(), ": metadata key '", kMerges, "' is missing");
  MergeList list;
  list.refs.reserve(merges->array.size());
  for (size_t rank = 0; rank < merges->array.size(); ++rank) {
    const std::string& m = merges->array[rank].str;
    // llama.cpp splits at the first space after the first byte, so a piece may start with one.
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (space == std::string::npos) {
      Fail(gguf.path(), ": ", kMerges, "[", rank, "] '", m, "' is not of the form 'left right'");
    }
    list.Add(std::string_view(m).substr(0, space), std::string_view(m).substr(space + 1));
  }
  tok->FinishBpe(gguf.path(), kMerges, list, std::vector<bool>(n, true));
  return tok;
}

std::unique_ptr<Tokenizer> LoadGgufSpm(const GgufFile& gguf) {
  auto tok = std::unique_ptr<SpmTokenizer>(new SpmTokenizer());
  int32_t* ids[4] = {&tok->bos_id_, &tok->eos_id_, &tok->pad_id_, &tok->unk_id_};
  LoadCommon(gguf, &tok->pieces_, &tok->kinds_, ids, &tok->matcher_);
  const size_t n = tok->pieces_.size();
  tok->scores_.assign(n, 0.0f);
  if (const GgufValue* scores = FindArray(gguf, kScores, IsNumeric, "an array of numbers")) {
    CheckLength(gguf, kScores, *scores, n);
    for (size_t i = 0; i < n; ++i)
      tok->scores_[i] = static_cast<float>(*scores->array[i].as_double());
  }
  tok->add_space_prefix_ = gguf.GetBoolOr("tokenizer.ggml.add_space_prefix", true);
  tok->clean_spaces_ = false;  // llama.cpp: no clean-up for SentencePiece vocabularies
  tok->FinishVocab(gguf.path());
  for (int b = 0; b < 256; ++b) {
    static const char kHex[] = "0123456789ABCDEF";
    const char name[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    tok->byte_ids_[b] = tok->index_->Find(std::string_view(name, 6));
  }
  return tok;
}

}  // namespace g4::tokenizer_internal
