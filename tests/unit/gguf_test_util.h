// Helpers shared by the GGUF reader tests: temp files, byte pokes, a GGUF layout walker written
// independently of the reader under test, and error-message checks.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/gguf.h"

namespace g4::gguf_test {

namespace fs = std::filesystem;

inline const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models";
inline const std::string kTinyQ4 = kModels + "/tiny-all.q4_0.gguf";

inline std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A file under the test temp dir, removed when the object goes away.
class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    static std::atomic<int> counter{0};
    path_ = (fs::path(testing::TempDir()) /
             ("g4_gguf_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) +
              ".gguf"))
                .string();
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

template <typename T>
inline void Poke(std::vector<uint8_t>& bytes, uint64_t at, T value) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

template <typename T>
inline T Peek(const std::vector<uint8_t>& bytes, uint64_t at) {
  T value{};
  if (at + sizeof(T) <= bytes.size()) std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

// Where things are in a GGUF file, found by a walker written for the tests (independent of
// the reader under test), so corruptions can be aimed at exact fields.
struct KvLayout {
  std::string key;
  uint64_t at, type_at, value_at;
  uint32_t type;
};
struct TensorLayout {
  std::string name;
  uint64_t at, n_dims_at, ne_at, type_at, offset_at;
  uint32_t type;
  uint64_t offset;
};
struct Layout {
  std::vector<KvLayout> kvs;
  std::vector<TensorLayout> tensors;
  uint64_t header_end = 0;
  uint64_t data_start = 0;

  const KvLayout& kv(const std::string& key) const {
    for (const KvLayout& k : kvs) {
      if (k.key == key) return k;
    }
    throw std::runtime_error("no key " + key);
  }
  const TensorLayout& tensor(const std::string& name) const {
    for (const TensorLayout& t : tensors) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no tensor " + name);
  }
};

class Walker {
 public:
  explicit Walker(const std::vector<uint8_t>& b) : b_(b) {}

  Layout Walk() {
    Layout layout;
    pos_ = 8;
    const uint64_t n_tensors = U64();
    const uint64_t n_kv = U64();
    for (uint64_t i = 0; i < n_kv; ++i) {
      KvLayout kv;
      kv.at = pos_;
      kv.key = Str();
      kv.type_at = pos_;
      kv.type = U32();
      kv.value_at = pos_;
      SkipValue(kv.type);
      layout.kvs.push_back(kv);
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
      TensorLayout t;
      t.at = pos_;
      t.name = Str();
      t.n_dims_at = pos_;
      const uint32_t n_dims = U32();
      t.ne_at = pos_;
      pos_ += 8 * n_dims;
      t.type_at = pos_;
      t.type = U32();
      t.offset_at = pos_;
      t.offset = U64();
      layout.tensors.push_back(t);
    }
    layout.header_end = pos_;
    layout.data_start = (pos_ + 31) / 32 * 32;  // the tiny models use the default alignment
    return layout;
  }

 private:
  uint32_t U32() {
    const uint32_t v = Peek<uint32_t>(b_, pos_);
    pos_ += 4;
    return v;
  }
  uint64_t U64() {
    const uint64_t v = Peek<uint64_t>(b_, pos_);
    pos_ += 8;
    return v;
  }
  std::string Str() {
    const uint64_t n = U64();
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  void SkipValue(uint32_t type) {
    static const int kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      Str();
    } else if (type == 9) {
      const uint32_t elem = U32();
      const uint64_t n = U64();
      for (uint64_t i = 0; i < n; ++i) SkipValue(elem);
    } else {
      pos_ += kSizes[type];
    }
  }

  const std::vector<uint8_t>& b_;
  uint64_t pos_ = 0;
};

// Opens `bytes` as a file and expects g4::Error mentioning the file and every fragment.
inline void ExpectRejected(const std::vector<uint8_t>& bytes, std::initializer_list<std::string> fragments) {
  TempFile file(bytes);
  try {
    GgufFile::Open(file.path());
    ADD_FAILURE() << "Open accepted the corrupted file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.path()), std::string::npos) << message;
    for (const std::string& f : fragments) {
      EXPECT_NE(message.find(f), std::string::npos) << "'" << f << "' not in: " << message;
    }
  }
}

inline std::string At(uint64_t offset) { return "at byte " + std::to_string(offset); }

inline std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace g4::gguf_test
