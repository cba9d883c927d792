#include "model/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace g4 {
namespace {

using nlohmann::json;

// Real headers are a few hundred KB even for the largest checkpoints; anything far beyond
// that is corruption, and refusing it early keeps a bad length from driving a huge parse.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Tensor entries nest three levels (root object, entry object, shape array); the margin
// tolerates unknown extra fields while stopping pathological nesting.
constexpr int kMaxHeaderDepth = 16;
// config.json and the index are small; a huge one is not a checkpoint folder.
constexpr size_t kMaxSideJsonBytes = 64u << 20;

struct SafetensorsDType {
  std::string_view name;
  int bits;  // element size; sub-byte types exist (F4, F6_*)
};

// Every dtype the safetensors format defines. Only F32/F16/BF16 map onto a g4 DType; the
// rest are accepted so that a checkpoint carrying, say, an I64 buffer still opens.
constexpr SafetensorsDType kSafetensorsDTypes[] = {
    {"BOOL", 8},     {"F4", 4},       {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},       {"F8_E5M2", 8},  {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16},     {"F16", 16},     {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32},     {"C64", 64},     {"F64", 64},    {"I64", 64},    {"U64", 64},
};

const SafetensorsDType* LookupSafetensorsDType(std::string_view name) {
  for (const auto& d : kSafetensorsDTypes) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

bool ToG4DType(std::string_view name, DType* out) {
  if (name == "F32") {
    *out = DType::kF32;
  } else if (name == "F16") {
    *out = DType::kF16;
  } else if (name == "BF16") {
    *out = DType::kBF16;
  } else {
    return false;
  }
  return true;
}

// Reads a JSON value that must be a non-negative integer that fits in int64 (so that it
// can become a ggml dimension without overflow).
bool AsNonNegative(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = u;
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

std::string Trunc(const std::string& s) {
  constexpr size_t kMax = 80;
  return s.size() <= kMax ? s : s.substr(0, kMax) + "...";
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Parses a small JSON side file (config.json, the shard index).
json ReadJsonFile(const std::string& path, const char* what) {
  if (!Exists(path)) Fail(path, ": ", what, " not found");
  std::shared_ptr<MappedFile> file = MappedFile::Open(path);
  if (file->size() > kMaxSideJsonBytes) {
    Fail(path, ": ", what, " is ", file->size(), " bytes, more than the ", kMaxSideJsonBytes,
         " a ", what, " can plausibly be");
  }
  const char* begin = reinterpret_cast<const char*>(file->data());
  try {
    return json::parse(begin, begin + file->size());
  } catch (const json::parse_error& e) {
    Fail(path, ": ", what, " is not valid JSON (parse error at byte offset ",
         e.byte == 0 ? 0 : e.byte - 1, "): ", e.what());
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    Fail(path, ": ", what, " is not valid JSON: ", e.what());
  }
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> st(new SafetensorsFile());
  st->path_ = path;
  st->file_ = MappedFile::Open(path);
  const uint64_t file_size = st->file_->size();
  const uint8_t* base = st->file_->data();

  if (file_size < 8) {
    Fail(path, ": truncated: ", file_size,
         " bytes, too short for the 8-byte header length at offset 0");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > file_size - 8) {
    Fail(path, ": header length ", header_len, " (at offset 0) runs past the end of the file (",
         file_size, " bytes, so at most ", file_size - 8, " header bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    Fail(path, ": header length ", header_len, " (at offset 0) exceeds the ", kMaxHeaderBytes,
         "-byte limit on safetensors headers");
  }
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  // Duplicate top-level keys would silently collapse into one entry in the parsed object,
  // hiding a tensor whose bytes may overlap another's; the callback sees every key.
  std::set<std::string> seen_keys;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxHeaderDepth) {
      Fail(path, ": header JSON nests deeper than ", kMaxHeaderDepth, " levels");
    }
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen_keys.insert(key).second) {
        Fail(path, ": header lists tensor '", Trunc(key), "' more than once");
      }
    }
    return true;
  };
  json header;
  const char* hbegin = reinterpret_cast<const char*>(base + 8);
  try {
    header = json::parse(hbegin, hbegin + header_len, callback);
  } catch (const json::parse_error& e) {
    size_t at = e.byte == 0 ? 0 : e.byte - 1;
    Fail(path, ": header is not valid JSON (parse error at header byte ", at, ", file offset ",
         8 + at, "): ", e.what());
  } catch (const json::exception& e) {  // e.g. a number too large for a double
    Fail(path, ": header (file offset 8) is not valid JSON: ", e.what());
  }
  if (!header.is_object()) {
    Fail(path, ": header (file offset 8) must be a JSON object, found ", header.type_name());
  }

  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        Fail(path, ": header field '__metadata__' must be an object of strings, found ",
             entry.type_name());
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          Fail(path, ": header field '__metadata__' entry '", Trunc(key),
               "' must be a string, found ", value.type_name());
        }
        st->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const char* field, const auto&... why) {
      Fail(path, ": tensor '", Trunc(name), "': field '", field, "' ", why...);
    };
    if (!entry.is_object()) {
      Fail(path, ": tensor '", Trunc(name), "': header entry must be an object, found ",
           entry.type_name());
    }
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end()) bad("dtype", "is missing");
    if (shape_it == entry.end()) bad("shape", "is missing");
    if (offsets_it == entry.end()) bad("data_offsets", "is missing");
    if (!dtype_it->is_string()) bad("dtype", "must be a string, found ", dtype_it->type_name());
    const std::string dtype_name = dtype_it->get<std::string>();
    const SafetensorsDType* dtype = LookupSafetensorsDType(dtype_name);
    if (dtype == nullptr) bad("dtype", "has unknown value \"", Trunc(dtype_name), "\"");

    if (!shape_it->is_array()) bad("shape", "must be an array, found ", shape_it->type_name());
    std::vector<int64_t> shape;  // PyTorch order for now
    // Products past the file size are caught here, before any multiplication can overflow.
    uint64_t n_elems = 1;
    bool too_big = false;
    for (size_t i = 0; i < shape_it->size(); ++i) {
      uint64_t d = 0;
      if (!AsNonNegative((*shape_it)[i], &d)) {
        bad("shape", "entry ", i, " is ", (*shape_it)[i].dump(),
            ", not a non-negative integer");
      }
      shape.push_back(static_cast<int64_t>(d));
      if (d == 0) {
        n_elems = 0;
      } else if (!too_big && n_elems != 0) {
        if (n_elems > (data_size * 8) / d) too_big = true;
        else n_elems *= d;
      }
    }
    if (n_elems == 0) too_big = false;

    if (!offsets_it->is_array() || offsets_it->size() != 2) {
      bad("data_offsets", "must be an array [begin, end], found ", Trunc(offsets_it->dump()));
    }
    uint64_t begin = 0, end = 0;
    if (!AsNonNegative((*offsets_it)[0], &begin) || !AsNonNegative((*offsets_it)[1], &end)) {
      bad("data_offsets", Trunc(offsets_it->dump()), " must hold non-negative integers");
    }
    if (begin > end) {
      bad("data_offsets", "[", begin, ", ", end, "] has begin after end");
    }
    if (end > data_size) {
      bad("data_offsets", "[", begin, ", ", end, "] ends at file offset ", data_start + end,
          ", past the end of the data section (", data_size, " bytes from file offset ",
          data_start, ", file size ", file_size, ")");
    }
    if (too_big) {
      bad("shape", shape_it->dump(), " holds more ", dtype_name, " elements than the file has bytes");
    }
    const uint64_t n_bits = n_elems * static_cast<uint64_t>(dtype->bits);
    if (n_bits % 8 != 0) {
      bad("shape", shape_it->dump(), " gives ", n_elems, " elements of ", dtype_name,
          ", which do not fill whole bytes");
    }
    if (end - begin != n_bits / 8) {
      bad("data_offsets", "[", begin, ", ", end, "] spans ", end - begin,
          " bytes (file offset ", data_start + begin, "), but shape ", shape_it->dump(), " of ",
          dtype_name, " needs ", n_bits / 8);
    }

    st->raw_dtypes_[name] = dtype_name;
    ranges.push_back({begin, end, &st->raw_dtypes_.find(name)->first});

    DType type;
    if (!ToG4DType(dtype_name, &type)) continue;
    TensorView view;
    view.name = name;
    view.type = type;
    view.shape.assign(shape.rbegin(), shape.rend());
    view.data = base + data_start + begin;
    view.nbytes = static_cast<size_t>(end - begin);
    view.file = path;
    view.file_offset = data_start + begin;
    st->index_[name] = st->tensors_.size();
    st->tensors_.push_back(std::move(view));
  }

  // Empty tensors own no bytes, so they cannot overlap anything wherever they point.
  std::erase_if(ranges, [](const Range& r) { return r.begin == r.end; });
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      Fail(path, ": tensor '", Trunc(*ranges[i].name), "': field 'data_offsets' [",
           ranges[i].begin, ", ", ranges[i].end, "] overlaps tensor '",
           Trunc(*ranges[i - 1].name), "' [", ranges[i - 1].begin, ", ", ranges[i - 1].end,
           "] at file offset ", data_start + ranges[i].begin);
    }
  }
  return st;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  if (it != index_.end()) return &tensors_[it->second];
  auto raw = raw_dtypes_.find(name);
  if (raw != raw_dtypes_.end()) {
    Fail(path_, ": tensor '", name, "' has dtype ", raw->second,
         ", which g4 cannot use (supported: F32, F16, BF16)");
  }
  return nullptr;
}

const std::string& SafetensorsFile::RawDType(const std::string& name) const {
  auto it = raw_dtypes_.find(name);
  if (it == raw_dtypes_.end()) Fail(path_, ": no tensor '", name, "'");
  return it->second;
}

// ---------------------------------------------------------------------------------------

HfCheckpoint::~HfCheckpoint() = default;

const nlohmann::json& HfCheckpoint::config() const { return *config_; }

std::unique_ptr<HfCheckpoint> HfCheckpoint::Open(const std::string& dir) {
  std::unique_ptr<HfCheckpoint> ckpt(new HfCheckpoint());
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  ckpt->dir_ = d;
  if (!Exists(d)) Fail(d, ": checkpoint folder not found");

  const std::string config_path = ckpt->config_path();
  ckpt->config_ = std::make_unique<json>(ReadJsonFile(config_path, "config.json"));
  if (!ckpt->config_->is_object()) {
    Fail(config_path, ": config.json must be a JSON object, found ", ckpt->config_->type_name());
  }

  const std::string index_path = d + "/model.safetensors.index.json";
  const std::string single_path = d + "/model.safetensors";
  if (Exists(index_path)) {
    json index = ReadJsonFile(index_path, "shard index");
    if (!index.is_object()) {
      Fail(index_path, ": shard index must be a JSON object, found ", index.type_name());
    }
    auto wm = index.find("weight_map");
    if (wm == index.end()) Fail(index_path, ": field 'weight_map' is missing");
    if (!wm->is_object()) {
      Fail(index_path, ": field 'weight_map' must be an object, found ", wm->type_name());
    }
    // Shards in sorted order, so tensors() lists them the same way every time.
    std::map<std::string, std::vector<std::string>> shard_tensors;
    for (const auto& [name, shard] : wm->items()) {
      if (!shard.is_string()) {
        Fail(index_path, ": weight_map entry '", Trunc(name), "' must be a file name, found ",
             shard.type_name());
      }
      const std::string& file = shard.get_ref<const std::string&>();
      // The index is data: it must not send us outside the folder.
      if (file.empty() || file.front() == '/' || file == ".." || file.starts_with("../") ||
          file.find("/../") != std::string::npos || file.ends_with("/..")) {
        Fail(index_path, ": weight_map entry '", Trunc(name), "' names shard \"", Trunc(file),
             "\", which is not a file inside the checkpoint folder");
      }
      shard_tensors[file].push_back(name);
    }
    if (shard_tensors.empty()) Fail(index_path, ": field 'weight_map' lists no tensors");

    std::map<std::string, size_t> shard_of_file;
    for (const auto& [file, names] : shard_tensors) {
      const std::string shard_path = d + "/" + file;
      if (!IsRegularFile(shard_path)) {
        Fail(index_path, ": weight_map maps tensor '", Trunc(names.front()), "' to shard ", file,
             ", but ", shard_path, " does not exist");
      }
      shard_of_file[file] = ckpt->shards_.size();
      ckpt->shards_.push_back(SafetensorsFile::Open(shard_path));
      const SafetensorsFile& sf = *ckpt->shards_.back();
      for (const std::string& name : names) {
        if (!sf.raw_dtypes().contains(name)) {
          Fail(index_path, ": weight_map maps tensor '", Trunc(name), "' to ", shard_path,
               ", which does not contain it");
        }
      }
    }
    for (const auto& [file, i] : shard_of_file) {
      const SafetensorsFile& sf = *ckpt->shards_[i];
      for (const auto& [name, dtype] : sf.raw_dtypes()) {
        auto listed = wm->find(name);
        if (listed == wm->end()) {
          Fail(sf.path(), ": tensor '", Trunc(name), "' is not listed in the weight_map of ",
               index_path);
        }
        const std::string& owner = listed->get_ref<const std::string&>();
        if (owner != file) {
          // Already verified above: the owner shard holds it too.
          Fail(index_path, ": tensor '", Trunc(name), "' is present in both ", d, "/", owner,
               " and ", sf.path());
        }
      }
    }
  } else if (Exists(single_path)) {
    ckpt->shards_.push_back(SafetensorsFile::Open(single_path));
  } else {
    Fail(d, ": no weights: neither model.safetensors nor model.safetensors.index.json is there");
  }

  for (const auto& shard : ckpt->shards_) {
    for (const TensorView& t : shard->tensors()) {
      ckpt->all_.push_back(&t);
      ckpt->by_name_[t.name] = &t;
    }
  }
  return ckpt;
}

const TensorView* HfCheckpoint::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  // Names with an unusable dtype are only in the shards; their Find reports the dtype.
  for (const auto& shard : shards_) {
    if (shard->raw_dtypes().contains(name)) return shard->Find(name);
  }
  return nullptr;
}

}  // namespace g4
