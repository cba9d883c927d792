#include "model/gguf.h"

#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "base/error.h"

namespace g4 {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader loads little-endian fields with memcpy");

namespace {

constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 16;
// A GgufValue costs ~100 bytes of memory however small its encoding, so a file full of tiny
// array elements could make metadata balloon; real vocabularies need a few million at most.
constexpr uint64_t kMaxMetadataElements = uint64_t{1} << 23;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
constexpr uint64_t kDefaultAlignment = 32;
// Far above any real model (hundreds of keys, tens of thousands of tensors).
constexpr uint64_t kMaxKvPairs = uint64_t{1} << 20;
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;

// Smallest encodings: a count of items needing more bytes than the file has left is corrupt
// (checked before anything is allocated for the items) or truncated.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims = 0, type, offset

bool KnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

bool IsIntegerType(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}
bool IsUnsigned(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 ||
         t == GgufType::kUint64;
}
bool IsIntOrBoolType(GgufType t) { return t == GgufType::kBool || IsIntegerType(t); }
bool IsNumberType(GgufType t) {
  return IsIntegerType(t) || t == GgufType::kFloat32 || t == GgufType::kFloat64;
}
bool IsStringType(GgufType t) { return t == GgufType::kString; }

// Bytes of one encoded element of type `t`, or the minimum for variable-size types.
uint64_t MinEncodedBytes(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
    case GgufType::kString:  // the length alone
      return 8;
    case GgufType::kArray:  // element type and count
      return 12;
  }
  return 1;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// Sequential little-endian reader over the mapped file. Every failure names the file, what
// was being read (`context_`) and the byte offset.
class Reader {
 public:
  Reader(const std::string& path, const uint8_t* data, size_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  void set_context(std::string context) { context_ = std::move(context); }

  template <typename... Parts>
  [[noreturn]] void Error(const Parts&... parts) const {
    Fail(path_, ": ", context_, ": ", parts...);
  }

  template <typename T>
  T Read(const char* what) {
    Need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string ReadString(const char* what) {
    const uint64_t at = pos_;
    const uint64_t len = Read<uint64_t>(what);
    if (len > remaining()) {
      Error(what, " length ", len, " (at byte ", at, ") exceeds the ", remaining(),
            " bytes left in the file (corrupt or truncated)");
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  void Need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      Error("file truncated: ", what, " needs ", n, " bytes at byte ", pos_,
            " but the file ends at byte ", size_);
    }
  }

  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string context_ = "header";
};

class MetadataParser {
 public:
  explicit MetadataParser(Reader& reader) : r_(reader) {}

  GgufValue ReadValue(uint32_t raw_type, int depth) {
    G4_CHECK(KnownType(raw_type), "callers validate the type first");
    GgufValue v;
    v.type = static_cast<GgufType>(raw_type);
    switch (v.type) {
      case GgufType::kUint8: v.u64 = r_.Read<uint8_t>("uint8 value"); break;
      case GgufType::kInt8: v.i64 = r_.Read<int8_t>("int8 value"); break;
      case GgufType::kUint16: v.u64 = r_.Read<uint16_t>("uint16 value"); break;
      case GgufType::kInt16: v.i64 = r_.Read<int16_t>("int16 value"); break;
      case GgufType::kUint32: v.u64 = r_.Read<uint32_t>("uint32 value"); break;
      case GgufType::kInt32: v.i64 = r_.Read<int32_t>("int32 value"); break;
      case GgufType::kUint64: v.u64 = r_.Read<uint64_t>("uint64 value"); break;
      case GgufType::kInt64: v.i64 = r_.Read<int64_t>("int64 value"); break;
      case GgufType::kFloat32: v.f64 = r_.Read<float>("float32 value"); break;
      case GgufType::kFloat64: v.f64 = r_.Read<double>("float64 value"); break;
      case GgufType::kBool: v.boolean = r_.Read<uint8_t>("bool value") != 0; break;
      case GgufType::kString: v.str = r_.ReadString("string"); break;
      case GgufType::kArray: ReadArray(v, depth); break;
    }
    return v;
  }

 private:
  void ReadArray(GgufValue& v, int depth) {
    if (depth >= kMaxArrayDepth) r_.Error("arrays nested more than ", kMaxArrayDepth, " deep");
    const uint64_t type_at = r_.pos();
    const uint32_t elem_type = r_.Read<uint32_t>("array element type");
    if (!KnownType(elem_type)) {
      r_.Error("unknown array element type ", elem_type, " (at byte ", type_at, ")");
    }
    v.elem_type = static_cast<GgufType>(elem_type);
    const uint64_t count_at = r_.pos();
    const uint64_t count = r_.Read<uint64_t>("array length");
    if (count > r_.remaining() / MinEncodedBytes(v.elem_type)) {
      r_.Error("array length ", count, " (at byte ", count_at, ") cannot fit in the ",
               r_.remaining(), " bytes left in the file (corrupt or truncated)");
    }
    if (count > kMaxMetadataElements - total_elements_) {
      r_.Error("array length ", count, " (at byte ", count_at,
               ") brings the metadata past the limit of ", kMaxMetadataElements, " elements");
    }
    total_elements_ += count;
    v.array.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) v.array.push_back(ReadValue(elem_type, depth + 1));
  }

  Reader& r_;
  uint64_t total_elements_ = 0;
};

// a * b, or false on overflow of uint64.
bool MulOk(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool AddOk(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

std::string DescribeType(const GgufValue& v) {
  if (!v.is_array()) return GgufTypeName(v.type);
  return std::string("array of ") + GgufTypeName(v.elem_type);
}

}  // namespace

const char* GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const { return IsIntegerType(type); }

bool GgufValue::is_number() const { return IsNumberType(type); }

std::optional<double> GgufValue::as_double() const {
  if (type == GgufType::kBool) return boolean ? 1.0 : 0.0;
  if (type == GgufType::kFloat32 || type == GgufType::kFloat64) return f64;
  if (!is_integer()) return std::nullopt;
  return IsUnsigned(type) ? static_cast<double>(u64) : static_cast<double>(i64);
}

std::optional<int64_t> GgufValue::as_int() const {
  if (type == GgufType::kBool) return boolean ? 1 : 0;
  if (!is_integer()) return std::nullopt;
  if (!IsUnsigned(type)) return i64;
  if (u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(u64);
}

namespace {

// Reads magic and version; returns the version.
uint32_t ReadPreamble(Reader& r) {
  const uint32_t magic = r.Read<uint32_t>("magic");
  if (std::memcmp(&magic, "GGUF", 4) != 0) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      const unsigned char c = reinterpret_cast<const unsigned char*>(&magic)[i];
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        shown += static_cast<char>(c);
      } else {
        shown += "\\x";
        shown += "0123456789abcdef"[c >> 4];
        shown += "0123456789abcdef"[c & 15];
      }
    }
    r.Error("not a GGUF file: bad magic '", shown, "' at byte 0 (expected 'GGUF')");
  }
  const uint32_t version = r.Read<uint32_t>("version");
  if (version == 2 || version == 3) return version;
  if (version == 1) {
    r.Error("GGUF version 1 (at byte 4) is not supported, only versions 2 and 3 "
            "(re-convert the model with a current llama.cpp)");
  }
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped == 2 || swapped == 3) {
    r.Error("big-endian GGUF (version ", swapped, " byte-swapped at byte 4) is not supported");
  }
  r.Error("unsupported GGUF version ", version, " (at byte 4); only versions 2 and 3 are");
}

// Reads a count from the header. Counts past `limit` are rejected at once. A count the rest
// of the file cannot hold is usually a truncated file, and the item where the bytes run out
// says most about that, so it only yields a note for the error that parsing will then hit.
uint64_t ReadCount(Reader& r, const char* name, uint64_t limit, uint64_t min_item_bytes,
                   uint64_t available, std::string* note) {
  const uint64_t at = r.pos();
  const uint64_t count = r.Read<uint64_t>(name);
  if (count > limit) {
    r.Error(name, " = ", count, " (at byte ", at, ") exceeds the limit of ", limit);
  }
  if (count > available / min_item_bytes) {
    *note += Concat(" (the header's ", name, " = ", count, " at byte ", at,
                   " is more than the ", available, " bytes after the header can hold)");
  }
  return count;
}

// Runs `parse`, appending `note` (if any) to the message of an error it throws.
template <typename F>
void WithNote(const std::string& note, F&& parse) {
  if (note.empty()) return parse();
  try {
    parse();
  } catch (const Error& e) {
    throw Error(e.what() + note);
  }
}

uint64_t ReadAlignment(Reader& r, const GgufValue* a) {
  if (a == nullptr) return kDefaultAlignment;
  r.set_context("metadata key 'general.alignment'");
  if (!a->is_integer()) r.Error("has type ", DescribeType(*a), ", expected an integer");
  const std::optional<int64_t> v = a->as_int();
  if (!v || *v <= 0 || static_cast<uint64_t>(*v) > kMaxAlignment ||
      !std::has_single_bit(static_cast<uint64_t>(*v))) {
    r.Error("alignment ", v ? Concat(*v) : Concat(a->u64), " is not a power of two between 1 and ",
            kMaxAlignment);
  }
  return static_cast<uint64_t>(*v);
}

// One tensor directory entry; checks everything that does not depend on where the data
// section starts. Returns the offset relative to the data section.
uint64_t ReadTensorInfo(Reader& r, uint64_t alignment, TensorView& t) {
  const uint32_t n_dims = r.Read<uint32_t>("n_dims");
  if (n_dims > kMaxDims) r.Error("n_dims = ", n_dims, " exceeds the maximum of ", kMaxDims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne_at = r.pos();
    const uint64_t ne = r.Read<uint64_t>("dimension");
    if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      r.Error("dimension ", d, " (at byte ", ne_at, ") is ", static_cast<int64_t>(ne),
              "; every dimension must be positive");
    }
    t.shape.push_back(static_cast<int64_t>(ne));
  }
  // ggml treats a 0-dimensional tensor as a single value.
  if (t.shape.empty()) t.shape.push_back(1);
  const uint64_t type_at = r.pos();
  const uint32_t type_id = r.Read<uint32_t>("type id");
  const std::optional<DTypeInfo> info = LookupDType(type_id);
  if (!info) r.Error("unknown type id ", type_id, " (at byte ", type_at, ")");
  t.type = info->type;
  const uint64_t offset_at = r.pos();
  const uint64_t offset = r.Read<uint64_t>("data offset");

  if (t.shape[0] % info->block_elems != 0) {
    r.Error("ne[0] = ", t.shape[0], " is not a multiple of the ", info->name, " block size ",
            info->block_elems);
  }
  if (offset % alignment != 0) {
    r.Error("data offset ", offset, " (at byte ", offset_at,
            ") is not a multiple of the alignment ", alignment);
  }
  // Size in blocks: (ne0 / block) * ne1 * ne2 * ne3, then bytes, all overflow-checked.
  uint64_t n_elems = 1;
  uint64_t n_blocks = static_cast<uint64_t>(t.shape[0] / info->block_elems);
  for (size_t d = 0; d < t.shape.size(); ++d) {
    const uint64_t ne = static_cast<uint64_t>(t.shape[d]);
    if (!MulOk(n_elems, ne, &n_elems) || (d > 0 && !MulOk(n_blocks, ne, &n_blocks))) {
      r.Error("shape ", t.shape_string(), " has too many elements");
    }
  }
  uint64_t nbytes = 0;
  if (n_elems > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      !MulOk(n_blocks, info->block_bytes, &nbytes) ||
      nbytes > std::numeric_limits<size_t>::max()) {
    r.Error("shape ", t.shape_string(), " has too many elements");
  }
  t.nbytes = static_cast<size_t>(nbytes);
  return offset;
}

}  // namespace

std::unique_ptr<GgufFile> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->path_ = path;
  g->file_ = MappedFile::Open(path);
  const uint8_t* base = g->file_->data();
  const uint64_t file_size = g->file_->size();
  Reader r(path, base, file_size);

  g->version_ = ReadPreamble(r);
  const uint64_t after_counts = r.remaining() >= 16 ? r.remaining() - 16 : 0;
  std::string note;
  const uint64_t n_tensors =
      ReadCount(r, "n_tensors", kMaxTensors, kMinTensorInfoBytes, after_counts, &note);
  const uint64_t n_kv = ReadCount(r, "n_kv", kMaxKvPairs, kMinKvBytes, after_counts, &note);

  // No reserve() from the header counts: storage grows only with what was actually read.
  std::vector<uint64_t> info_at;
  std::vector<uint64_t> offsets;
  WithNote(note, [&] {
    MetadataParser parser(r);
    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t at = r.pos();
      r.set_context(Concat("metadata pair #", i, " (at byte ", at, ")"));
      std::string key = r.ReadString("key");
      r.set_context(Concat("metadata key ", Quoted(key), " (at byte ", at, ")"));
      if (g->metadata_.count(key) != 0) r.Error("duplicate metadata key");
      const uint64_t type_at = r.pos();
      const uint32_t type = r.Read<uint32_t>("value type");
      if (!KnownType(type)) r.Error("unknown value type ", type, " (at byte ", type_at, ")");
      GgufValue value = parser.ReadValue(type, 0);
      g->metadata_order_.push_back(key);
      g->metadata_.emplace(std::move(key), std::move(value));
    }
    g->alignment_ = ReadAlignment(r, g->Find("general.alignment"));

    for (uint64_t i = 0; i < n_tensors; ++i) {
      const uint64_t at = r.pos();
      r.set_context(Concat("tensor #", i, " (info at byte ", at, ")"));
      TensorView t;
      t.name = r.ReadString("name");
      r.set_context(Concat("tensor ", Quoted(t.name), " (info at byte ", at, ")"));
      if (auto it = g->tensor_index_.find(t.name); it != g->tensor_index_.end()) {
        r.Error("duplicate tensor name (first defined at byte ", info_at[it->second], ")");
      }
      offsets.push_back(ReadTensorInfo(r, g->alignment_, t));
      t.file = path;
      info_at.push_back(at);
      g->tensor_index_.emplace(t.name, g->tensors_.size());
      g->tensors_.push_back(std::move(t));
    }
  });

  // The data section starts at the first aligned byte after the directory.
  const uint64_t header_end = r.pos();
  g->data_offset_ = (header_end + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  for (size_t i = 0; i < g->tensors_.size(); ++i) {
    TensorView& t = g->tensors_[i];
    r.set_context(Concat("tensor ", Quoted(t.name), " (info at byte ", info_at[i], ")"));
    uint64_t begin = 0;
    uint64_t end = 0;
    if (!AddOk(g->data_offset_, offsets[i], &begin) || !AddOk(begin, t.nbytes, &end) ||
        end > file_size) {
      r.Error("data (offset ", offsets[i], " in the data section at byte ", g->data_offset_,
              ", ", t.nbytes, " bytes) extends past the end of the file (", file_size,
              " bytes)");
    }
    t.file_offset = begin;
    t.data = base + begin;
  }
  return g;
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const TensorView* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

const GgufValue& Require(const GgufFile& g, const std::string& key) {
  const GgufValue* v = g.Find(key);
  if (v == nullptr) Fail(g.path(), ": metadata key ", Quoted(key), " is missing");
  return *v;
}

[[noreturn]] void WrongType(const GgufFile& g, const std::string& key, const GgufValue& v,
                            const char* expected) {
  Fail(g.path(), ": metadata key ", Quoted(key), " has type ", DescribeType(v), ", expected ",
       expected);
}

const GgufValue& RequireArray(const GgufFile& g, const std::string& key, bool (*elem_ok)(GgufType),
                              const char* expected) {
  const GgufValue& v = Require(g, key);
  if (!v.is_array() || !elem_ok(v.elem_type)) WrongType(g, key, v, expected);
  return v;
}

}  // namespace

uint64_t GgufFile::GetUint(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!v.is_integer()) WrongType(*this, key, v, "an integer");
  if (IsUnsigned(v.type)) return v.u64;
  if (v.i64 < 0) Fail(path_, ": metadata key ", Quoted(key), " is ", v.i64, ", expected >= 0");
  return static_cast<uint64_t>(v.i64);
}

int64_t GgufFile::GetInt(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!v.is_integer()) WrongType(*this, key, v, "an integer");
  const std::optional<int64_t> i = v.as_int();
  if (!i) Fail(path_, ": metadata key ", Quoted(key), " = ", v.u64, " does not fit in int64");
  return *i;
}

double GgufFile::GetFloat(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!v.is_number()) WrongType(*this, key, v, "a number");
  return *v.as_double();
}

bool GgufFile::GetBool(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (v.type != GgufType::kBool) WrongType(*this, key, v, "a bool");
  return v.boolean;
}

const std::string& GgufFile::GetString(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (v.type != GgufType::kString) WrongType(*this, key, v, "a string");
  return v.str;
}

std::vector<int64_t> GgufFile::GetIntArray(const std::string& key) const {
  const GgufValue& v = RequireArray(*this, key, IsIntOrBoolType, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(v.array.size());
  for (size_t i = 0; i < v.array.size(); ++i) {
    const std::optional<int64_t> e = v.array[i].as_int();
    if (!e) {
      Fail(path_, ": metadata key ", Quoted(key), ": element ", i, " = ", v.array[i].u64,
           " does not fit in int64");
    }
    out.push_back(*e);
  }
  return out;
}

std::vector<double> GgufFile::GetFloatArray(const std::string& key) const {
  const GgufValue& v = RequireArray(*this, key, IsNumberType, "an array of numbers");
  std::vector<double> out;
  out.reserve(v.array.size());
  for (const GgufValue& e : v.array) out.push_back(*e.as_double());
  return out;
}

std::vector<std::string> GgufFile::GetStringArray(const std::string& key) const {
  const GgufValue& v = RequireArray(*this, key, IsStringType, "an array of strings");
  std::vector<std::string> out;
  out.reserve(v.array.size());
  for (const GgufValue& e : v.array) out.push_back(e.str);
  return out;
}

uint64_t GgufFile::GetUintOr(const std::string& key, uint64_t fallback) const {
  return Find(key) ? GetUint(key) : fallback;
}

double GgufFile::GetFloatOr(const std::string& key, double fallback) const {
  return Find(key) ? GetFloat(key) : fallback;
}

bool GgufFile::GetBoolOr(const std::string& key, bool fallback) const {
  return Find(key) ? GetBool(key) : fallback;
}

std::string GgufFile::GetStringOr(const std::string& key, const std::string& fallback) const {
  return Find(key) ? GetString(key) : fallback;
}

}  // namespace g4
