#include "model/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/mapped_file.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models";
constexpr const char* kQProj0 = "model.language_model.layers.0.self_attn.q_proj.weight";

// Just enough of a GGUF reader to locate a tensor's bytes, kept independent of g4's own
// GGUF code so that the two formats are checked against each other, not against themselves.
struct GgufTensor {
  std::vector<int64_t> shape;
  uint32_t type = 0;
  const uint8_t* data = nullptr;
};

class TinyGguf {
 public:
  explicit TinyGguf(const std::string& path) : file_(MappedFile::Open(path)) {
    p_ = file_->data();
    EXPECT_EQ(std::memcmp(Take(4), "GGUF", 4), 0);
    Read<uint32_t>();  // version
    uint64_t n_tensors = Read<uint64_t>();
    uint64_t n_kv = Read<uint64_t>();
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = ReadString();
      uint32_t type = Read<uint32_t>();
      if (key == "general.alignment") {
        alignment = Read<uint32_t>();
      } else {
        SkipValue(type);
      }
    }
    std::vector<std::pair<std::string, uint64_t>> offsets;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      std::string name = ReadString();
      GgufTensor& t = tensors_[name];
      uint32_t n_dims = Read<uint32_t>();
      for (uint32_t d = 0; d < n_dims; ++d) t.shape.push_back(Read<int64_t>());
      t.type = Read<uint32_t>();
      offsets.emplace_back(name, Read<uint64_t>());
    }
    size_t pos = p_ - file_->data();
    size_t data_start = (pos + alignment - 1) / alignment * alignment;
    for (const auto& [name, off] : offsets) tensors_[name].data = file_->data() + data_start + off;
  }
  const GgufTensor& at(const std::string& name) const { return tensors_.at(name); }

 private:
  const uint8_t* Take(size_t n) {
    const uint8_t* r = p_;
    p_ += n;
    if (p_ > file_->data() + file_->size()) throw std::runtime_error("GGUF truncated");
    return r;
  }
  template <typename T>
  T Read() {
    T v;
    std::memcpy(&v, Take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string ReadString() {
    uint64_t n = Read<uint64_t>();
    return std::string(reinterpret_cast<const char*>(Take(n)), n);
  }
  void SkipValue(uint32_t type) {
    static const std::map<uint32_t, size_t> kSizes = {{0, 1}, {1, 1}, {2, 2},  {3, 2},
                                                      {4, 4}, {5, 4}, {6, 4},  {7, 1},
                                                      {10, 8}, {11, 8}, {12, 8}};
    if (type == 8) {
      ReadString();
    } else if (type == 9) {
      uint32_t elem = Read<uint32_t>();
      uint64_t n = Read<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) SkipValue(elem);
    } else {
      Take(kSizes.at(type));
    }
  }

  std::shared_ptr<MappedFile> file_;
  const uint8_t* p_ = nullptr;
  std::map<std::string, GgufTensor> tensors_;
};

// A scratch folder, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "g4_safetensors_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string LengthPrefix(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file with `header` as its JSON text and `data_bytes` bytes of data.
void WriteSafetensors(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 7 + 1);
  WriteBytes(path, LengthPrefix(header.size()) + header + data);
}

void WriteSafetensors(const std::string& path, const json& header, size_t data_bytes) {
  WriteSafetensors(path, header.dump(), data_bytes);
}

json Entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

// Runs `fn`, which must throw g4::Error whose message contains every one of `parts`.
void ExpectError(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' missing from: " << msg;
    }
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-g4 exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw";
}

void ExpectOpenError(const std::string& path, std::initializer_list<std::string> parts) {
  std::vector<std::string> all(parts);
  all.push_back(path);
  try {
    SafetensorsFile::Open(path);
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const std::string& part : all) {
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' missing from: " << msg;
    }
    return;
  }
  ADD_FAILURE() << path << ": Open did not throw";
}

// ---- The real tiny checkpoints -------------------------------------------------------------

TEST(SafetensorsTest, DenseQProjHasGgmlShapeAndType) {
  auto st = SafetensorsFile::Open(kModels + "/tiny-dense-hf/model.safetensors");
  const TensorView* q = st->Find(kQProj0);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(q->type, DType::kBF16);
  EXPECT_EQ(q->nbytes, 128u * 128u * 2u);
  EXPECT_EQ(q->name, kQProj0);
  EXPECT_EQ(q->file, st->path());
  EXPECT_EQ(st->RawDType(kQProj0), "BF16");
  EXPECT_EQ(st->metadata().at("format"), "pt");

  // [out=256, in=128] in PyTorch order becomes {128, 256}.
  const TensorView* gate = st->Find("model.language_model.layers.0.mlp.gate_proj.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(gate->shape, (std::vector<int64_t>{128, 256}));
  const TensorView* norm = st->Find("model.language_model.layers.0.input_layernorm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->type, DType::kF32);
  EXPECT_EQ(norm->shape, (std::vector<int64_t>{128}));
  // file_offset and data must agree about where the bytes are.
  auto raw = MappedFile::Open(st->path());
  EXPECT_EQ(std::memcmp(raw->data() + q->file_offset, q->data, q->nbytes), 0);

  EXPECT_EQ(st->Find("no.such.tensor"), nullptr);
  ExpectError([&] { st->RawDType("no.such.tensor"); }, {"no.such.tensor", st->path()});
}

void ExpectSameBytes(const TensorView* hf, const GgufTensor& gguf) {
  ASSERT_NE(hf, nullptr);
  EXPECT_EQ(gguf.type, 30u);  // ggml BF16
  EXPECT_EQ(hf->shape, gguf.shape) << hf->name;
  EXPECT_EQ(std::memcmp(hf->data, gguf.data, hf->nbytes), 0) << hf->name;
}

TEST(SafetensorsTest, BytesMatchTheBf16Gguf) {
  for (const std::string model : {"tiny-moe", "tiny-all"}) {
    SCOPED_TRACE(model);
    auto ckpt = HfCheckpoint::Open(kModels + "/" + model + "-hf");
    TinyGguf gguf(kModels + "/" + model + ".bf16.gguf");
    ExpectSameBytes(ckpt->Find(kQProj0), gguf.at("blk.0.attn_q.weight"));
    ExpectSameBytes(ckpt->Find("model.language_model.embed_tokens.weight"),
                    gguf.at("token_embd.weight"));
    // A 3-d expert tensor [E, 2I, d] must come out as {d, 2I, E}, as in GGUF.
    const TensorView* gate_up = ckpt->Find("model.language_model.layers.0.experts.gate_up_proj");
    ExpectSameBytes(gate_up, gguf.at("blk.0.ffn_gate_up_exps.weight"));
    ASSERT_NE(gate_up, nullptr);
    EXPECT_EQ(gate_up->shape.size(), 3u);
    EXPECT_EQ(gate_up->shape[2], ckpt->config()["text_config"]["num_experts"].get<int64_t>());
    ExpectSameBytes(ckpt->Find("model.language_model.layers.0.experts.down_proj"),
                    gguf.at("blk.0.ffn_down_exps.weight"));
  }
}

TEST(SafetensorsTest, AllTinyCheckpointsOpen) {
  for (const std::string model : {"tiny-dense", "tiny-moe", "tiny-e2b", "tiny-e4b", "tiny-all"}) {
    SCOPED_TRACE(model);
    auto ckpt = HfCheckpoint::Open(kModels + "/" + model + "-hf");
    EXPECT_TRUE(ckpt->config().contains("text_config"));
    EXPECT_FALSE(ckpt->tensors().empty());
    for (const TensorView* t : ckpt->tensors()) {
      EXPECT_EQ(ckpt->Find(t->name), t);
      EXPECT_TRUE(t->type == DType::kBF16 || t->type == DType::kF32) << t->name;
    }
  }
}

TEST(SafetensorsTest, ShardedCheckpoint) {
  const std::string dir = kModels + "/tiny-e2b-hf";
  auto ckpt = HfCheckpoint::Open(dir + "/");  // a trailing slash is harmless
  EXPECT_EQ(ckpt->dir(), dir);
  EXPECT_EQ(ckpt->config_path(), dir + "/config.json");
  EXPECT_EQ(ckpt->config()["text_config"]["hidden_size"].get<int>(), 128);

  std::ifstream in(dir + "/model.safetensors.index.json");
  json index = json::parse(in);
  const json& wm = index["weight_map"];
  EXPECT_EQ(ckpt->tensors().size(), wm.size());
  std::map<std::string, int> per_shard;
  for (const auto& [name, shard] : wm.items()) {
    const TensorView* t = ckpt->Find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->file, dir + "/" + shard.get<std::string>());
    ++per_shard[shard.get<std::string>()];
  }
  EXPECT_EQ(per_shard.size(), 2u);
  EXPECT_EQ(ckpt->Find("model.language_model.missing.weight"), nullptr);
}

// ---- Synthetic files -------------------------------------------------------------------------

TEST(SafetensorsTest, DTypesShapesAndEdgeCases) {
  TempDir tmp;
  json h;
  h["__metadata__"] = {{"format", "pt"}, {"note", "hi"}};
  h["scalar"] = Entry("F32", {}, 0, 4);
  h["cube"] = Entry("F16", {2, 3, 4}, 4, 52);
  h["empty"] = Entry("BF16", {0, 5}, 52, 52);
  h["ids"] = Entry("I64", {3}, 52, 76);
  h["fp8"] = Entry("F8_E4M3", {2, 2}, 76, 80);
  h["flags"] = Entry("BOOL", {3}, 80, 83);
  h["odd_f32"] = Entry("F32", {2}, 83, 91);  // unaligned start: allowed
  const std::string path = tmp / "a.safetensors";
  WriteSafetensors(path, h, 91);
  auto st = SafetensorsFile::Open(path);

  EXPECT_EQ(st->metadata().size(), 2u);
  EXPECT_EQ(st->metadata().at("note"), "hi");
  const TensorView* scalar = st->Find("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->n_elements(), 1);
  EXPECT_EQ(scalar->nbytes, 4u);
  const TensorView* cube = st->Find("cube");
  ASSERT_NE(cube, nullptr);
  EXPECT_EQ(cube->type, DType::kF16);
  EXPECT_EQ(cube->shape, (std::vector<int64_t>{4, 3, 2}));
  const uint64_t data_start = 8 + h.dump().size();
  EXPECT_EQ(cube->file_offset, data_start + 4);
  const TensorView* empty = st->Find("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->nbytes, 0u);
  EXPECT_EQ(empty->shape, (std::vector<int64_t>{5, 0}));
  ASSERT_NE(st->Find("odd_f32"), nullptr);

  // Non-float dtypes are recorded but never handed out as tensors.
  EXPECT_EQ(st->tensors().size(), 4u);
  for (const TensorView& t : st->tensors()) {
    EXPECT_NE(t.name, "ids");
    EXPECT_NE(t.name, "fp8");
    EXPECT_NE(t.name, "flags");
  }
  EXPECT_EQ(st->raw_dtypes().size(), 7u);
  EXPECT_EQ(st->RawDType("ids"), "I64");
  EXPECT_EQ(st->RawDType("fp8"), "F8_E4M3");
  ExpectError([&] { st->Find("ids"); }, {path, "ids", "I64"});
  ExpectError([&] { st->Find("fp8"); }, {path, "fp8", "F8_E4M3"});
  ExpectError([&] { st->Find("flags"); }, {path, "flags", "BOOL"});

  // The same through a checkpoint folder.
  WriteBytes(tmp / "config.json", "{\"model_type\": \"gemma4\"}");
  fs::rename(path, tmp / "model.safetensors");
  auto ckpt = HfCheckpoint::Open(tmp.path());
  EXPECT_EQ(ckpt->tensors().size(), 4u);
  ASSERT_NE(ckpt->Find("cube"), nullptr);
  ExpectError([&] { ckpt->Find("ids"); }, {"ids", "I64"});
}

TEST(SafetensorsTest, EmptyHeaderObjectIsValid) {
  TempDir tmp;
  WriteSafetensors(tmp / "e.safetensors", std::string("{}  "), 0);  // padded like real files
  auto st = SafetensorsFile::Open(tmp / "e.safetensors");
  EXPECT_TRUE(st->tensors().empty());
}

TEST(SafetensorsTest, CorruptFiles) {
  TempDir tmp;
  const json good = {{"w", Entry("F32", {2, 2}, 0, 16)}};
  int n = 0;
  auto file = [&] { return tmp / ("bad" + std::to_string(n++) + ".safetensors"); };

  std::string p = file();
  WriteBytes(p, "");
  ExpectOpenError(p, {"truncated"});
  p = file();
  WriteBytes(p, std::string("\x10\x00\x00", 3));
  ExpectOpenError(p, {"truncated", "offset 0"});

  // Valid file cut short: the header no longer fits.
  p = file();
  {
    std::string header = good.dump();
    std::string bytes = LengthPrefix(header.size()) + header + std::string(16, '\0');
    WriteBytes(p, bytes.substr(0, 8 + header.size() / 2));
  }
  ExpectOpenError(p, {"header length", "offset 0"});
  // Valid header, data cut short: the tensor no longer fits.
  p = file();
  WriteSafetensors(p, good, 10);
  ExpectOpenError(p, {"'w'", "data_offsets", "past the end"});

  p = file();
  WriteBytes(p, LengthPrefix(1ull << 40) + "{}");
  ExpectOpenError(p, {"header length", "1099511627776", "offset 0"});
  p = file();
  WriteBytes(p, LengthPrefix(~0ull) + "{}");
  ExpectOpenError(p, {"header length"});

  p = file();
  WriteSafetensors(p, std::string("{\"w\": {\"dtype\": F32}}"), 0);
  ExpectOpenError(p, {"not valid JSON", "header byte", "file offset"});
  p = file();
  WriteSafetensors(p, std::string(""), 0);
  ExpectOpenError(p, {"not valid JSON"});
  p = file();
  WriteSafetensors(p, std::string("[1, 2, 3]"), 0);
  ExpectOpenError(p, {"header", "object", "array"});
  p = file();
  WriteSafetensors(p, std::string(100000, '['), 0);
  ExpectOpenError(p, {"header"});
  p = file();
  WriteSafetensors(p, std::string(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                                  R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})"),
                   8);
  ExpectOpenError(p, {"'w'", "more than once"});

  p = file();
  WriteSafetensors(p, json{{"w", Entry("F32", {2, 2}, 100, 116)}}, 16);
  ExpectOpenError(p, {"'w'", "data_offsets", "[100, 116]", "file offset"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("F32", {0}, 8, 4)}}, 16);
  ExpectOpenError(p, {"'w'", "data_offsets", "begin after end"});
  p = file();
  WriteSafetensors(p, json{{"a", Entry("F32", {4}, 0, 16)}, {"b", Entry("F32", {2}, 12, 20)}},
                   20);
  ExpectOpenError(p, {"'b'", "'a'", "overlaps", "data_offsets", "file offset"});
  p = file();
  WriteSafetensors(p, json{{"a", Entry("F32", {4}, 0, 16)}, {"b", Entry("F32", {4}, 0, 16)}},
                   16);
  ExpectOpenError(p, {"overlaps", "data_offsets"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("F32", {2, 3}, 0, 16)}}, 16);
  ExpectOpenError(p, {"'w'", "data_offsets", "spans 16 bytes", "needs 24"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("BF16", {2, 2}, 0, 16)}}, 16);
  ExpectOpenError(p, {"'w'", "needs 8"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("F31", {2, 2}, 0, 16)}}, 16);
  ExpectOpenError(p, {"'w'", "dtype", "F31"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("F32", {2, -2}, 0, 16)}}, 16);
  ExpectOpenError(p, {"'w'", "shape", "-2"});
  p = file();
  WriteSafetensors(p, std::string(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})"),
                   16);
  ExpectOpenError(p, {"'w'", "shape"});
  // Dimensions whose product overflows 64 bits must not wrap around to a small size.
  p = file();
  WriteSafetensors(p,
                   json{{"w", Entry("U8", {int64_t{1} << 32, int64_t{1} << 32, 1}, 0, 0)}}, 16);
  ExpectOpenError(p, {"'w'", "shape"});
  p = file();
  WriteSafetensors(p, json{{"w", Entry("F32", {4}, 0, 16)}, {"__metadata__", {{"k", 1}}}}, 16);
  ExpectOpenError(p, {"__metadata__", "'k'"});
  p = file();
  WriteSafetensors(p, json{{"w", {{"dtype", "F32"}, {"shape", {4}}}}}, 16);
  ExpectOpenError(p, {"'w'", "data_offsets", "missing"});
  p = file();
  WriteSafetensors(p, json{{"w", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0}}}}}, 16);
  ExpectOpenError(p, {"'w'", "data_offsets"});
  p = file();
  WriteSafetensors(p, json{{"w", 3}}, 16);
  ExpectOpenError(p, {"'w'", "object"});

  ExpectOpenError(tmp / "does_not_exist.safetensors", {"cannot open"});
}

// ---- Checkpoint folders ----------------------------------------------------------------------

// A valid two-shard folder: "a.w" in shard 1, "b.w" in shard 2.
void WriteShardedFolder(const TempDir& tmp) {
  WriteBytes(tmp / "config.json", "{\"model_type\": \"gemma4\"}");
  WriteSafetensors(tmp / "s1.safetensors", json{{"a.w", Entry("F32", {2}, 0, 8)}}, 8);
  WriteSafetensors(tmp / "s2.safetensors", json{{"b.w", Entry("BF16", {4}, 0, 8)}}, 8);
  json index = {{"metadata", {{"total_size", 16}}},
                {"weight_map", {{"a.w", "s1.safetensors"}, {"b.w", "s2.safetensors"}}}};
  WriteBytes(tmp / "model.safetensors.index.json", index.dump());
}

void WriteIndex(const TempDir& tmp, const json& weight_map) {
  WriteBytes(tmp / "model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());
}

TEST(HfCheckpointTest, SyntheticShardedFolder) {
  TempDir tmp;
  WriteShardedFolder(tmp);
  auto ckpt = HfCheckpoint::Open(tmp.path());
  ASSERT_EQ(ckpt->tensors().size(), 2u);
  ASSERT_NE(ckpt->Find("a.w"), nullptr);
  EXPECT_EQ(ckpt->Find("a.w")->file, tmp / "s1.safetensors");
  EXPECT_EQ(ckpt->Find("b.w")->file, tmp / "s2.safetensors");
  EXPECT_EQ(ckpt->config()["model_type"], "gemma4");
}

TEST(HfCheckpointTest, ConfigErrors) {
  {
    TempDir tmp;
    WriteSafetensors(tmp / "model.safetensors", json::object(), 0);
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); }, {tmp / "config.json", "not found"});
  }
  {
    TempDir tmp;
    WriteSafetensors(tmp / "model.safetensors", json::object(), 0);
    WriteBytes(tmp / "config.json", "{\"hidden_size\": 12,,}");
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {tmp / "config.json", "not valid JSON", "byte offset"});
  }
  {
    TempDir tmp;
    WriteSafetensors(tmp / "model.safetensors", json::object(), 0);
    WriteBytes(tmp / "config.json", "[1]");
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); }, {tmp / "config.json", "object"});
  }
  ExpectError([] { HfCheckpoint::Open("/nonexistent/g4/checkpoint"); },
              {"/nonexistent/g4/checkpoint"});
}

TEST(HfCheckpointTest, NoWeights) {
  TempDir tmp;
  WriteBytes(tmp / "config.json", "{}");
  ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
              {tmp.path(), "model.safetensors", "model.safetensors.index.json"});
}

TEST(HfCheckpointTest, BadSingleFileNamesIt) {
  TempDir tmp;
  WriteBytes(tmp / "config.json", "{}");
  WriteSafetensors(tmp / "model.safetensors", json{{"w", Entry("F32", {3}, 0, 8)}}, 8);
  ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
              {tmp / "model.safetensors", "'w'", "data_offsets"});
}

TEST(HfCheckpointTest, IndexErrors) {
  {
    TempDir tmp;
    WriteShardedFolder(tmp);
    WriteIndex(tmp, {{"a.w", "s1.safetensors"}, {"b.w", "s3.safetensors"}});
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", "s3.safetensors", "b.w", "does not exist"});
  }
  {
    TempDir tmp;  // the index puts b.w in the wrong shard
    WriteShardedFolder(tmp);
    WriteIndex(tmp, {{"a.w", "s1.safetensors"}, {"b.w", "s1.safetensors"}});
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", tmp / "s1.safetensors", "'b.w'",
                 "does not contain"});
  }
  {
    TempDir tmp;  // b.w is in shard 2 but unlisted
    WriteShardedFolder(tmp);
    WriteIndex(tmp, {{"a.w", "s1.safetensors"}, {"x.w", "s2.safetensors"}});
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); }, {"x.w", tmp / "s2.safetensors"});
    WriteSafetensors(tmp / "s2.safetensors",
                     json{{"b.w", Entry("BF16", {4}, 0, 8)}, {"x.w", Entry("BF16", {4}, 8, 16)}},
                     16);
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {tmp / "s2.safetensors", "'b.w'", "not listed", "model.safetensors.index.json"});
  }
  {
    TempDir tmp;  // a.w in both shards
    WriteShardedFolder(tmp);
    WriteSafetensors(tmp / "s2.safetensors",
                     json{{"a.w", Entry("F32", {2}, 0, 8)}, {"b.w", Entry("BF16", {4}, 8, 16)}},
                     16);
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"'a.w'", tmp / "s1.safetensors", tmp / "s2.safetensors", "both"});
  }
  {
    TempDir tmp;
    WriteShardedFolder(tmp);
    WriteBytes(tmp / "model.safetensors.index.json", "{\"weight_map\": {\"a.w\": }");
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", "not valid JSON"});
  }
  {
    TempDir tmp;
    WriteShardedFolder(tmp);
    WriteBytes(tmp / "model.safetensors.index.json", "{\"metadata\": {}}");
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", "weight_map"});
  }
  {
    TempDir tmp;
    WriteShardedFolder(tmp);
    WriteIndex(tmp, {{"a.w", "s1.safetensors"}, {"b.w", 7}});
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", "b.w"});
  }
  {
    TempDir tmp;
    WriteShardedFolder(tmp);
    WriteIndex(tmp, {{"a.w", "s1.safetensors"}, {"b.w", "../s2.safetensors"}});
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); },
                {"model.safetensors.index.json", "b.w", "../s2.safetensors"});
  }
  {
    TempDir tmp;  // a corrupt shard is reported under its own name
    WriteShardedFolder(tmp);
    WriteBytes(tmp / "s2.safetensors", "short");
    ExpectError([&] { HfCheckpoint::Open(tmp.path()); }, {tmp / "s2.safetensors", "truncated"});
  }
}

}  // namespace
}  // namespace g4
