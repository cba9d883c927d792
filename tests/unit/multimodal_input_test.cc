// Bad input to the multimodal encoders: damaged mmproj files, tensors of the wrong shape or
// missing, empty / corrupt / oversized PNGs, images the encoder cannot take as is, empty audio.
// Each must end in a g4::Error that names what is wrong, never a crash.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "gguf_test_util.h"
#include "media/image.h"
#include "model/gemma4_audio.h"
#include "model/gemma4_vision.h"
#include "model/mmproj.h"

namespace g4 {
namespace {

using gguf_test::ErrorOf;
using gguf_test::ReadAll;
using gguf_test::TempFile;

const std::string kDir = std::string(G4_TEST_DATA_DIR) + "/multimodal/";
const std::string kMmproj = kDir + "models/tiny.mmproj.f32.gguf";
const std::string kPng = kDir + "preproc/img_64x64.llamacpp.png";

void ExpectContains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

// ---- mmproj files ---------------------------------------------------------------------------

TEST(VisionLoader, ReadsTheTinyTowersFromTheirTensors) {
  auto small = MultimodalTowers::LoadMmproj(kMmproj);
  ASSERT_NE(small->vision(), nullptr);
  const VisionConfig& c = small->vision()->config;
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.ff_dim, 128);
  EXPECT_EQ(c.patch_size, 16);
  EXPECT_EQ(c.position_table_size, 1024);
  EXPECT_EQ(c.pooling, 3);
  EXPECT_EQ(c.text_width, 128);
  EXPECT_TRUE(c.clipped);
  EXPECT_FALSE(c.standardize);
  const ClipBounds& q = small->vision()->weights.layers[0].q.bounds;
  EXPECT_LT(q.in_min, -1.5f);
  EXPECT_GT(q.out_max, 1.5f);

  auto large = MultimodalTowers::LoadMmproj(kDir + "models/tiny-large-vision.mmproj.f32.gguf");
  ASSERT_NE(large->vision(), nullptr);
  EXPECT_EQ(large->vision()->config.head_dim, 24);
  EXPECT_EQ(large->vision()->config.ff_dim, 160);
  EXPECT_TRUE(large->vision()->config.standardize);
  EXPECT_FALSE(large->vision()->config.clipped);
  EXPECT_FALSE(large->vision()->weights.layers[1].down.bounds.clamps_input());
}

TEST(VisionLoader, TruncatedMmprojIsAnError) {
  const std::vector<uint8_t> bytes = ReadAll(kMmproj);
  for (size_t keep : {size_t{0}, size_t{3}, size_t{20}, size_t{500}, size_t{5000}, bytes.size() / 2, bytes.size() - 1}) {
    TempFile file(std::vector<uint8_t>(bytes.begin(), bytes.begin() + keep));
    const std::string message = ErrorOf([&] { MultimodalTowers::LoadMmproj(file.path()); });
    EXPECT_NE(message, "(no error)") << "kept " << keep << " bytes";
    ExpectContains(message, {file.path()});
  }
}

TEST(VisionLoader, WrongTensorShapeNamesTheTensor) {
  std::vector<uint8_t> bytes = ReadAll(kMmproj);
  const gguf_test::Layout layout = gguf_test::Walker(bytes).Walk();
  gguf_test::Poke<uint64_t>(bytes, layout.tensor("v.blk.0.attn_k.weight").ne_at + 8, 32);  // [64, 64] -> [64, 32]
  TempFile file(bytes);
  ExpectContains(ErrorOf([&] { MultimodalTowers::LoadMmproj(file.path()); }),
                 {file.path(), "v.blk.0.attn_k.weight", "has shape [64, 32], expected [64, 64]", "vision layer 0"});
}

TEST(VisionLoader, MissingTensorIsNamed) {
  std::vector<uint8_t> bytes = ReadAll(kMmproj);
  const gguf_test::Layout layout = gguf_test::Walker(bytes).Walk();
  const std::string name = "v.blk.1.ffn_down.weight";
  // Rename it in place (same length), so the file stays valid but the tensor is gone.
  bytes[layout.tensor(name).at + 8 + name.find("down")] = 'X';
  TempFile file(bytes);
  ExpectContains(ErrorOf([&] { MultimodalTowers::LoadMmproj(file.path()); }), {file.path(), name, "is missing"});
}

TEST(VisionLoader, MetadataMustAgreeWithTensors) {
  std::vector<uint8_t> bytes = ReadAll(kMmproj);
  const gguf_test::Layout layout = gguf_test::Walker(bytes).Walk();
  gguf_test::Poke<uint32_t>(bytes, layout.kv("clip.vision.attention.head_count").value_at, 8);
  TempFile file(bytes);
  ExpectContains(ErrorOf([&] { MultimodalTowers::LoadMmproj(file.path()); }),
                 {"clip.vision.attention.head_count = 8", "disagrees with the tensors (4)"});
}

TEST(AudioLoader, ReadsTheTinyConformerAndNamesBadTensors) {
  auto towers = MultimodalTowers::LoadMmproj(kMmproj);
  ASSERT_NE(towers->audio(), nullptr);
  const AudioConfig& c = towers->audio()->config;
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.ff_dim, 256);
  EXPECT_EQ(c.conv0_channels, 16);
  EXPECT_EQ(c.conv1_channels, 8);
  EXPECT_EQ(c.conv_kernel, 5);
  EXPECT_EQ(c.output_dim, 96);
  EXPECT_EQ(c.text_width, 128);

  std::vector<uint8_t> bytes = ReadAll(kMmproj);
  const gguf_test::Layout layout = gguf_test::Walker(bytes).Walk();
  gguf_test::Poke<uint64_t>(bytes, layout.tensor("a.blk.1.attn_k_rel.weight").ne_at, 32);  // [64, 64] -> [64, 32]
  TempFile file(bytes);
  ExpectContains(ErrorOf([&] { MultimodalTowers::LoadMmproj(file.path()); }),
                 {file.path(), "a.blk.1.attn_k_rel.weight", "has shape [32, 64], expected [64, 64]", "audio layer 1"});
}

TEST(AudioEncoder, ClipWithoutFramesIsAnError) {
  auto towers = MultimodalTowers::LoadMmproj(kMmproj);
  Gemma4AudioEncoder encoder(*towers->audio(), 1);
  const std::vector<float> pcm(100, 0.0f);  // 6 ms: no 20 ms frame fits
  ExpectContains(ErrorOf([&] { encoder.EncodePcm(pcm.data(), 100); }), {"no log-mel frames"});
}

TEST(VisionLoader, TextModelIsNotAnMmproj) {
  const std::string text = std::string(G4_TEST_DATA_DIR) + "/models/tiny-e2b.f32.gguf";
  ExpectContains(ErrorOf([&] { MultimodalTowers::LoadMmproj(text); }), {text, "not an mmproj file"});
}

TEST(VisionLoader, ProjectionWidthMustMatchTheTextModel) {
  auto towers = MultimodalTowers::LoadMmproj(kMmproj);
  EXPECT_EQ(ErrorOf([&] { towers->CheckTextWidth(128, "text.gguf"); }), "(no error)");
  ExpectContains(ErrorOf([&] { towers->CheckTextWidth(64, "text.gguf"); }), {"width 128", "text.gguf", "width 64"});
}

// ---- PNG decoding ---------------------------------------------------------------------------

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void AppendBigEndian(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void AppendChunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  AppendBigEndian(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  AppendBigEndian(out, Crc32(&out[start], out.size() - start));
}

// A well-formed PNG header (valid CRCs) claiming width × height RGB pixels, with a tiny IDAT.
std::vector<uint8_t> PngClaiming(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  AppendBigEndian(ihdr, width);
  AppendBigEndian(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, no filter, no interlace
  AppendChunk(png, "IHDR", ihdr);
  AppendChunk(png, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  AppendChunk(png, "IEND", {});
  return png;
}

TEST(ImageDecode, ReadsTheGoldenPng) {
  const Image image = DecodeImageFile(kPng);
  EXPECT_EQ(image.width, 336);
  EXPECT_EQ(image.height, 336);
  EXPECT_EQ(image.rgb.size(), 336u * 336u * 3u);
}

TEST(ImageDecode, EmptyFileIsAnError) {
  TempFile file(std::vector<uint8_t>{});
  ExpectContains(ErrorOf([&] { DecodeImageFile(file.path()); }), {file.path(), "empty (0 bytes)"});
}

TEST(ImageDecode, TruncatedAndCorruptPngsAreErrors) {
  const std::vector<uint8_t> bytes = ReadAll(kPng);
  for (size_t keep : {size_t{8}, size_t{30}, bytes.size() / 2, bytes.size() - 13}) {
    TempFile file(std::vector<uint8_t>(bytes.begin(), bytes.begin() + keep));
    ExpectContains(ErrorOf([&] { DecodeImageFile(file.path()); }), {file.path(), "PNG"});
  }
  std::vector<uint8_t> flipped = bytes;
  for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) flipped[i] ^= 0x5a;
  TempFile file(flipped);
  ExpectContains(ErrorOf([&] { DecodeImageFile(file.path()); }), {file.path(), "PNG"});
}

TEST(ImageDecode, UnknownFormatIsAnError) {
  const std::string text = "this is not an image";
  TempFile file(std::vector<uint8_t>(text.begin(), text.end()));
  ExpectContains(ErrorOf([&] { DecodeImageFile(file.path()); }), {file.path(), "unsupported image format"});
}

// 50000 × 50000 RGB would be 7.5 GB: refused from the header, before anything is allocated.
TEST(ImageDecode, HugeImageIsRefusedFromItsHeader) {
  TempFile file(PngClaiming(50000, 50000));
  ExpectContains(ErrorOf([&] { DecodeImageFile(file.path()); }),
                 {file.path(), "50000x50000", "nothing was allocated"});
  // A small claim with the same (empty) data gets past the size check and fails on the data.
  TempFile small(PngClaiming(4, 4));
  ExpectContains(ErrorOf([&] { DecodeImageFile(small.path()); }), {small.path(), "corrupt PNG data"});
}

// ---- Encoder input --------------------------------------------------------------------------

TEST(VisionEncoder, RefusesSizesThatAreNotWholePoolingBlocks) {
  auto towers = MultimodalTowers::LoadMmproj(kMmproj);
  Gemma4VisionEncoder encoder(*towers->vision(), 1);
  Image image;
  image.width = 100;
  image.height = 96;
  image.rgb.assign(100 * 96 * 3, 128);
  ExpectContains(ErrorOf([&] { encoder.Encode(image); }), {"100x96", "multiples of 48"});
  // 1024 patch positions per side: 16416 pixels (1026 patches) is past the table.
  image.width = 16416;
  image.height = 48;
  image.rgb.assign(static_cast<size_t>(16416) * 48 * 3, 0);
  ExpectContains(ErrorOf([&] { encoder.Encode(image); }), {"1026x3 patch grid", "1024 patches per side"});
}

}  // namespace
}  // namespace g4
