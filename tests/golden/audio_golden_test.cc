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
#include "hf_checkpoint_util.h"
#include "io/gme.h"
#include "media/log_mel.h"
#include "model/gemma4_audio.h"
#include "model/gguf.h"
#include "model/mmproj.h"
#include "model/model.h"
#include "model/weights.h"

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

// ---- The same tower inside a Hugging Face checkpoint ----------------------------------------

// The HF name of an mmproj audio tensor, from the table of spec/gemma4-io.md §5.7. Entries are
// tried in order, so the longer GGUF names come before their prefixes (ffn_up_1 before ffn_up).
std::string HfAudioName(const std::string& gguf) {
  const std::string tower = "model.audio_tower.";
  const std::pair<const char*, std::string> globals[] = {
      {"a.conv1d.0.weight", tower + "subsample_conv_projection.layer0.conv.weight"},
      {"a.conv1d.1.weight", tower + "subsample_conv_projection.layer1.conv.weight"},
      {"a.conv1d.0.norm.weight", tower + "subsample_conv_projection.layer0.norm.weight"},
      {"a.conv1d.1.norm.weight", tower + "subsample_conv_projection.layer1.norm.weight"},
      {"a.input_projection.weight", tower + "subsample_conv_projection.input_proj_linear.weight"},
      {"a.pre_encode.out.weight", tower + "output_proj.weight"},
      {"a.pre_encode.out.bias", tower + "output_proj.bias"},
      {"mm.a.input_projection.weight", "model.embed_audio.embedding_projection.weight"}};
  for (const auto& [from, to] : globals) {
    if (gguf == from) return to;
  }
  // Names ending in ".weight" are whole; the others are clippable linears, whose weight sits in
  // a ".linear" submodule next to their bound scalars.
  const std::pair<const char*, const char*> parts[] = {
      {"ffn_norm_1.weight", "feed_forward2.pre_layer_norm.weight"}, {"ffn_up_1", "feed_forward2.ffw_layer_1"},
      {"ffn_down_1", "feed_forward2.ffw_layer_2"}, {"ffn_post_norm_1.weight", "feed_forward2.post_layer_norm.weight"},
      {"ffn_norm.weight", "feed_forward1.pre_layer_norm.weight"}, {"ffn_up", "feed_forward1.ffw_layer_1"},
      {"ffn_down", "feed_forward1.ffw_layer_2"}, {"ffn_post_norm.weight", "feed_forward1.post_layer_norm.weight"},
      {"attn_pre_norm.weight", "norm_pre_attn.weight"}, {"attn_k_rel.weight", "self_attn.relative_k_proj.weight"},
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
      {"attn_out", "self_attn.post"}, {"attn_post_norm.weight", "norm_post_attn.weight"},
      {"per_dim_scale.weight", "self_attn.per_dim_scale"}, {"conv_norm.weight", "lconv1d.pre_layer_norm.weight"},
      {"conv_pw1", "lconv1d.linear_start"}, {"conv_dw.weight", "lconv1d.depthwise_conv1d.weight"},
      {"norm_conv.weight", "lconv1d.conv_norm.weight"}, {"conv_pw2", "lconv1d.linear_end"},
      {"ln2.weight", "norm_out.weight"}};
  const size_t dot = gguf.find('.', 6);  // after "a.blk.N"
  const std::string layer = gguf.substr(6, dot - 6);
  const std::string rest = gguf.substr(dot + 1);
  for (const auto& [from, to] : parts) {
    const std::string f = from;
    if (rest.compare(0, f.size(), f) != 0) continue;
    std::string suffix = rest.substr(f.size());
    if (suffix == ".weight") suffix = ".linear.weight";
    return tower + "layers." + layer + "." + to + suffix;
  }
  ADD_FAILURE() << "no HF name for " << gguf;
  return gguf;
}

// A copy of tiny-e2b-hf with the tiny mmproj's audio tower added in HF names and layout:
// per_dim_scale stored raw (llama.cpp's converter stores softplus of it, spec §5.3), the
// depthwise filter as [d, 1, 5], clip bounds as 0-dim tensors.
std::string MakeHfCheckpointWithAudio() {
  std::unique_ptr<GgufFile> gguf = GgufFile::Open(kDir + "models/tiny.mmproj.f32.gguf");
  std::vector<HfTensor> tensors;
  for (const TensorView& t : gguf->tensors()) {
    if (t.name.rfind("a.", 0) != 0 && t.name.rfind("mm.a.", 0) != 0) continue;
    std::vector<float> values = TensorToFloats(t);
    std::vector<int64_t> shape(t.shape.rbegin(), t.shape.rend());  // PyTorch order
    if (t.name.find("per_dim_scale") != std::string::npos) {
      for (float& v : values) v = static_cast<float>(std::log(std::expm1(static_cast<double>(v))));
    }
    if (t.name.find("conv_dw") != std::string::npos) shape = {shape[0], 1, shape[1]};
    if (t.n_elements() == 1) shape.clear();
    tensors.push_back({HfAudioName(t.name), shape, std::move(values)});
  }
  return MakeTinyHfCheckpointWith(
      "g4_tiny_e2b_hf_audio", tensors, "audio_config",
      nlohmann::json::parse(std::ifstream(kDir + "models/tiny.mmproj.f32.gguf.config.json"))["audio_config"]);
}

TEST(AudioGolden, HuggingFaceCheckpointTowerMatchesNumpy) {
  const std::string dir = MakeHfCheckpointWithAudio();
  std::unique_ptr<Model> model = Model::Load(dir);
  std::unique_ptr<MultimodalTowers> towers = MultimodalTowers::FromModel(*model);
  ASSERT_NE(towers->audio(), nullptr);
  EXPECT_EQ(towers->vision(), nullptr);
  EXPECT_EQ(towers->audio()->config.n_layers, 2);
  towers->CheckTextWidth(model->config().d_model, dir);
  Gemma4AudioEncoder encoder(*towers->audio(), 2);
  for (const AudioCase& c : AudioCases()) {
    const std::vector<float> mel = ReadFloats(kDir + "preproc/" + c.name + ".mel.hf.f32");
    const AudioEmbeddings got = encoder.Encode(mel.data(), static_cast<int64_t>(mel.size()) / kMelBins);
    ExpectMeetsTargets(ReadGme(kDir + c.reference), got.data, "HF checkpoint " + c.name);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace g4
