#include "io/gme.h"

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"
#include "io/atomic_write.h"

namespace g4 {

namespace {
constexpr size_t kHeaderBytes = 32;
}  // namespace

EmbeddingsFile ReadGme(const std::string& path) {
  std::shared_ptr<MappedFile> f = MappedFile::Open(path);
  const uint8_t* p = f->data();
  const size_t size = f->size();
  if (size < kHeaderBytes || std::memcmp(p, "GME1", 4) != 0) Fail(path, ": not a GME1 file (bad magic at byte 0)");
  int32_t header[7];
  std::memcpy(header, p + 4, sizeof header);
  EmbeddingsFile out;
  out.n_tokens = header[0];
  out.n_embd = header[1];
  if (header[2] != 0 && header[2] != 1) Fail(path, ": unknown modality ", header[2], " at byte 12");
  out.modality = static_cast<GmeModality>(header[2]);
  out.in_nx = header[3];
  out.in_ny = header[4];
  out.src_a = header[5];
  out.src_b = header[6];
  if (out.n_tokens < 0 || out.n_embd <= 0) {
    Fail(path, ": bad sizes n_tokens=", out.n_tokens, " n_embd=", out.n_embd, " at byte 4");
  }
  const uint64_t need = kHeaderBytes + 4ull * out.n_tokens * static_cast<uint64_t>(out.n_embd);
  if (size != need) Fail(path, ": file has ", size, " bytes, expected ", need, " for ", out.n_tokens, "x", out.n_embd);
  out.embd.resize(static_cast<size_t>(out.n_tokens) * out.n_embd);
  std::memcpy(out.embd.data(), p + kHeaderBytes, out.embd.size() * 4);
  return out;
}

void WriteGme(const std::string& path, const EmbeddingsFile& file) {
  G4_CHECK(file.embd.size() == static_cast<size_t>(file.n_tokens) * file.n_embd, "embeddings size");
  const int32_t header[7] = {file.n_tokens, file.n_embd, static_cast<int32_t>(file.modality), file.in_nx,
                             file.in_ny,    file.src_a,  file.src_b};
  WriteFileAtomically(path, [&](std::FILE* out) {
    return std::fwrite("GME1", 1, 4, out) == 4 && std::fwrite(header, 4, 7, out) == 7 &&
           std::fwrite(file.embd.data(), 4, file.embd.size(), out) == file.embd.size();
  });
}

}  // namespace g4
