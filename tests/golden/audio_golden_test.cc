// Golden audio: g4's log-mel front end and audio encoder against the float64 NumPy reference
// with Hugging Face's log-mel (`numpy-hfmel`), on every audio case of
// tests/data/multimodal/manifest.json (copied from shared/golden/multimodal). Targets, from
// that README: log-mel from *.pcm.f32 within max |Δ| 1e-2 and mean |Δ| 1e-4 of *.mel.hf.f32;
// embeddings relative L2 <= 2e-3 and every per-token cosine >= 0.9999.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "embedding_compare.h"
#include "io/gme.h"
#include "media/log_mel.h"
#include "model/gemma4_audio.h"
#include "model/mmproj.h"

namespace g4 {
namespace {

const std::string kDir = std::string(G4_TEST_DATA_DIR) + "/multimodal/";

struct AudioCase {
  std::string name;   // "aud_sweep_1s_16k_mono"
  std::string mmproj;
  std::string reference;  // embd/NAME.tiny.numpy-hfmel.gme
  int n_tokens = 0;
};

void PrintTo(const AudioCase& c, std::ostream* os) { *os << c.name; }

std::vector<AudioCase> AudioCases() {
  std::ifstream in(kDir + "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  std::vector<AudioCase> cases;
  for (const nlohmann::json& e : manifest.at("entries")) {
    if (e.at("kind") != "audio") continue;
    AudioCase c;
    c.name = std::filesystem::path(e.at("input").get<std::string>()).stem().string();
    c.mmproj = e.at("mmproj");
    c.reference = e.at("embd").at("numpy-hfmel");
    c.n_tokens = e.at("n_tokens");
    cases.push_back(c);
  }
  return cases;
}

std::string TestName(const ::testing::TestParamInfo<AudioCase>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (ch == '.') ch = '_';
  }
  return name;
}

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<float> values(bytes.size() / 4);
  std::memcpy(values.data(), bytes.data(), values.size() * 4);
  return values;
}

class AudioGolden : public ::testing::TestWithParam<AudioCase> {};

TEST_P(AudioGolden, LogMelMatchesHuggingFace) {
  const AudioCase& c = GetParam();
  const std::vector<float> pcm = ReadFloats(kDir + "preproc/" + c.name + ".pcm.f32");
  const std::vector<float> ref = ReadFloats(kDir + "preproc/" + c.name + ".mel.hf.f32");
  const std::vector<float> got = LogMel(pcm.data(), static_cast<int64_t>(pcm.size()));
  ASSERT_EQ(got.size(), ref.size());
  double max_diff = 0, total = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - ref[i]);
    max_diff = std::max(max_diff, diff);
    total += diff;
  }
  const double mean = total / static_cast<double>(ref.size());
  std::printf("[ log-mel  ] %-32s frames=%zu max_abs=%.3e mean_abs=%.3e\n", c.name.c_str(), ref.size() / kMelBins,
              max_diff, mean);
  EXPECT_LE(max_diff, 1e-2);
  EXPECT_LE(mean, 1e-4);
}

TEST_P(AudioGolden, EmbeddingsFromHfMelMatchNumpy) {
  const AudioCase& c = GetParam();
  const EmbeddingsFile ref = ReadGme(kDir + c.reference);
  ASSERT_EQ(ref.n_tokens, c.n_tokens);
  std::unique_ptr<MultimodalTowers> towers = MultimodalTowers::LoadMmproj(kDir + c.mmproj);
  ASSERT_NE(towers->audio(), nullptr);
  Gemma4AudioEncoder encoder(*towers->audio(), 2);
  const std::vector<float> mel = ReadFloats(kDir + "preproc/" + c.name + ".mel.hf.f32");
  const AudioEmbeddings got = encoder.Encode(mel.data(), static_cast<int64_t>(mel.size()) / kMelBins);
  EXPECT_EQ(got.n_tokens, ref.n_tokens);
  ExpectMeetsTargets(ref, got.data, c.name + " (mel)");
}

TEST_P(AudioGolden, EmbeddingsFromPcmMatchNumpy) {
  const AudioCase& c = GetParam();
  const EmbeddingsFile ref = ReadGme(kDir + c.reference);
  std::unique_ptr<MultimodalTowers> towers = MultimodalTowers::LoadMmproj(kDir + c.mmproj);
  Gemma4AudioEncoder encoder(*towers->audio(), 2);
  const std::vector<float> pcm = ReadFloats(kDir + "preproc/" + c.name + ".pcm.f32");
  EXPECT_EQ(ref.src_a, static_cast<int32_t>(pcm.size()));
  const AudioEmbeddings got = encoder.EncodePcm(pcm.data(), static_cast<int64_t>(pcm.size()));
  ExpectMeetsTargets(ref, got.data, c.name + " (pcm)");
}

INSTANTIATE_TEST_SUITE_P(Manifest, AudioGolden, ::testing::ValuesIn(AudioCases()), TestName);

TEST(AudioGolden, EveryCaseIsCovered) { EXPECT_EQ(AudioCases().size(), 4u); }

// Longer than 30 s: independent 30 s chunks whose tokens are concatenated.
TEST(AudioGolden, LongClipsAreEncodedIn30SecondChunks) {
  std::unique_ptr<MultimodalTowers> towers = MultimodalTowers::LoadMmproj(kDir + "models/tiny.mmproj.f32.gguf");
  Gemma4AudioEncoder encoder(*towers->audio(), 2);
  const std::vector<float> pcm = ReadFloats(kDir + "preproc/aud_noise_1s_16k_mono.pcm.f32");
  std::vector<float> long_clip;
  while (long_clip.size() < static_cast<size_t>(Gemma4AudioEncoder::kChunkSamples) + pcm.size()) {
    long_clip.insert(long_clip.end(), pcm.begin(), pcm.end());
  }
  long_clip.resize(Gemma4AudioEncoder::kChunkSamples + 16000);
  const AudioEmbeddings whole = encoder.EncodePcm(long_clip.data(), static_cast<int64_t>(long_clip.size()));
  const AudioEmbeddings first = encoder.EncodePcm(long_clip.data(), Gemma4AudioEncoder::kChunkSamples);
  const AudioEmbeddings second = encoder.EncodePcm(long_clip.data() + Gemma4AudioEncoder::kChunkSamples, 16000);
  EXPECT_EQ(first.n_tokens, 750);
  EXPECT_EQ(second.n_tokens, 25);
  ASSERT_EQ(whole.n_tokens, first.n_tokens + second.n_tokens);
  std::vector<float> joined = first.data;
  joined.insert(joined.end(), second.data.begin(), second.data.end());
  EXPECT_EQ(whole.data, joined);
}

}  // namespace
}  // namespace g4
