#include "hub/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <vector>

#include "base/error.h"

namespace g4::hub {

struct Digest::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Digest::Digest(Kind kind, uint64_t size) : ctx_(new Ctx) {
  ctx_->md = EVP_MD_CTX_new();
  G4_CHECK(ctx_->md != nullptr, "EVP_MD_CTX_new failed");
  const EVP_MD* type = kind == Kind::kSha256 ? EVP_sha256() : EVP_sha1();
  G4_CHECK(EVP_DigestInit_ex(ctx_->md, type, nullptr) == 1, "EVP_DigestInit_ex failed");
  if (kind == Kind::kGitBlobSha1) {
    const std::string header = "blob " + std::to_string(size);
    Update(header.data(), header.size() + 1);  // with the terminating NUL
  }
}

Digest::~Digest() { EVP_MD_CTX_free(ctx_->md); }

void Digest::Update(const void* data, size_t n) {
  G4_CHECK(EVP_DigestUpdate(ctx_->md, data, n) == 1, "EVP_DigestUpdate failed");
}

std::string Digest::HexFinal() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  G4_CHECK(EVP_DigestFinal_ex(ctx_->md, out, &len) == 1, "EVP_DigestFinal_ex failed");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 15];
  }
  return hex;
}

bool HashFilePrefix(const std::string& path, uint64_t bytes, Digest* digest) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::vector<char> buf(1 << 20);
  uint64_t left = bytes;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    const size_t got = std::fread(buf.data(), 1, want, f);
    if (got == 0) break;
    digest->Update(buf.data(), got);
    left -= got;
  }
  std::fclose(f);
  return left == 0;
}

}  // namespace g4::hub
