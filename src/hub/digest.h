// Streaming digests for download checks (OpenSSL EVP): SHA-256 of LFS files, whose object id
// the hub publishes, and the git blob SHA-1 of small files kept in git itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace g4::hub {

class Digest {
 public:
  enum class Kind { kSha256, kGitBlobSha1 };
  // kGitBlobSha1 hashes "blob <size>\0" + content, as git names a blob; `size` is the content size.
  Digest(Kind kind, uint64_t size);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void Update(const void* data, size_t n);
  std::string HexFinal();  // lower-case hex; call once

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Hashes `bytes` bytes of the file from its start into `digest`; false if it cannot be read.
bool HashFilePrefix(const std::string& path, uint64_t bytes, Digest* digest);

}  // namespace g4::hub
