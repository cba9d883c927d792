#include "io/glg.h"

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"
#include "io/atomic_write.h"

namespace g4 {

LogitsFile ReadGlg(const std::string& path) {
  std::shared_ptr<MappedFile> f = MappedFile::Open(path);
  const uint8_t* p = f->data();
  const size_t size = f->size();
  if (size < 12 || std::memcmp(p, "GLG1", 4) != 0) Fail(path, ": not a GLG1 file (bad magic at byte 0)");
  int32_t n_tokens, n_vocab;
  std::memcpy(&n_tokens, p + 4, 4);
  std::memcpy(&n_vocab, p + 8, 4);
  if (n_tokens < 0 || n_vocab <= 0) Fail(path, ": bad sizes n_tokens=", n_tokens, " n_vocab=", n_vocab, " at byte 4");
  const uint64_t need = 12 + 4ull * n_tokens + 4ull * n_tokens * static_cast<uint64_t>(n_vocab);
  if (size != need) Fail(path, ": file has ", size, " bytes, expected ", need, " for ", n_tokens, "x", n_vocab);
  LogitsFile out;
  out.n_vocab = n_vocab;
  out.tokens.resize(n_tokens);
  std::memcpy(out.tokens.data(), p + 12, 4ull * n_tokens);
  out.logits.resize(static_cast<size_t>(n_tokens) * n_vocab);
  std::memcpy(out.logits.data(), p + 12 + 4ull * n_tokens, out.logits.size() * 4);
  return out;
}

void WriteGlg(const std::string& path, const LogitsFile& file) {
  G4_CHECK(file.logits.size() == file.tokens.size() * static_cast<size_t>(file.n_vocab), "logits size");
  const int32_t n_tokens = static_cast<int32_t>(file.tokens.size());
  WriteFileAtomically(path, [&](std::FILE* out) {
    return std::fwrite("GLG1", 1, 4, out) == 4 && std::fwrite(&n_tokens, 4, 1, out) == 1 &&
           std::fwrite(&file.n_vocab, 4, 1, out) == 1 &&
           std::fwrite(file.tokens.data(), 4, file.tokens.size(), out) == file.tokens.size() &&
           std::fwrite(file.logits.data(), 4, file.logits.size(), out) == file.logits.size();
  });
}

}  // namespace g4
