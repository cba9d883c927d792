// GgufWriter: round trip through GgufFile, alignment and padding, the .tmp file protocol, and
// misuse errors.
#include "model/gguf_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "model/gguf.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("g4_gguf_writer_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> Bytes(size_t n, uint8_t first) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + 7 * i);
  return v;
}

TEST_F(GgufWriterTest, RoundTripsMetadataAndTensors) {
  const std::string path = Path("m.gguf");
  const std::vector<uint8_t> f32_data = Bytes(4 * 8 * 3, 1);      // {8, 3} F32
  const std::vector<uint8_t> q8_data = Bytes(34 * 2 * 2, 50);     // {64, 2} Q8_0
  const std::vector<uint8_t> q4_data = Bytes(18 * 1 * 2 * 3, 9);  // {32, 2, 3} Q4_0
  const std::vector<uint8_t> bf16_data = Bytes(2 * 5, 200);       // {5} BF16 (unaligned size)
  {
    GgufWriter w(path);
    w.SetString("general.architecture", "gemma4");
    w.SetUint32("a.u32", 4000000000u);
    w.SetInt32("a.i32", -7);
    w.SetUint64("a.u64", 1ull << 40);
    w.SetFloat32("a.f32", 1e-6f);
    w.SetBool("a.bool", true);
    w.SetInt32Array("a.i32s", {1, -2, 3});
    w.SetUint32Array("a.u32s", {5, 6});
    w.SetFloat32Array("a.f32s", {0.5f, -1e30f});
    w.SetBoolArray("a.bools", {true, false, true});
    w.SetStringArray("a.strs", {"<pad>", "", "\xe2\x96\x81the"});
    w.SetInt32Array("a.empty", {});
    w.DeclareTensor("t.f32", DType::kF32, {8, 3});
    w.DeclareTensor("t.bf16", DType::kBF16, {5});
    w.DeclareTensor("t.q8", DType::kQ8_0, {64, 2});
    w.DeclareTensor("t.q4", DType::kQ4_0, {32, 2, 3});
    w.WriteHeader();
    w.WriteTensorData(f32_data.data(), f32_data.size());
    w.WriteTensorData(bf16_data.data(), bf16_data.size());
    // In pieces, as the random-model tool streams row chunks.
    w.WriteTensorData(q8_data.data(), 10);
    w.WriteTensorData(q8_data.data() + 10, q8_data.size() - 10);
    w.WriteTensorData(q4_data.data(), q4_data.size());
    w.Finish();
  }
  auto g = GgufFile::Open(path);
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->Find("general.alignment"), nullptr);
  const std::vector<std::string> order = {"general.architecture",
                                          "a.u32",
                                          "a.i32",
                                          "a.u64",
                                          "a.f32",
                                          "a.bool",
                                          "a.i32s",
                                          "a.u32s",
                                          "a.f32s",
                                          "a.bools",
                                          "a.strs",
                                          "a.empty"};
  EXPECT_EQ(g->metadata_order(), order);
  EXPECT_EQ(g->GetString("general.architecture"), "gemma4");
  EXPECT_EQ(g->Find("a.u32")->type, GgufType::kUint32);
  EXPECT_EQ(g->GetUint("a.u32"), 4000000000u);
  EXPECT_EQ(g->Find("a.i32")->type, GgufType::kInt32);
  EXPECT_EQ(g->GetInt("a.i32"), -7);
  EXPECT_EQ(g->Find("a.u64")->type, GgufType::kUint64);
  EXPECT_EQ(g->GetUint("a.u64"), 1ull << 40);
  EXPECT_EQ(g->Find("a.f32")->type, GgufType::kFloat32);
  EXPECT_FLOAT_EQ(static_cast<float>(g->GetFloat("a.f32")), 1e-6f);
  EXPECT_TRUE(g->GetBool("a.bool"));
  EXPECT_EQ(g->Find("a.i32s")->elem_type, GgufType::kInt32);
  EXPECT_EQ(g->GetIntArray("a.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(g->Find("a.u32s")->elem_type, GgufType::kUint32);
  EXPECT_EQ(g->GetIntArray("a.u32s"), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(g->Find("a.f32s")->elem_type, GgufType::kFloat32);
  EXPECT_EQ(g->GetFloatArray("a.f32s"), (std::vector<double>{0.5, static_cast<double>(-1e30f)}));
  EXPECT_EQ(g->Find("a.bools")->elem_type, GgufType::kBool);
  EXPECT_EQ(g->GetIntArray("a.bools"), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(g->GetStringArray("a.strs"),
            (std::vector<std::string>{"<pad>", "", "\xe2\x96\x81the"}));
  EXPECT_TRUE(g->Find("a.empty")->array.empty());

  ASSERT_EQ(g->tensors().size(), 4u);
  struct Expect {
    const char* name;
    DType type;
    std::vector<int64_t> shape;
    const std::vector<uint8_t>* data;
  };
  const Expect expect[] = {{"t.f32", DType::kF32, {8, 3}, &f32_data},
                           {"t.bf16", DType::kBF16, {5}, &bf16_data},
                           {"t.q8", DType::kQ8_0, {64, 2}, &q8_data},
                           {"t.q4", DType::kQ4_0, {32, 2, 3}, &q4_data}};
  for (size_t i = 0; i < 4; ++i) {
    const TensorView& t = g->tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, expect[i].name);
    EXPECT_EQ(t.type, expect[i].type);
    EXPECT_EQ(t.shape, expect[i].shape);
    ASSERT_EQ(t.nbytes, expect[i].data->size());
    EXPECT_EQ(std::memcmp(t.data, expect[i].data->data(), t.nbytes), 0);
    EXPECT_EQ(t.file_offset % 32, 0u);
  }
  // ggml's writer pads the last tensor too, so the file ends aligned.
  EXPECT_EQ(fs::file_size(path) % 32, 0u);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(GgufWriterTest, HonoursNonDefaultAlignmentWithZeroPadding) {
  const std::string path = Path("a.gguf");
  const std::vector<uint8_t> a = Bytes(3 * 4, 0xff);  // 12 bytes: needs 52 bytes of padding
  const std::vector<uint8_t> b = Bytes(2 * 34, 0xee);
  {
    GgufWriter w(path, 64);
    w.SetString("general.architecture", "test");
    w.DeclareTensor("a", DType::kF32, {3});
    w.DeclareTensor("b", DType::kQ8_0, {32, 2});
    w.WriteHeader();
    w.WriteTensorData(a.data(), a.size());
    w.WriteTensorData(b.data(), b.size());
    w.Finish();
  }
  auto g = GgufFile::Open(path);
  EXPECT_EQ(g->alignment(), 64u);
  EXPECT_EQ(g->GetUint("general.alignment"), 64u);
  EXPECT_EQ(g->data_offset() % 64, 0u);
  ASSERT_EQ(g->tensors().size(), 2u);
  for (const TensorView& t : g->tensors()) EXPECT_EQ(t.file_offset % 64, 0u) << t.name;
  EXPECT_EQ(g->tensors()[1].file_offset - g->tensors()[0].file_offset, 64u);
  EXPECT_EQ(std::memcmp(g->tensors()[1].data, b.data(), b.size()), 0);

  const std::vector<uint8_t> file = ReadAll(path);
  ASSERT_EQ(file.size() % 64, 0u);
  const uint64_t a_end = g->tensors()[0].file_offset + a.size();
  for (uint64_t i = a_end; i < g->tensors()[1].file_offset; ++i) ASSERT_EQ(file[i], 0) << i;
  for (uint64_t i = g->tensors()[1].file_offset + b.size(); i < file.size(); ++i)
    ASSERT_EQ(file[i], 0) << i;
}

TEST_F(GgufWriterTest, WritesToTmpAndRenamesOnlyOnFinish) {
  const std::string path = Path("t.gguf");
  const std::vector<uint8_t> data = Bytes(16, 3);
  {
    GgufWriter w(path);
    w.DeclareTensor("x", DType::kF32, {4});
    w.WriteHeader();
    EXPECT_TRUE(fs::exists(path + ".tmp"));
    EXPECT_FALSE(fs::exists(path));
    w.WriteTensorData(data.data(), data.size());
    w.Finish();
    EXPECT_TRUE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  }
  EXPECT_TRUE(fs::exists(path));  // the destructor leaves a finished file alone
}

TEST_F(GgufWriterTest, UnfinishedWriteLeavesNoFile) {
  const std::string path = Path("u.gguf");
  {
    GgufWriter w(path);
    w.DeclareTensor("x", DType::kF32, {4});
    w.WriteHeader();
    const float half[2] = {1, 2};
    w.WriteTensorData(half, sizeof half);
    EXPECT_TRUE(fs::exists(path + ".tmp"));
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GgufWriterTest, FinishRejectsMissingTensorBytes) {
  const std::string path = Path("m.gguf");
  GgufWriter w(path);
  w.DeclareTensor("x", DType::kF32, {4});
  w.DeclareTensor("y", DType::kF32, {4});
  w.WriteHeader();
  const float v[4] = {};
  w.WriteTensorData(v, sizeof v);
  EXPECT_THROW(w.Finish(), Error);
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GgufWriterTest, RejectsMisuse) {
  const std::string path = Path("e.gguf");
  GgufWriter w(path);
  w.SetUint32("k", 1);
  EXPECT_THROW(w.SetString("k", "again"), Error);
  // A Q4_0 row must hold whole 32-value blocks.
  EXPECT_THROW(w.DeclareTensor("bad", DType::kQ4_0, {48, 2}), Error);
  EXPECT_THROW(w.DeclareTensor("five", DType::kF32, {1, 1, 1, 1, 1}), Error);
  w.DeclareTensor("x", DType::kF32, {2});
  EXPECT_THROW(w.DeclareTensor("x", DType::kF32, {2}), Error);
  w.WriteHeader();
  EXPECT_THROW(w.SetUint32("late", 1), Error);
  EXPECT_THROW(w.DeclareTensor("late", DType::kF32, {2}), Error);
  const float v[3] = {1, 2, 3};
  EXPECT_THROW(w.WriteTensorData(v, sizeof v), Error);  // 12 bytes into an 8-byte tensor
  w.WriteTensorData(v, 8);
  EXPECT_THROW(w.WriteTensorData(v, 4), Error);  // past the last tensor
  w.Finish();
  EXPECT_THROW((void)GgufWriter(Path("x.gguf"), 48), Error);
}

TEST_F(GgufWriterTest, CreateFailsInMissingDirectory) {
  GgufWriter w(Path("no/such/dir/m.gguf"));
  w.DeclareTensor("x", DType::kF32, {1});
  EXPECT_THROW(w.WriteHeader(), Error);
}

TEST_F(GgufWriterTest, WritesLargeStringArrays) {
  // A real Gemma vocabulary is 262144 strings; the header is written in one piece.
  const std::string path = Path("v.gguf");
  std::vector<std::string> tokens;
  for (int i = 0; i < 262144; ++i) tokens.push_back("tok" + std::to_string(i));
  {
    GgufWriter w(path);
    w.SetStringArray("tokenizer.ggml.tokens", tokens);
    w.DeclareTensor("x", DType::kF16, {2});
    w.WriteHeader();
    const uint16_t h[2] = {FloatToHalf(1.0f), FloatToHalf(-2.0f)};
    w.WriteTensorData(h, sizeof h);
    w.Finish();
  }
  auto g = GgufFile::Open(path);
  EXPECT_EQ(g->GetStringArray("tokenizer.ggml.tokens"), tokens);
  float back[2];
  DequantizeRow(DType::kF16, g->tensors()[0].data, back, 2);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], -2.0f);
}

}  // namespace
}  // namespace g4
