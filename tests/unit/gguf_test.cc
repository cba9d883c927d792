// GGUF reader tests: the metadata and tensor directory of the tiny models, and synthetic files
// covering every value type, nested arrays and alignment. Corrupted files are tested in
// gguf_corruption_test.cc.
#include "model/gguf.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "ops/dtype.h"
#include "unit/gguf_test_util.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;
using gguf_test::kModels;
using gguf_test::kTinyQ4;
using gguf_test::ReadAll;
using gguf_test::TempFile;
using gguf_test::ExpectRejected;
using gguf_test::ErrorOf;
using gguf_test::Layout;
using gguf_test::Walker;

// --- the real tiny models -----------------------------------------------------------------

TEST(GgufTest, ReadsTinyAllMetadata) {
  auto g = GgufFile::Open(kTinyQ4);
  EXPECT_EQ(g->path(), kTinyQ4);
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->metadata().size(), 39u);
  ASSERT_EQ(g->metadata_order().size(), 39u);
  EXPECT_EQ(g->metadata_order().front(), "general.architecture");
  EXPECT_EQ(g->metadata_order().back(), "tokenizer.ggml.add_space_prefix");

  EXPECT_EQ(g->GetString("general.architecture"), "gemma4");
  EXPECT_EQ(g->GetUint("gemma4.block_count"), 10u);
  EXPECT_EQ(g->GetInt("gemma4.block_count"), 10);
  EXPECT_EQ(g->GetUint("gemma4.embedding_length"), 64u);
  EXPECT_EQ(g->GetFloat("gemma4.context_length"), 4096.0);  // floats accept integers
  EXPECT_NEAR(g->GetFloat("gemma4.attention.layer_norm_rms_epsilon"), 1e-6, 1e-12);
  EXPECT_EQ(g->GetFloat("gemma4.rope.freq_base"), 1e6);
  EXPECT_EQ(g->GetFloat("gemma4.final_logit_softcapping"), 10.0);
  EXPECT_EQ(g->Find("gemma4.block_count")->type, GgufType::kUint32);

  const std::vector<int64_t> ffn = g->GetIntArray("gemma4.feed_forward_length");
  EXPECT_EQ(ffn, (std::vector<int64_t>{128, 128, 128, 128, 128, 256, 256, 256, 256, 256}));
  EXPECT_EQ(g->GetIntArray("gemma4.attention.head_count_kv"),
            (std::vector<int64_t>{2, 2, 2, 2, 1, 2, 2, 2, 2, 1}));

  const GgufValue* pattern = g->Find("gemma4.attention.sliding_window_pattern");
  ASSERT_NE(pattern, nullptr);
  EXPECT_TRUE(pattern->is_array());
  EXPECT_EQ(pattern->elem_type, GgufType::kBool);
  ASSERT_EQ(pattern->array.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pattern->array[i].boolean, i % 5 != 4) << i;
  EXPECT_EQ(g->GetIntArray("gemma4.attention.sliding_window_pattern"),
            (std::vector<int64_t>{1, 1, 1, 1, 0, 1, 1, 1, 1, 0}));

  const std::vector<std::string> tokens = g->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<pad>");
  EXPECT_EQ(tokens[1], "<eos>");
  EXPECT_EQ(tokens[2], "<bos>");
  EXPECT_EQ(tokens[4], "<0x00>");
  EXPECT_EQ(g->GetFloatArray("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(g->GetIntArray("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_EQ(g->GetUint("tokenizer.ggml.bos_token_id"), 2u);
  EXPECT_TRUE(g->GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(g->GetBool("tokenizer.ggml.add_eos_token"));

  EXPECT_EQ(g->GetUintOr("gemma4.expert_count", 0), 4u);
  EXPECT_EQ(g->GetUintOr("gemma4.no_such_key", 77), 77u);
  EXPECT_EQ(g->GetFloatOr("gemma4.no_such_key", 2.5), 2.5);
  EXPECT_TRUE(g->GetBoolOr("gemma4.no_such_key", true));
  EXPECT_EQ(g->GetStringOr("gemma4.no_such_key", "x"), "x");
  EXPECT_EQ(g->GetStringOr("general.architecture", "x"), "gemma4");
}


TEST(GgufTest, GetterErrorsNameFileKeyAndTypes) {
  auto g = GgufFile::Open(kTinyQ4);
  const std::string p = kTinyQ4 + ": ";
  EXPECT_EQ(ErrorOf([&] { g->GetUint("gemma4.missing"); }),
            p + "metadata key 'gemma4.missing' is missing");
  EXPECT_EQ(ErrorOf([&] { g->GetInt("general.architecture"); }),
            p + "metadata key 'general.architecture' has type string, expected an integer");
  EXPECT_EQ(ErrorOf([&] { g->GetUint("general.architecture"); }),
            p + "metadata key 'general.architecture' has type string, expected an integer");
  EXPECT_EQ(ErrorOf([&] { g->GetBool("gemma4.block_count"); }),
            p + "metadata key 'gemma4.block_count' has type uint32, expected a bool");
  EXPECT_EQ(ErrorOf([&] { g->GetString("gemma4.block_count"); }),
            p + "metadata key 'gemma4.block_count' has type uint32, expected a string");
  EXPECT_EQ(ErrorOf([&] { g->GetFloat("tokenizer.ggml.add_bos_token"); }),
            p + "metadata key 'tokenizer.ggml.add_bos_token' has type bool, expected a number");
  EXPECT_EQ(ErrorOf([&] { g->GetUint("gemma4.feed_forward_length"); }),
            p + "metadata key 'gemma4.feed_forward_length' has type array of int32, expected "
                "an integer");
  EXPECT_EQ(ErrorOf([&] { g->GetIntArray("tokenizer.ggml.tokens"); }),
            p + "metadata key 'tokenizer.ggml.tokens' has type array of string, expected an "
                "array of integers");
  EXPECT_EQ(ErrorOf([&] { g->GetStringArray("gemma4.block_count"); }),
            p + "metadata key 'gemma4.block_count' has type uint32, expected an array of "
                "strings");
  EXPECT_EQ(ErrorOf([&] { g->GetFloatArray("gemma4.attention.sliding_window_pattern"); }),
            p + "metadata key 'gemma4.attention.sliding_window_pattern' has type array of "
                "bool, expected an array of numbers");
  // A present key of the wrong type is an error even with a fallback.
  EXPECT_THROW(g->GetUintOr("general.architecture", 1), Error);
  EXPECT_THROW(g->GetStringOr("gemma4.block_count", "x"), Error);
}

TEST(GgufTest, ReadsTinyAllTensorDirectory) {
  auto g = GgufFile::Open(kTinyQ4);
  const Layout layout = Walker(ReadAll(kTinyQ4)).Walk();
  ASSERT_EQ(g->tensors().size(), 240u);
  EXPECT_EQ(g->data_offset(), layout.data_start);
  EXPECT_EQ(g->data_offset() % 32, 0u);
  const uint8_t* base = g->mapping()->data();

  const TensorView* embd = g->FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::kQ4_0);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->nbytes, 512u * 2 * 18);
  EXPECT_EQ(embd->file_offset, g->data_offset());
  EXPECT_EQ(embd->data, base + embd->file_offset);
  EXPECT_EQ(embd->file, kTinyQ4);
  EXPECT_EQ(embd->n_rows(), 512);
  EXPECT_EQ(embd->row_bytes(), 36u);

  const TensorView* proj = g->FindTensor("blk.0.proj.weight");
  ASSERT_NE(proj, nullptr);
  EXPECT_EQ(proj->type, DType::kF16);  // 16-wide rows cannot hold q4_0 blocks
  EXPECT_EQ(proj->shape, (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(proj->nbytes, 16u * 64 * 2);

  const TensorView* experts = g->FindTensor("blk.0.ffn_gate_up_exps.weight");
  ASSERT_NE(experts, nullptr);
  EXPECT_EQ(experts->shape, (std::vector<int64_t>{64, 64, 4}));
  EXPECT_EQ(g->FindTensor("blk.0.layer_output_scale.weight")->shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(g->FindTensor("no.such.tensor"), nullptr);

  // Directory order and offsets as the file lists them.
  for (size_t i = 0; i < layout.tensors.size(); ++i) {
    const TensorView& t = g->tensors()[i];
    EXPECT_EQ(t.name, layout.tensors[i].name);
    EXPECT_EQ(t.file_offset, layout.data_start + layout.tensors[i].offset);
    EXPECT_EQ(t.nbytes, t.row_bytes() * static_cast<size_t>(t.n_rows()));
    EXPECT_LE(t.file_offset + t.nbytes, g->mapping()->size());
  }
}

TEST(GgufTest, OpensEveryTinyModel) {
  int opened = 0;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    auto g = GgufFile::Open(entry.path().string());
    EXPECT_EQ(g->GetString("general.architecture"), "gemma4");
    EXPECT_FALSE(g->tensors().empty());
    for (const TensorView& t : g->tensors()) {
      EXPECT_EQ(t.file_offset % g->alignment(), 0u) << t.name;
      EXPECT_LE(t.file_offset + t.nbytes, g->mapping()->size()) << t.name;
    }
    ++opened;
  }
  EXPECT_GE(opened, 10);
}

TEST(GgufTest, MissingFileNamesThePath) {
  const std::string path = kModels + "/no-such-model.gguf";
  const std::string message = ErrorOf([&] { GgufFile::Open(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// --- synthetic files --------------------------------------------------------------------

// Encodes GGUF pieces by hand, for the value types and layouts the tiny models do not use.
class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    const size_t at = b_.size();
    b_.resize(at + sizeof(T));
    std::memcpy(b_.data() + at, &v, sizeof(T));
    return *this;
  }
  Bytes& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Append(const std::vector<uint8_t>& more) {
    b_.insert(b_.end(), more.begin(), more.end());
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return b_; }
  size_t size() const { return b_.size(); }

 private:
  std::vector<uint8_t> b_;
};

class GgufBuilder {
 public:
  // `value` receives the encoded value (after the type field).
  GgufBuilder& Kv(const std::string& key, GgufType type, const std::function<void(Bytes&)>& value) {
    kvs_.Str(key).Put<uint32_t>(static_cast<uint32_t>(type));
    value(kvs_);
    ++n_kv_;
    return *this;
  }
  GgufBuilder& Tensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& ne,
                      uint64_t offset) {
    infos_.Str(name).Put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) infos_.Put<uint64_t>(d);
    infos_.Put<uint32_t>(type).Put<uint64_t>(offset);
    ++n_tensors_;
    return *this;
  }
  // `data` is the data section, placed at the first `alignment` boundary after the header.
  std::vector<uint8_t> Build(uint32_t version = 3, uint64_t alignment = 32,
                             const std::vector<uint8_t>& data = {}) const {
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(version).Put<uint64_t>(n_tensors_);
    out.Put<uint64_t>(n_kv_).Append(kvs_.bytes()).Append(infos_.bytes());
    while (out.size() % alignment != 0) out.Put<uint8_t>(0);
    out.Append(data);
    return out.bytes();
  }

 private:
  Bytes kvs_;
  Bytes infos_;
  uint64_t n_kv_ = 0;
  uint64_t n_tensors_ = 0;
};

template <typename T>
std::function<void(Bytes&)> Scalar(T v) {
  return [v](Bytes& b) { b.Put<T>(v); };
}
std::function<void(Bytes&)> String(const std::string& s) {
  return [s](Bytes& b) { b.Str(s); };
}
template <typename T>
std::function<void(Bytes&)> Array(GgufType elem, const std::vector<T>& values) {
  return [elem, values](Bytes& b) {
    b.Put<uint32_t>(static_cast<uint32_t>(elem)).Put<uint64_t>(values.size());
    for (const T& v : values) b.Put<T>(v);
  };
}

std::unique_ptr<GgufFile> OpenBytes(const TempFile& file) { return GgufFile::Open(file.path()); }

TEST(GgufTest, EveryValueType) {
  const uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
  GgufBuilder b;
  b.Kv("u8", GgufType::kUint8, Scalar<uint8_t>(200))
      .Kv("i8", GgufType::kInt8, Scalar<int8_t>(-5))
      .Kv("u16", GgufType::kUint16, Scalar<uint16_t>(60000))
      .Kv("i16", GgufType::kInt16, Scalar<int16_t>(-300))
      .Kv("u32", GgufType::kUint32, Scalar<uint32_t>(4000000000u))
      .Kv("i32", GgufType::kInt32, Scalar<int32_t>(-7))
      .Kv("f32", GgufType::kFloat32, Scalar<float>(1.5f))
      .Kv("bool", GgufType::kBool, Scalar<uint8_t>(1))
      .Kv("str", GgufType::kString, String("h\xc3\xa9llo"))
      .Kv("u64", GgufType::kUint64, Scalar<uint64_t>(uint64_t{1} << 40))
      .Kv("i64", GgufType::kInt64, Scalar<int64_t>(-(int64_t{1} << 40)))
      .Kv("f64", GgufType::kFloat64, Scalar<double>(2.25))
      .Kv("u64max", GgufType::kUint64, Scalar<uint64_t>(kU64Max))
      .Kv("arr_i32", GgufType::kArray, Array<int32_t>(GgufType::kInt32, {1, -2, 3}))
      .Kv("arr_bool", GgufType::kArray, Array<uint8_t>(GgufType::kBool, {1, 0}))
      .Kv("arr_f64", GgufType::kArray, Array<double>(GgufType::kFloat64, {0.5, -1.0}))
      .Kv("arr_u64", GgufType::kArray, Array<uint64_t>(GgufType::kUint64, {kU64Max}))
      .Kv("arr_empty", GgufType::kArray, Array<uint8_t>(GgufType::kString, {}))
      .Kv("arr_str", GgufType::kArray,
          [](Bytes& v) {
            v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kString)).Put<uint64_t>(2);
            v.Str("").Str("two");
          })
      .Kv("arr_nested", GgufType::kArray, [](Bytes& v) {
        v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kArray)).Put<uint64_t>(2);
        v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kUint8)).Put<uint64_t>(2);
        v.Put<uint8_t>(1).Put<uint8_t>(2);
        v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kString)).Put<uint64_t>(1).Str("a");
      });
  TempFile file(b.Build());
  auto g = OpenBytes(file);
  EXPECT_EQ(g->version(), 3u);
  EXPECT_TRUE(g->tensors().empty());
  EXPECT_EQ(g->metadata().size(), 20u);
  EXPECT_EQ(g->metadata_order()[0], "u8");
  EXPECT_EQ(g->metadata_order()[19], "arr_nested");
  EXPECT_EQ(g->data_offset() % 32, 0u);

  EXPECT_EQ(g->Find("u8")->type, GgufType::kUint8);
  EXPECT_EQ(g->GetUint("u8"), 200u);
  EXPECT_EQ(g->GetInt("i8"), -5);
  EXPECT_EQ(g->GetUint("u16"), 60000u);
  EXPECT_EQ(g->GetInt("i16"), -300);
  EXPECT_EQ(g->GetUint("u32"), 4000000000u);
  EXPECT_EQ(g->GetInt("i32"), -7);
  EXPECT_EQ(g->GetFloat("f32"), 1.5);
  EXPECT_TRUE(g->GetBool("bool"));
  EXPECT_EQ(g->GetString("str"), "h\xc3\xa9llo");
  EXPECT_EQ(g->GetUint("u64"), uint64_t{1} << 40);
  EXPECT_EQ(g->GetInt("i64"), -(int64_t{1} << 40));
  EXPECT_EQ(g->GetFloat("f64"), 2.25);
  EXPECT_EQ(g->GetUint("u64max"), kU64Max);
  EXPECT_EQ(g->GetFloat("i16"), -300.0);

  // Values that exist but do not fit the getter.
  EXPECT_NE(ErrorOf([&] { g->GetUint("i8"); }).find("'i8' is -5"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { g->GetInt("u64max"); }).find("does not fit in int64"), std::string::npos);
  EXPECT_NE(ErrorOf([&] { g->GetIntArray("arr_u64"); }).find("element 0"), std::string::npos);

  // GgufValue helpers.
  EXPECT_TRUE(g->Find("i64")->is_integer());
  EXPECT_FALSE(g->Find("bool")->is_integer());
  EXPECT_FALSE(g->Find("bool")->is_number());
  EXPECT_TRUE(g->Find("f32")->is_number());
  EXPECT_EQ(g->Find("bool")->as_int(), 1);
  EXPECT_EQ(g->Find("bool")->as_double(), 1.0);
  EXPECT_FALSE(g->Find("str")->as_double().has_value());
  EXPECT_FALSE(g->Find("u64max")->as_int().has_value());
  EXPECT_FALSE(g->Find("f64")->as_int().has_value());

  EXPECT_EQ(g->GetIntArray("arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(g->GetFloatArray("arr_i32"), (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(g->GetIntArray("arr_bool"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(g->GetFloatArray("arr_f64"), (std::vector<double>{0.5, -1.0}));
  EXPECT_TRUE(g->GetStringArray("arr_empty").empty());
  EXPECT_EQ(g->GetStringArray("arr_str"), (std::vector<std::string>{"", "two"}));

  const GgufValue* nested = g->Find("arr_nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->elem_type, GgufType::kArray);
  ASSERT_EQ(nested->array.size(), 2u);
  EXPECT_EQ(nested->array[0].elem_type, GgufType::kUint8);
  ASSERT_EQ(nested->array[0].array.size(), 2u);
  EXPECT_EQ(nested->array[0].array[1].u64, 2u);
  EXPECT_EQ(nested->array[1].elem_type, GgufType::kString);
  ASSERT_EQ(nested->array[1].array.size(), 1u);
  EXPECT_EQ(nested->array[1].array[0].str, "a");
  EXPECT_NE(ErrorOf([&] { g->GetIntArray("arr_nested"); }).find("has type array of array"),
            std::string::npos);
}

TEST(GgufTest, EmptyVersion2File) {
  TempFile file(GgufBuilder().Build(2));
  auto g = OpenBytes(file);
  EXPECT_EQ(g->version(), 2u);
  EXPECT_TRUE(g->metadata().empty());
  EXPECT_TRUE(g->tensors().empty());
  EXPECT_EQ(g->data_offset(), 32u);  // 24-byte header rounded up
}

TEST(GgufTest, HonoursGeneralAlignment) {
  std::vector<uint8_t> data(64 + 12);
  const float a[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  std::memcpy(data.data(), a, sizeof(a));
  const uint16_t h[6] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0xbc00};  // 1 2 3 4 5 -1
  std::memcpy(data.data() + 64, h, sizeof(h));
  GgufBuilder b;
  b.Kv("general.alignment", GgufType::kUint32, Scalar<uint32_t>(64))
      .Tensor("a", 0, {4}, 0)
      .Tensor("b", 1, {2, 3}, 64)
      .Tensor("scalar", 0, {}, 0);  // 0-d: one value
  TempFile file(b.Build(3, 64, data));
  auto g = OpenBytes(file);
  EXPECT_EQ(g->alignment(), 64u);
  EXPECT_EQ(g->data_offset() % 64, 0u);
  const TensorView* ta = g->FindTensor("a");
  const TensorView* tb = g->FindTensor("b");
  const TensorView* ts = g->FindTensor("scalar");
  ASSERT_TRUE(ta && tb && ts);
  EXPECT_EQ(ta->file_offset, g->data_offset());
  EXPECT_EQ(tb->file_offset, g->data_offset() + 64);
  EXPECT_EQ(tb->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tb->nbytes, 12u);
  EXPECT_EQ(ts->shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(ts->nbytes, 4u);
  std::vector<float> out(6);
  DequantizeRow(ta->type, ta->data, out.data(), 4);
  EXPECT_EQ(out[3], 3.0f);
  DequantizeRow(tb->type, tb->data, out.data(), 6);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 5, -1}));

  // 32-aligned is not enough once the file asks for 64.
  GgufBuilder bad;
  bad.Kv("general.alignment", GgufType::kUint32, Scalar<uint32_t>(64)).Tensor("b", 1, {2, 3}, 32);
  ExpectRejected(bad.Build(3, 64, data), {"tensor 'b'", "not a multiple of the alignment 64"});
}

TEST(GgufTest, RejectsBadAlignment) {
  for (uint32_t alignment : {0u, 48u, 3u}) {
    GgufBuilder b;
    b.Kv("general.alignment", GgufType::kUint32, Scalar<uint32_t>(alignment));
    ExpectRejected(b.Build(), {"'general.alignment'", "alignment " + std::to_string(alignment),
                               "power of two"});
  }
  GgufBuilder b;
  b.Kv("general.alignment", GgufType::kString, String("32"));
  ExpectRejected(b.Build(), {"'general.alignment'", "has type string"});
}

TEST(GgufTest, RejectsDeeplyNestedArrays) {
  GgufBuilder b;
  b.Kv("deep", GgufType::kArray, [](Bytes& v) {
    for (int i = 0; i < 40; ++i) v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kArray)).Put<uint64_t>(1);
    v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kUint8)).Put<uint64_t>(0);
  });
  ExpectRejected(b.Build(), {"'deep'", "nested"});
}

TEST(GgufTest, RejectsMetadataBeyondElementLimit) {
  // Legal encoding, but more array elements than any real vocabulary needs.
  const uint64_t n = (uint64_t{1} << 23) + 1;
  GgufBuilder b;
  b.Kv("big", GgufType::kArray, [n](Bytes& v) {
    v.Put<uint32_t>(static_cast<uint32_t>(GgufType::kUint8)).Put<uint64_t>(n);
    v.Append(std::vector<uint8_t>(n, 7));
  });
  ExpectRejected(b.Build(), {"'big'", "limit"});
}

}  // namespace
}  // namespace g4
