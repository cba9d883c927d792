// A read-only memory map of a whole file. Weights are used in place from the map, so a model
// costs no more resident memory than the pages actually touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace g4 {

class MappedFile {
 public:
  // Maps `path` read-only; throws g4::Error naming the path on failure.
  static std::shared_ptr<MappedFile> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace g4
