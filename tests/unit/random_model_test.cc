// QuantizeRow (the ggml reference quantizers) and the g4-random-model tool: its tiny presets
// must reproduce the golden files' GGUF layout exactly (metadata keys and values, tensor names,
// types and shapes), deterministically.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "model/gguf.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// QuantizeRow

std::vector<float> RandomRow(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / 32; ++b) {
    // Blocks of very different magnitudes (scales stay normal f16 numbers), one all zero.
    const float scale = b == 3 ? 0.0f : std::pow(10.0f, static_cast<float>(b % 6) - 2.0f);
    for (int64_t j = 0; j < 32; ++j) v[static_cast<size_t>(b * 32 + j)] = scale * normal(rng);
  }
  return v;
}

float BlockAmax(const float* x) {
  float m = 0;
  for (int j = 0; j < 32; ++j) m = std::max(m, std::fabs(x[j]));
  return m;
}

TEST(QuantizeRowTest, Q8_0RoundTripWithinHalfAStep) {
  const int64_t n = 32 * 64;
  const std::vector<float> x = RandomRow(n, 1);
  std::vector<uint8_t> q(RowBytes(DType::kQ8_0, n));
  ASSERT_EQ(q.size(), static_cast<size_t>(n / 32 * 34));
  QuantizeRow(DType::kQ8_0, x.data(), q.data(), n);
  std::vector<float> y(static_cast<size_t>(n));
  DequantizeRow(DType::kQ8_0, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = BlockAmax(&x[b * 32]) / 127.0f;
    // Half a step, plus the f16 rounding of the scale times the largest level.
    const float bound = d * (0.5f + 127.0f / 2048.0f) + 1e-30f;
    for (int64_t j = 0; j < 32; ++j) {
      const size_t i = static_cast<size_t>(b * 32 + j);
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "block " << b << " element " << j;
    }
  }
}

TEST(QuantizeRowTest, Q4_0RoundTripWithinOneStep) {
  const int64_t n = 32 * 64;
  const std::vector<float> x = RandomRow(n, 2);
  std::vector<uint8_t> q(RowBytes(DType::kQ4_0, n));
  ASSERT_EQ(q.size(), static_cast<size_t>(n / 32 * 18));
  QuantizeRow(DType::kQ4_0, x.data(), q.data(), n);
  std::vector<float> y(static_cast<size_t>(n));
  DequantizeRow(DType::kQ4_0, q.data(), y.data(), n);
  double sum_err = 0, sum_step = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = BlockAmax(&x[b * 32]) / 8.0f;
    // Half a step, except near -max where level 16 is clamped to 15: one full step there.
    const float bound = d * (1.0f + 8.0f / 2048.0f) + 1e-30f;
    for (int64_t j = 0; j < 32; ++j) {
      const size_t i = static_cast<size_t>(b * 32 + j);
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "block " << b << " element " << j;
      sum_err += std::fabs(x[i] - y[i]);
      sum_step += d;
    }
  }
  EXPECT_LT(sum_err / sum_step, 0.3);  // uniform rounding error averages a quarter step
}

TEST(QuantizeRowTest, Q4_0BlockLayout) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // largest magnitude: -16
  uint8_t q[18];
  QuantizeRow(DType::kQ4_0, x, q, 32);
  uint16_t d;
  std::memcpy(&d, q, 2);
  EXPECT_EQ(HalfToFloat(d), 2.0f);  // max / -8
  // Element j in the low nibble of byte j, element 16 + j in the high nibble.
  EXPECT_EQ(q[2], (0 | (8 << 4)));  // x[0] = -16 -> 0, x[16] = 0 -> 8
  // x[15] = -1 -> -0.5 + 8.5 = 8; x[31] = 15 -> 16, clamped to 15.
  EXPECT_EQ(q[2 + 15], (8 | (15 << 4)));
}

TEST(QuantizeRowTest, ZeroBlocks) {
  const float x[32] = {};
  uint8_t q4[18];
  uint8_t q8[34];
  QuantizeRow(DType::kQ4_0, x, q4, 32);
  QuantizeRow(DType::kQ8_0, x, q8, 32);
  uint16_t d;
  std::memcpy(&d, q4, 2);
  EXPECT_EQ(HalfToFloat(d), 0.0f);  // -0 in fact: ggml computes 0 / -8
  for (int j = 2; j < 18; ++j) EXPECT_EQ(q4[j], 0x88);
  for (int j = 0; j < 34; ++j) EXPECT_EQ(q8[j], 0);
}

TEST(QuantizeRowTest, FloatTypesRoundTrip) {
  const float x[4] = {1.0f, -2.5f, 0.0f, 65504.0f};
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> q(RowBytes(t, 4));
    QuantizeRow(t, x, q.data(), 4);
    float y[4];
    DequantizeRow(t, q.data(), y, 4);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], x[i]) << DTypeName(t);
  }
}

// The golden q8_0/q4_0/bf16 files hold the golden f32 weights converted by llama.cpp's
// quantizers (F16 for rows that don't fill blocks): QuantizeRow must give the same bytes.
TEST(QuantizeRowTest, MatchesGoldenFilesByteForByte) {
  const std::string dir = std::string(G4_TEST_DATA_DIR) + "/models/";
  auto f32 = GgufFile::Open(dir + "tiny-all.f32.gguf");
  for (const char* type : {"q8_0", "q4_0", "bf16"}) {
    auto g = GgufFile::Open(dir + "tiny-all." + type + ".gguf");
    for (const TensorView& t : g->tensors()) {
      SCOPED_TRACE(std::string(type) + " " + t.name);
      const TensorView* src = f32->FindTensor(t.name);
      ASSERT_NE(src, nullptr);
      ASSERT_EQ(src->n_elements(), t.n_elements());
      std::vector<uint8_t> out(t.nbytes);
      const int64_t n = t.shape[0];
      for (int64_t r = 0; r < t.n_rows(); ++r) {
        QuantizeRow(t.type, reinterpret_cast<const float*>(src->data) + r * n,
                    out.data() + static_cast<size_t>(r) * t.row_bytes(), n);
      }
      ASSERT_EQ(std::memcmp(out.data(), t.data, t.nbytes), 0);
    }
  }
}

TEST(QuantizeRowTest, RejectsUnsupportedInput) {
  float x[64] = {};
  uint8_t out[256];
  EXPECT_THROW(QuantizeRow(DType::kQ4_0, x, out, 48), Error);
  EXPECT_THROW(QuantizeRow(DType::kQ4_1, x, out, 32), Error);
}

// ---------------------------------------------------------------------------------------------
// g4-random-model

const std::string kTool = G4_RANDOM_MODEL_BINARY;
const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models/";

class RandomModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("g4_random_model_") + info->name() + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs the tool; its stdout and stderr go to `log_`.
  int Run(const std::string& args) {
    log_ = Path("log.txt");
    const std::string cmd = "'" + kTool + "' " + args + " > '" + log_ + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  fs::path dir_;
  std::string log_;
};

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Empty when equal, else what differs.
std::string Diff(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return Concat("type ", GgufTypeName(a.type), " vs ", GgufTypeName(b.type));
  if (a.is_array()) {
    if (a.elem_type != b.elem_type) {
      return Concat("element type ", GgufTypeName(a.elem_type), " vs ", GgufTypeName(b.elem_type));
    }
    if (a.array.size() != b.array.size())
      return Concat("length ", a.array.size(), " vs ", b.array.size());
    for (size_t i = 0; i < a.array.size(); ++i) {
      const std::string d = Diff(a.array[i], b.array[i]);
      if (!d.empty()) return Concat("[", i, "]: ", d);
    }
    return "";
  }
  if (a.u64 != b.u64 || a.i64 != b.i64 || a.boolean != b.boolean || a.str != b.str ||
      !(a.f64 == b.f64 || (std::isnan(a.f64) && std::isnan(b.f64)))) {
    return Concat("value '", a.str, "' ", a.u64, " ", a.i64, " ", a.f64, " vs '", b.str, "' ",
                  b.u64, " ", b.i64, " ", b.f64);
  }
  return "";
}

void ExpectSameLayout(const std::string& got_path, const std::string& want_path) {
  auto got = GgufFile::Open(got_path);
  auto want = GgufFile::Open(want_path);
  auto keys = [](const GgufFile& g) {
    std::vector<std::string> k;
    for (const std::string& key : g.metadata_order()) {
      if (key != "general.name" && key != "general.description") k.push_back(key);
    }
    return k;
  };
  const std::vector<std::string> got_keys = keys(*got);
  ASSERT_EQ(got_keys, keys(*want));
  for (const std::string& key : got_keys) {
    EXPECT_EQ(Diff(*got->Find(key), *want->Find(key)), "") << key;
  }
  ASSERT_EQ(got->tensors().size(), want->tensors().size());
  for (size_t i = 0; i < got->tensors().size(); ++i) {
    const TensorView& g = got->tensors()[i];
    const TensorView& w = want->tensors()[i];
    EXPECT_EQ(g.name, w.name) << "tensor " << i;
    EXPECT_EQ(g.type, w.type) << w.name;
    EXPECT_EQ(g.shape, w.shape) << w.name;
  }
}

TEST_F(RandomModelTest, TinyAllQ4_0MatchesGoldenLayout) {
  const std::string out = Path("tiny-all.q4_0.gguf");
  ASSERT_EQ(Run("--preset tiny-all --type q4_0 --seed 1 -o '" + out + "'"), 0) << Log();
  ExpectSameLayout(out, kModels + "tiny-all.q4_0.gguf");
  EXPECT_NE(Log().find("parameters: 904,002"), std::string::npos) << Log();
}

TEST_F(RandomModelTest, TinyE2bF32MatchesGoldenLayout) {
  const std::string out = Path("tiny-e2b.f32.gguf");
  ASSERT_EQ(Run("--preset tiny-e2b --type f32 -o '" + out + "'"), 0) << Log();
  ExpectSameLayout(out, kModels + "tiny-e2b.f32.gguf");
}

TEST_F(RandomModelTest, GoldenConfigFileGivesTheSameLayout) {
  const std::string out = Path("tiny-moe.q8_0.gguf");
  ASSERT_EQ(Run("--config '" + kModels + "tiny-moe.q8_0.config.json' --type q8_0 -o '" + out + "'"),
            0)
      << Log();
  ExpectSameLayout(out, kModels + "tiny-moe.q8_0.gguf");
}

// --mmproj writes the vision/audio towers as llama.cpp's converter lays out an mmproj file; from
// a golden config it must reproduce the golden towers' keys, tensor names, types and shapes.
TEST_F(RandomModelTest, MmprojFromGoldenConfigsMatchesGoldenLayout) {
  const std::string dir = std::string(G4_TEST_DATA_DIR) + "/multimodal/models/";
  for (const std::string name : {"tiny", "tiny-large-vision"}) {
    const std::string out = Path(name + ".mmproj.gguf");
    const std::string golden = dir + name + ".mmproj.f32.gguf";
    ASSERT_EQ(Run("--mmproj --config '" + golden + ".config.json' --type f32 -o '" + out + "'"), 0) << Log();
    ExpectSameLayout(out, golden);
  }
}

TEST_F(RandomModelTest, MmprojNeedsAPresetWithTowers) {
  const std::string out = Path("none.gguf");
  EXPECT_NE(Run("--mmproj --preset tiny-e2b -o '" + out + "'"), 0);
  EXPECT_NE(Log().find("has no multimodal towers"), std::string::npos) << Log();
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(RandomModelTest, OutputDependsOnSeedButNotThreads) {
  ASSERT_EQ(Run("-p tiny-dense -t q8_0 -s 7 -j 1 -q -o '" + Path("a.gguf") + "'"), 0) << Log();
  ASSERT_EQ(Run("-p tiny-dense -t q8_0 -s 7 -j 3 -q -o '" + Path("b.gguf") + "'"), 0) << Log();
  ASSERT_EQ(Run("-p tiny-dense -t q8_0 -s 8 -j 3 -q -o '" + Path("c.gguf") + "'"), 0) << Log();
  const std::vector<uint8_t> a = ReadAll(Path("a.gguf"));
  EXPECT_GT(a.size(), 100000u);
  EXPECT_TRUE(a == ReadAll(Path("b.gguf")));
  // Same size (the description names the seed in one digit), different weights.
  const std::vector<uint8_t> c = ReadAll(Path("c.gguf"));
  ASSERT_EQ(a.size(), c.size());
  EXPECT_FALSE(a == c);
}

TEST_F(RandomModelTest, WeightsHaveTheIntendedScales) {
  const std::string out = Path("tiny-all.f32.gguf");
  ASSERT_EQ(Run("-p tiny-all -t f32 -q -o '" + out + "'"), 0) << Log();
  auto g = GgufFile::Open(out);
  for (const TensorView& t : g->tensors()) {
    SCOPED_TRACE(t.name);
    ASSERT_EQ(t.type, DType::kF32);
    const auto* v = reinterpret_cast<const float*>(t.data);
    const int64_t n = t.n_elements();
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(v[i])) << i;
      sum += v[i];
      sum2 += static_cast<double>(v[i]) * v[i];
    }
    const double mean = sum / static_cast<double>(n);
    const double std_dev = std::sqrt(std::max(0.0, sum2 / static_cast<double>(n) - mean * mean));
    const std::string& name = t.name;
    auto ends_with = [&name](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (name == "rope_freqs.weight") {
      ASSERT_EQ(n, 32);  // global head dim 64 / 2; a quarter of it rotates
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(v[i], i < 8 ? 1.0f : 1e30f) << i;
    } else if (ends_with("layer_output_scale.weight")) {
      EXPECT_GE(v[0], 0.5f);
      EXPECT_LE(v[0], 1.0f);
    } else if (ends_with("attn_q_norm.weight") || ends_with("attn_k_norm.weight")) {
      EXPECT_NEAR(mean, std::pow(static_cast<double>(n), -0.25), 0.05);
    } else if (ends_with("ffn_down_exps.scale")) {
      for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(v[i] >= 0.5f && v[i] <= 1.5f) << v[i];
    } else if (t.shape.size() == 1) {
      EXPECT_NEAR(mean, 1.0, 0.06);  // norms and router scale
      EXPECT_NEAR(std_dev, 0.1, 0.05);
    } else {
      double want = 1.0 / std::sqrt(static_cast<double>(t.shape[0]));
      if (name == "token_embd.weight") want *= 2.0;
      if (ends_with("ffn_gate_inp.weight")) want = 1.0;
      if (name == "per_layer_token_embd.weight") want = 1.0 / std::sqrt(16.0);
      EXPECT_NEAR(mean, 0.0, 0.2 * want);
      EXPECT_NEAR(std_dev, want, 0.1 * want);
    }
  }
}

TEST_F(RandomModelTest, SharedKvTensorsOption) {
  const std::string out = Path("e.gguf");
  ASSERT_EQ(Run("-p tiny-e2b -t q8_0 --shared-kv-tensors -q -o '" + out + "'"), 0) << Log();
  auto g = GgufFile::Open(out);
  EXPECT_EQ(g->tensors().size(), 161u + 5 * 3);  // KV-shared layers 5-9 also get k, v, k_norm
  const TensorView* k = g->FindTensor("blk.9.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{128, 64}));
  EXPECT_NE(g->FindTensor("blk.9.attn_v.weight"), nullptr);
}

TEST_F(RandomModelTest, ListsPresets) {
  ASSERT_EQ(Run("--list"), 0) << Log();
  for (const char* p : {"e2b", "e4b", "26b-a4b", "31b", "tiny-dense", "tiny-moe", "tiny-e2b",
                        "tiny-e4b", "tiny-all"}) {
    EXPECT_NE(Log().find(std::string("\n") + p + " "), std::string::npos) << p << "\n" << Log();
  }
  // The published variants' parameter counts (spec §1.2 sanity check, without the unused
  // K/V of KV-shared layers).
  EXPECT_NE(Log().find("30,697,345,340"), std::string::npos) << Log();
}

TEST_F(RandomModelTest, BadArgumentsFailWithoutOutput) {
  const std::string out = Path("x.gguf");
  EXPECT_NE(Run("--preset nope -o '" + out + "'"), 0);
  EXPECT_NE(Log().find("unknown preset"), std::string::npos) << Log();
  EXPECT_NE(Run("--preset tiny-all --type q4_1 -o '" + out + "'"), 0);
  EXPECT_NE(Run("--preset tiny-all -o '" + Path("missing/dir/x.gguf") + "'"), 0);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

}  // namespace
}  // namespace g4
