// Corrupted copies of a real tiny GGUF: every one must be rejected with g4::Error naming the
// file and the key, tensor or byte offset at fault, and random damage must never crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/gguf.h"
#include "unit/gguf_test_util.h"

namespace g4 {
namespace {

using gguf_test::kTinyQ4;
using gguf_test::ReadAll;
using gguf_test::TempFile;
using gguf_test::Poke;
using gguf_test::ExpectRejected;
using gguf_test::At;
using gguf_test::Layout;
using gguf_test::KvLayout;
using gguf_test::TensorLayout;
using gguf_test::Walker;

class GgufCorruptionTest : public testing::Test {
 protected:
  void SetUp() override {
    original_ = ReadAll(kTinyQ4);
    ASSERT_GT(original_.size(), 100000u);
    layout_ = Walker(original_).Walk();
    ASSERT_EQ(layout_.kvs.size(), 39u);
    ASSERT_EQ(layout_.tensors.size(), 240u);
    bytes_ = original_;
  }
  std::vector<uint8_t> original_;
  std::vector<uint8_t> bytes_;
  Layout layout_;
};

TEST_F(GgufCorruptionTest, BadMagic) {
  bytes_[0] = 'X';
  ExpectRejected(bytes_, {"magic", "XGUF", At(0)});
  bytes_[0] = 0;
  ExpectRejected(bytes_, {"magic", "\\x00GUF"});
}

TEST_F(GgufCorruptionTest, UnsupportedVersions) {
  Poke<uint32_t>(bytes_, 4, 1);
  ExpectRejected(bytes_, {"version 1", At(4)});
  Poke<uint32_t>(bytes_, 4, 99);
  ExpectRejected(bytes_, {"version 99", At(4)});
  Poke<uint32_t>(bytes_, 4, 0x03000000);
  ExpectRejected(bytes_, {"big-endian"});
}

TEST_F(GgufCorruptionTest, AcceptsVersion2) {
  Poke<uint32_t>(bytes_, 4, 2);
  TempFile file(bytes_);
  auto g = GgufFile::Open(file.path());
  EXPECT_EQ(g->version(), 2u);
  EXPECT_EQ(g->tensors().size(), 240u);
}

TEST_F(GgufCorruptionTest, TruncatedHeader) {
  for (size_t size : {0, 2, 4, 7, 12, 20}) {
    SCOPED_TRACE(size);
    ExpectRejected(std::vector<uint8_t>(original_.begin(), original_.begin() + size),
                   {"truncated"});
  }
}

TEST_F(GgufCorruptionTest, TruncatedInsideMetadata) {
  // Inside a string value, inside an array of strings, right at the start of a pair, and
  // inside a scalar value.
  const KvLayout& arch = layout_.kv("general.architecture");
  const KvLayout& tokens = layout_.kv("tokenizer.ggml.tokens");
  const KvLayout& blocks = layout_.kv("gemma4.block_count");
  struct Case {
    uint64_t size;
    std::string fragment;
  };
  const Case cases[] = {
      {arch.value_at + 10, "general.architecture"},
      {tokens.value_at + 2000, "tokenizer.ggml.tokens"},
      {blocks.at, "metadata pair #7 (" + At(blocks.at) + ")"},
      {blocks.value_at + 2, "gemma4.block_count"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.size);
    ExpectRejected(std::vector<uint8_t>(original_.begin(), original_.begin() + c.size),
                   {"truncated", c.fragment});
  }
}

TEST_F(GgufCorruptionTest, TruncatedInsideTensorDirectory) {
  const TensorLayout& t = layout_.tensors[5];
  ExpectRejected(std::vector<uint8_t>(original_.begin(), original_.begin() + t.ne_at + 3),
                 {"truncated", "'" + t.name + "'", At(t.at)});
}

TEST_F(GgufCorruptionTest, TruncatedInsideTensorData) {
  for (uint64_t cut : {uint64_t{1}, uint64_t{100}, uint64_t{5000}, original_.size() / 2}) {
    const uint64_t size = original_.size() - cut;
    // The first tensor (in directory order) whose data no longer fits must be named.
    const TensorLayout* victim = nullptr;
    auto g = GgufFile::Open(kTinyQ4);
    for (size_t i = 0; i < layout_.tensors.size(); ++i) {
      if (g->tensors()[i].file_offset + g->tensors()[i].nbytes > size) {
        victim = &layout_.tensors[i];
        break;
      }
    }
    if (victim == nullptr) continue;  // only trailing padding was cut
    SCOPED_TRACE(victim->name);
    ExpectRejected(std::vector<uint8_t>(original_.begin(), original_.begin() + size),
                   {"'" + victim->name + "'", "past the end of the file", std::to_string(size)});
  }
}

TEST_F(GgufCorruptionTest, AbsurdCounts) {
  Poke<uint64_t>(bytes_, 16, uint64_t{1} << 60);
  ExpectRejected(bytes_, {"n_kv = 1152921504606846976", At(16)});
  bytes_ = original_;
  Poke<uint64_t>(bytes_, 8, uint64_t{1} << 60);
  ExpectRejected(bytes_, {"n_tensors = 1152921504606846976", At(8)});
  bytes_ = original_;
  Poke<uint64_t>(bytes_, 16, ~uint64_t{0});
  ExpectRejected(bytes_, {"n_kv", At(16)});
  // Plausible-looking but too many: runs off the end of the file.
  bytes_ = original_;
  Poke<uint64_t>(bytes_, 8, 30000);
  ExpectRejected(bytes_, {"n_tensors = 30000", At(8)});
}

TEST_F(GgufCorruptionTest, AbsurdStringLengths) {
  // The first key's length (at byte 24).
  Poke<uint64_t>(bytes_, 24, uint64_t{1} << 62);
  ExpectRejected(bytes_, {"key length 4611686018427387904", At(24)});
  // A string value's length.
  bytes_ = original_;
  const KvLayout& arch = layout_.kv("general.architecture");
  Poke<uint64_t>(bytes_, arch.value_at, ~uint64_t{0});
  ExpectRejected(bytes_, {"'general.architecture'", At(arch.value_at), "string length"});
  // A tensor name's length.
  bytes_ = original_;
  const TensorLayout& t = layout_.tensors[3];
  Poke<uint64_t>(bytes_, t.at, uint64_t{1} << 40);
  ExpectRejected(bytes_, {"tensor #3", At(t.at), "name length"});
}

TEST_F(GgufCorruptionTest, AbsurdArrayLengths) {
  const KvLayout& tokens = layout_.kv("tokenizer.ggml.tokens");
  Poke<uint64_t>(bytes_, tokens.value_at + 4, uint64_t{1} << 61);
  ExpectRejected(bytes_, {"'tokenizer.ggml.tokens'", "array length 2305843009213693952",
                          At(tokens.value_at + 4)});
  bytes_ = original_;
  const KvLayout& scores = layout_.kv("tokenizer.ggml.scores");
  Poke<uint64_t>(bytes_, scores.value_at + 4, uint64_t{1} << 40);
  ExpectRejected(bytes_, {"'tokenizer.ggml.scores'", "array length", At(scores.value_at + 4)});
  // Fits the count check (a byte each) but the strings run off the end.
  bytes_ = original_;
  Poke<uint64_t>(bytes_, tokens.value_at + 4, 70000);
  ExpectRejected(bytes_, {"'tokenizer.ggml.tokens'"});
}

TEST_F(GgufCorruptionTest, UnknownMetadataTypes) {
  const KvLayout& blocks = layout_.kv("gemma4.block_count");
  Poke<uint32_t>(bytes_, blocks.type_at, 13);
  ExpectRejected(bytes_, {"'gemma4.block_count'", "unknown value type 13", At(blocks.type_at)});
  bytes_ = original_;
  const KvLayout& ffn = layout_.kv("gemma4.feed_forward_length");
  Poke<uint32_t>(bytes_, ffn.value_at, 0xdead);
  ExpectRejected(bytes_, {"'gemma4.feed_forward_length'", "unknown array element type 57005",
                          At(ffn.value_at)});
}

TEST_F(GgufCorruptionTest, DuplicateMetadataKey) {
  const KvLayout& eos = layout_.kv("tokenizer.ggml.eos_token_id");
  bytes_[eos.at + 8 + std::string("tokenizer.ggml.").size()] = 'b';  // eos -> bos
  ExpectRejected(bytes_, {"duplicate metadata key", "'tokenizer.ggml.bos_token_id'", At(eos.at)});
}

TEST_F(GgufCorruptionTest, UnknownTensorType) {
  const TensorLayout& t = layout_.tensor("blk.0.attn_q.weight");
  Poke<uint32_t>(bytes_, t.type_at, 99);
  ExpectRejected(bytes_, {"tensor 'blk.0.attn_q.weight'", "unknown type id 99", At(t.at)});
  Poke<uint32_t>(bytes_, t.type_at, 4);  // a retired ggml id
  ExpectRejected(bytes_, {"tensor 'blk.0.attn_q.weight'", "unknown type id 4"});
}

TEST_F(GgufCorruptionTest, MisalignedOffset) {
  const TensorLayout& t = layout_.tensor("blk.0.attn_k.weight");
  Poke<uint64_t>(bytes_, t.offset_at, t.offset + 1);
  ExpectRejected(bytes_, {"tensor 'blk.0.attn_k.weight'", "not a multiple of the alignment 32",
                          std::to_string(t.offset + 1), At(t.offset_at)});
}

TEST_F(GgufCorruptionTest, OffsetPastEndOfFile) {
  const TensorLayout& t = layout_.tensor("blk.2.ffn_up.weight");
  Poke<uint64_t>(bytes_, t.offset_at, uint64_t{1} << 40);
  ExpectRejected(bytes_, {"tensor 'blk.2.ffn_up.weight'", "past the end of the file", At(t.at)});
  // An offset that wraps around when the data section start is added.
  Poke<uint64_t>(bytes_, t.offset_at, ~uint64_t{31});
  ExpectRejected(bytes_, {"tensor 'blk.2.ffn_up.weight'", "past the end of the file"});
  // The last tensor moved so that it ends one aligned step past the end.
  bytes_ = original_;
  const TensorLayout& last = layout_.tensors.back();
  Poke<uint64_t>(bytes_, last.offset_at, (original_.size() - layout_.data_start + 31) / 32 * 32);
  ExpectRejected(bytes_, {"'" + last.name + "'", "past the end of the file"});
}

TEST_F(GgufCorruptionTest, RowNotWholeBlocks) {
  const TensorLayout& t = layout_.tensor("token_embd.weight");
  ASSERT_EQ(t.type, 2u);  // q4_0
  Poke<int64_t>(bytes_, t.ne_at, 48);
  ExpectRejected(bytes_, {"tensor 'token_embd.weight'", "ne[0] = 48",
                          "not a multiple of the q4_0 block size 32"});
}

TEST_F(GgufCorruptionTest, BadDimensions) {
  const TensorLayout& t = layout_.tensor("blk.0.ffn_gate.weight");
  Poke<uint32_t>(bytes_, t.n_dims_at, 5);
  ExpectRejected(bytes_, {"tensor 'blk.0.ffn_gate.weight'", "n_dims = 5"});
  bytes_ = original_;
  Poke<int64_t>(bytes_, t.ne_at + 8, -3);
  ExpectRejected(bytes_, {"tensor 'blk.0.ffn_gate.weight'", "dimension 1", At(t.ne_at + 8)});
  bytes_ = original_;
  Poke<int64_t>(bytes_, t.ne_at + 8, 0);
  ExpectRejected(bytes_, {"tensor 'blk.0.ffn_gate.weight'", "dimension 1"});
  bytes_ = original_;
  Poke<int64_t>(bytes_, t.ne_at + 8, int64_t{1} << 60);
  ExpectRejected(bytes_, {"tensor 'blk.0.ffn_gate.weight'"});
}

TEST_F(GgufCorruptionTest, DuplicateTensorName) {
  const TensorLayout& first = layout_.tensor("blk.0.attn_q.weight");
  const TensorLayout& second = layout_.tensor("blk.1.attn_q.weight");
  bytes_[second.at + 8 + 4] = '0';
  ExpectRejected(bytes_, {"tensor 'blk.0.attn_q.weight'", "duplicate tensor name", At(second.at),
                          At(first.at)});
}

// Random damage anywhere in the header must end in g4::Error or a valid file, never a crash.
TEST_F(GgufCorruptionTest, RandomHeaderDamageNeverCrashes) {
  std::mt19937_64 rng(99);
  int rejected = 0;
  for (int iter = 0; iter < 150; ++iter) {
    bytes_ = original_;
    const int n_flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < n_flips; ++f) {
      const uint64_t at = rng() % layout_.header_end;
      bytes_[at] = static_cast<uint8_t>(rng() >> 8 & 0xff);
    }
    TempFile file(bytes_);
    try {
      auto g = GgufFile::Open(file.path());
      for (const TensorView& t : g->tensors()) {
        ASSERT_LE(t.file_offset + t.nbytes, g->mapping()->size());
      }
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(file.path()), std::string::npos);
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST_F(GgufCorruptionTest, EveryHeaderPrefixIsRejected) {
  for (uint64_t size = 0; size < layout_.header_end; size += 37) {
    TempFile file(std::vector<uint8_t>(original_.begin(), original_.begin() + size));
    EXPECT_THROW(GgufFile::Open(file.path()), Error) << size;
  }
}

}  // namespace
}  // namespace g4
