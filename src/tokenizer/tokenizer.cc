// What every tokenizer shares: the vocabulary tables, decoding, streaming, and picking a loader.
#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer_internal.h"

namespace g4 {

using tokenizer_internal::AppendSanitizedUtf8;
using tokenizer_internal::EmittableUtf8Prefix;
using tokenizer_internal::ParseByteToken;

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 '▁'

std::string ReplaceSpaceMarks(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t i = 0;
  while (i < piece.size()) {
    if (piece.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
      out.push_back(' ');
      i += kSpaceMark.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

// llama.cpp's clean-up for Gemma 4 (clean_spaces), which tokenizers.js's decode default matches on
// every golden case: " ?" " !" " ." " ," lose the space; " ' " becomes "'"; " 's" " 'm" " 're"
// " 've" lose the space (" 't" " 'd" " 'll" keep it). Three passes, each over the previous one's
// output, and the first character is never removed by looking behind it.
std::string CleanSpaces(const std::string& s) {
  std::string a;
  a.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char x = s[i];
    if (i > 0 && s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a.push_back(x);
  }
  std::string b;
  b.reserve(a.size());
  bool prev_consumed = false;  // a[i - 1] was a space swallowed by " ' "
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && !prev_consumed && a[i - 1] == ' ' &&
        a[i + 1] == ' ') {
      b.pop_back();
      b.push_back(x);
      ++i;  // drop the space after it too
      prev_consumed = true;
      continue;
    }
    prev_consumed = false;
    b.push_back(x);
  }
  std::string c;
  c.reserve(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      if (x1 == 's' || x1 == 'm') {
        c.pop_back();
      } else if (x1 != 't' && x1 != 'd' && i + 2 < b.size()) {
        const char x2 = b[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();
      }
    }
    c.push_back(x);
  }
  return c;
}

bool IsDropped(TokenKind kind, bool keep_special) {
  return !keep_special && (kind == TokenKind::kControl || kind == TokenKind::kUnknown);
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::FinishVocab(const std::string& source) {
  G4_CHECK(kinds_.size() == pieces_.size(), "kinds and pieces differ in length");
  bytes_.resize(pieces_.size());
  for (size_t id = 0; id < pieces_.size(); ++id) {
    const std::string& piece = pieces_[id];
    switch (kinds_[id]) {
      case TokenKind::kByte: {
        const int byte = ParseByteToken(piece);
        if (byte < 0) {
          Fail(source, ": token ", id, " is typed BYTE but its piece '", piece,
               "' is not of the form <0xNN>");
        }
        bytes_[id] = std::string(1, static_cast<char>(byte));
        break;
      }
      case TokenKind::kNormal:
        bytes_[id] = ReplaceSpaceMarks(piece);
        break;
      case TokenKind::kUnused:
        break;  // llama.cpp renders unused tokens as nothing
      default:
        bytes_[id] = piece;  // control, unknown, user-defined: their literal text
        break;
    }
  }
  index_ = std::make_unique<tokenizer_internal::PieceIndex>(pieces_);
  if (!index_->duplicates().empty()) {
    const auto [first, later] = index_->duplicates().front();
    Fail(source, ": the piece '", pieces_[later], "' appears twice in the vocabulary (ids ", first,
         " and ", later, ")");
  }
  const int32_t n = vocab_size();
  for (int32_t* id : {&bos_id_, &eos_id_, &pad_id_, &unk_id_}) {
    if (*id >= n) Fail(source, ": special token id ", *id, " is outside the vocabulary (", n, ")");
  }
  if (!matcher_) matcher_ = std::make_unique<tokenizer_internal::TokenMatcher>();
}

std::optional<int32_t> Tokenizer::Find(std::string_view piece) const {
  const int32_t id = index_->Find(piece);
  if (id < 0) return std::nullopt;
  return id;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool keep_special,
                              bool clean_spaces) const {
  std::string raw;
  const int32_t n = vocab_size();
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= n) {
      Fail("detokenize: token id ", id, " at position ", i, " is outside the vocabulary (", n,
           " tokens)");
    }
    if (IsDropped(kinds_[id], keep_special)) continue;
    std::string_view bytes = bytes_[id];
    // A SentencePiece-style '▁' prefix added while encoding is not part of the text.
    if (i == 0 && add_space_prefix_ && !bytes.empty() && bytes[0] == ' ') bytes.remove_prefix(1);
    raw.append(bytes);
  }
  std::string text;
  text.reserve(raw.size());
  AppendSanitizedUtf8(raw, &text);
  if (clean_spaces && clean_spaces_) return CleanSpaces(text);
  return text;
}

std::unique_ptr<Tokenizer> Tokenizer::FromGguf(const GgufFile& gguf) {
  const std::string& model = gguf.GetString("tokenizer.ggml.model");
  if (model == "gemma4") return tokenizer_internal::LoadGgufBpe(gguf);
  if (model == "llama") return tokenizer_internal::LoadGgufSpm(gguf);
  Fail(gguf.path(), ": tokenizer.ggml.model '", model,
       "' is not supported (g4 reads \"gemma4\" and \"llama\" vocabularies)");
}

std::unique_ptr<Tokenizer> Tokenizer::FromHfJson(const std::string& tokenizer_json_path) {
  return tokenizer_internal::LoadHfJson(tokenizer_json_path);
}

std::unique_ptr<Tokenizer> Tokenizer::Load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path json = fs::path(path) / "tokenizer.json";
    if (!fs::is_regular_file(json, ec)) {
      Fail(path, ": folder has no tokenizer.json (give a .gguf or a tokenizer.json instead)");
    }
    return FromHfJson(json.string());
  }
  // A checkpoint's config.json stands for its folder, as it does for model loading.
  if (fs::path(path).filename() == "config.json") {
    const fs::path json = fs::path(path).parent_path() / "tokenizer.json";
    if (fs::is_regular_file(json, ec)) return FromHfJson(json.string());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, ": cannot open");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string_view(magic, 4) == "GGUF") {
    in.close();
    const std::unique_ptr<GgufFile> gguf = GgufFile::Open(path);
    return FromGguf(*gguf);
  }
  return FromHfJson(path);
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool keep_special)
    : tokenizer_(tokenizer), keep_special_(keep_special) {}

std::string StreamDecoder::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) {
    Fail("detokenize: token id ", id, " is outside the vocabulary (", tokenizer_.vocab_size(),
         " tokens)");
  }
  if (IsDropped(tokenizer_.kind(id), keep_special_)) return {};
  pending_ += tokenizer_.TokenBytes(id);
  const size_t n = EmittableUtf8Prefix(pending_);
  std::string out;
  AppendSanitizedUtf8(std::string_view(pending_).substr(0, n), &out);
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  AppendSanitizedUtf8(pending_, &out);
  pending_.clear();
  return out;
}

}  // namespace g4
