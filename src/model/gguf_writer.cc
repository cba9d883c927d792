#include "model/gguf_writer.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/error.h"

namespace g4 {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kGgufVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxDims = 4;  // GGML_MAX_DIMS: llama.cpp rejects more

// GGUF is little-endian and so are all targets g4 builds for; values are appended as bytes.
template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void PutString(std::vector<uint8_t>& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void PutType(std::vector<uint8_t>& out, GgufType t) {
  Put<uint32_t>(out, static_cast<uint32_t>(t));
}

uint64_t AlignUp(uint64_t v, uint64_t alignment) {
  return (v + alignment - 1) / alignment * alignment;
}

}  // namespace

GgufWriter::GgufWriter(std::string path, uint64_t alignment)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), alignment_(alignment) {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
    Fail(path_, ": GGUF alignment must be a power of two, got ", alignment_);
  }
}

GgufWriter::~GgufWriter() {
  if (out_ != nullptr) std::fclose(out_);
  if (!finished_ && header_written_) std::remove(tmp_path_.c_str());
}

void GgufWriter::AddKey(const std::string& key) {
  if (header_written_) Fail(path_, ": metadata key '", key, "' added after the header was written");
  for (const std::string& k : keys_) {
    if (k == key) Fail(path_, ": metadata key '", key, "' added twice");
  }
  keys_.push_back(key);
  ++kv_count_;
  PutString(kv_bytes_, key);
}

void GgufWriter::SetUint32(const std::string& key, uint32_t v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kUint32);
  Put(kv_bytes_, v);
}

void GgufWriter::SetInt32(const std::string& key, int32_t v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kInt32);
  Put(kv_bytes_, v);
}

void GgufWriter::SetUint64(const std::string& key, uint64_t v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kUint64);
  Put(kv_bytes_, v);
}

void GgufWriter::SetFloat32(const std::string& key, float v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kFloat32);
  Put(kv_bytes_, v);
}

void GgufWriter::SetBool(const std::string& key, bool v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kBool);
  Put<uint8_t>(kv_bytes_, v ? 1 : 0);
}

void GgufWriter::SetString(const std::string& key, const std::string& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kString);
  PutString(kv_bytes_, v);
}

void GgufWriter::SetInt32Array(const std::string& key, const std::vector<int32_t>& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kArray);
  PutType(kv_bytes_, GgufType::kInt32);
  Put<uint64_t>(kv_bytes_, v.size());
  for (int32_t x : v) Put(kv_bytes_, x);
}

void GgufWriter::SetUint32Array(const std::string& key, const std::vector<uint32_t>& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kArray);
  PutType(kv_bytes_, GgufType::kUint32);
  Put<uint64_t>(kv_bytes_, v.size());
  for (uint32_t x : v) Put(kv_bytes_, x);
}

void GgufWriter::SetFloat32Array(const std::string& key, const std::vector<float>& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kArray);
  PutType(kv_bytes_, GgufType::kFloat32);
  Put<uint64_t>(kv_bytes_, v.size());
  for (float x : v) Put(kv_bytes_, x);
}

void GgufWriter::SetBoolArray(const std::string& key, const std::vector<bool>& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kArray);
  PutType(kv_bytes_, GgufType::kBool);
  Put<uint64_t>(kv_bytes_, v.size());
  for (bool x : v) Put<uint8_t>(kv_bytes_, x ? 1 : 0);
}

void GgufWriter::SetStringArray(const std::string& key, const std::vector<std::string>& v) {
  AddKey(key);
  PutType(kv_bytes_, GgufType::kArray);
  PutType(kv_bytes_, GgufType::kString);
  Put<uint64_t>(kv_bytes_, v.size());
  size_t total = 0;
  for (const std::string& s : v) total += 8 + s.size();
  kv_bytes_.reserve(kv_bytes_.size() + total);
  for (const std::string& s : v) PutString(kv_bytes_, s);
}

void GgufWriter::DeclareTensor(const std::string& name, DType type,
                               const std::vector<int64_t>& shape) {
  if (header_written_) Fail(path_, ": tensor '", name, "' declared after the header was written");
  if (shape.empty() || shape.size() > kMaxDims) {
    Fail(path_, ": tensor '", name, "' has ", shape.size(), " dimensions (GGUF allows 1 to ",
         kMaxDims, ")");
  }
  for (int64_t d : shape) {
    if (d < 0) Fail(path_, ": tensor '", name, "' has a negative dimension ", d);
  }
  const DTypeInfo& info = Info(type);
  if (shape[0] % info.block_elems != 0) {
    Fail(path_, ": tensor '", name, "': row length ", shape[0], " is not a multiple of the ",
         info.block_elems, "-value block of ", info.name);
  }
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) Fail(path_, ": tensor '", name, "' declared twice");
  }
  uint64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= static_cast<uint64_t>(shape[i]);
  const size_t nbytes = RowBytes(type, shape[0]) * rows;
  uint64_t offset = 0;
  if (!tensors_.empty()) {
    offset = AlignUp(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  }
  tensors_.push_back({name, type, shape, nbytes, offset});
}

void GgufWriter::WriteRaw(const void* p, size_t n) {
  if (n == 0) return;
  if (std::fwrite(p, 1, n, out_) != n) {
    Fail(tmp_path_, ": write failed: ", std::strerror(errno));
  }
}

void GgufWriter::WriteHeader() {
  if (header_written_) Fail(path_, ": WriteHeader called twice");
  // Readers assume 32 when the key is absent, so it is only needed for other alignments.
  bool has_alignment_key = false;
  for (const std::string& k : keys_) has_alignment_key |= k == "general.alignment";
  if (has_alignment_key) {
    Fail(path_, ": set the alignment through the GgufWriter constructor, not as metadata");
  }
  if (alignment_ != kDefaultAlignment)
    SetUint32("general.alignment", static_cast<uint32_t>(alignment_));

  std::vector<uint8_t> head;
  size_t dir_bytes = 0;
  for (const PendingTensor& t : tensors_)
    dir_bytes += 8 + t.name.size() + 4 + 8 * t.shape.size() + 12;
  head.reserve(24 + kv_bytes_.size() + dir_bytes + alignment_);
  Put(head, kGgufMagic);
  Put(head, kGgufVersion);
  Put<uint64_t>(head, tensors_.size());
  Put<uint64_t>(head, kv_count_);
  head.insert(head.end(), kv_bytes_.begin(), kv_bytes_.end());
  for (const PendingTensor& t : tensors_) {
    PutString(head, t.name);
    Put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) Put<uint64_t>(head, static_cast<uint64_t>(d));
    Put<uint32_t>(head, static_cast<uint32_t>(t.type));
    Put<uint64_t>(head, t.offset);
  }
  head.resize(AlignUp(head.size(), alignment_), 0);

  out_ = std::fopen(tmp_path_.c_str(), "wb");
  if (out_ == nullptr) Fail(tmp_path_, ": cannot create: ", std::strerror(errno));
  header_written_ = true;
  // The header can be large (a 262144-token vocabulary is several MB), so one write.
  WriteRaw(head.data(), head.size());
  kv_bytes_.clear();
  kv_bytes_.shrink_to_fit();
  current_tensor_ = 0;
  current_written_ = 0;
  WriteTensorData(nullptr, 0);  // skips leading zero-sized tensors
}

void GgufWriter::WriteTensorData(const void* data, size_t nbytes) {
  if (!header_written_) Fail(path_, ": tensor data written before the header");
  if (finished_) Fail(path_, ": tensor data written after Finish()");
  // Moves past tensors whose bytes are all written (zero-sized ones included), writing the zero
  // padding that aligns the next tensor and, as ggml's own writer does, the end of the file.
  auto skip_finished = [this] {
    static const uint8_t kZeros[256] = {};
    while (current_tensor_ < tensors_.size() &&
           current_written_ == tensors_[current_tensor_].nbytes) {
      const PendingTensor& t = tensors_[current_tensor_];
      const uint64_t end = t.offset + t.nbytes;
      uint64_t pad = AlignUp(end, alignment_) - end;
      while (pad > 0) {
        const size_t n = pad < sizeof(kZeros) ? static_cast<size_t>(pad) : sizeof(kZeros);
        WriteRaw(kZeros, n);
        pad -= n;
      }
      ++current_tensor_;
      current_written_ = 0;
    }
  };
  skip_finished();
  if (nbytes == 0) return;
  if (current_tensor_ >= tensors_.size()) {
    Fail(path_, ": ", nbytes, " bytes of tensor data written after the last declared tensor");
  }
  const PendingTensor& t = tensors_[current_tensor_];
  if (nbytes > t.nbytes - current_written_) {
    Fail(path_, ": tensor '", t.name, "' holds ", t.nbytes, " bytes but ",
         current_written_ + nbytes, " were written");
  }
  WriteRaw(data, nbytes);
  current_written_ += nbytes;
  skip_finished();
}

void GgufWriter::Finish() {
  if (finished_) Fail(path_, ": Finish() called twice");
  if (!header_written_) WriteHeader();
  if (current_tensor_ < tensors_.size()) {
    const PendingTensor& t = tensors_[current_tensor_];
    Fail(path_, ": tensor '", t.name, "' got ", current_written_, " of its ", t.nbytes, " bytes (",
         tensors_.size() - current_tensor_, " tensors incomplete)");
  }
  std::FILE* f = out_;
  out_ = nullptr;
  const bool flushed = std::fflush(f) == 0;
  const int flush_errno = errno;
  if (std::fclose(f) != 0 || !flushed) {
    Fail(tmp_path_, ": write failed: ", std::strerror(flushed ? errno : flush_errno));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    Fail(tmp_path_, ": cannot rename to ", path_, ": ", std::strerror(errno));
  }
  finished_ = true;
}

}  // namespace g4
