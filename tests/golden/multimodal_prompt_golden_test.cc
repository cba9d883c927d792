// Prompts with soft tokens: image and audio embeddings (the NumPy reference encoder's output)
// placed between the begin/end markers of a text prompt on the tiny E2B model, against the
// float64 NumPy logits of shared/golden/multimodal (copied to tests/data/multimodal). Targets
// from the issue: max |Δlogit| <= 5e-2 and mean KL(numpy || g4) <= 1e-5 over every position.
// The prompt (golden README, "Decoder prompt and logits"):
//   BOS(2), 17, 300, 45, 9, 128, BOI, <n soft tokens>, EOI, 60, 250, 71, 33, 402, 8, 90, 301
// with stand-in markers 510/511 (image) and 508/509 (audio) in the tiny vocabulary. The prompt
// is built by the request path's expansion (api/media_prompt.h) from one placeholder id, and
// evaluated from its soft tokens in prefill pieces as the generator cuts them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "api/media_prompt.h"
#include "engine/soft_tokens.h"
#include "io/glg.h"
#include "io/gme.h"
#include "logit_compare.h"
#include "model/gemma4_text.h"
#include "model/model.h"

namespace g4 {
namespace {

const std::string kData = std::string(G4_TEST_DATA_DIR) + "/multimodal/";

struct Case {
  const char* input;
  const char* reference;  // numpy (images) or numpy-hfmel (audio: the Hugging Face log-mel)
  bool audio;
};

class MultimodalPromptTest : public ::testing::TestWithParam<Case> {};

TEST_P(MultimodalPromptTest, LogitsMatchTheNumpyReference) {
  const Case& c = GetParam();
  const EmbeddingsFile embd = ReadGme(kData + "embd/" + c.input + ".tiny." + c.reference + ".gme");
  const LogitsFile ref = ReadGlg(kData + "logits/" + c.input + ".tiny." + c.reference + ".glg");
  std::unique_ptr<Model> model = Model::Load(std::string(G4_TEST_DATA_DIR) + "/models/tiny-e2b.f32.gguf");
  ASSERT_EQ(embd.n_embd, model->config().d_model);

  // The tiny vocabulary's stand-ins; 500 plays the template's placeholder.
  MediaTokenIds marks;
  marks.image_placeholder = marks.audio_placeholder = 500;
  marks.image_begin = 510;
  marks.image_end = 511;
  marks.audio_begin = 508;
  marks.audio_end = 509;
  EncodedMedia media;
  media.type = c.audio ? ContentPartType::kAudio : ContentPartType::kImage;
  media.blocks.push_back({{}, !c.audio, embd.n_tokens, embd.embd});
  const std::vector<int32_t> rendered = {2, 17, 300, 45, 9, 128, 500, 60, 250, 71, 33, 402, 8, 90, 301};
  std::vector<int32_t> tokens;
  SoftTokens soft;
  ExpandMediaPlaceholders(rendered, {std::make_shared<const EncodedMedia>(std::move(media))}, marks,
                          model->config().d_model, &tokens, &soft);
  ASSERT_EQ(tokens, ref.tokens) << "the prompt is not the one the reference was computed for";
  ASSERT_EQ(soft.rows, embd.embd);

  // Prefill pieces of 5 tokens (a run is never cut), all positions' logits kept.
  KvCache cache(model->config(), static_cast<int>(tokens.size()), DType::kF32);
  Gemma4Decoder decoder(*model, 2);
  const SoftLayout layout(tokens, &soft);
  std::vector<float> logits, piece;
  for (int64_t i = 0; i < static_cast<int64_t>(tokens.size());) {
    const int64_t end = layout.PieceEnd(i, std::min<int64_t>(i + 5, tokens.size()));
    const SequenceStep step{&cache, tokens.data() + i, end - i, &piece, true, layout.RowsFrom(i),
                            layout.BidirectionalFrom(i)};
    decoder.Forward(std::span<const SequenceStep>(&step, 1));
    logits.insert(logits.end(), piece.begin(), piece.end());
    i = end;
  }

  ASSERT_EQ(logits.size(), ref.logits.size());
  double max_diff = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(ref.logits[i]) - logits[i]));
  }
  const double kl = MeanKl(ref.logits.data(), logits.data(), tokens.size(), ref.n_vocab);
  EXPECT_LE(max_diff, 5e-2) << c.input;
  EXPECT_LE(kl, 1e-5) << c.input;
  RecordProperty("max_abs_diff", std::to_string(max_diff));
  RecordProperty("mean_kl", std::to_string(kl));
}

TEST(MultimodalPromptTest, SoftTokenWithoutEmbeddingsIsAnError) {
  std::unique_ptr<Model> model = Model::Load(std::string(G4_TEST_DATA_DIR) + "/models/tiny-e2b.f32.gguf");
  KvCache cache(model->config(), 16, DType::kF32);
  Gemma4Decoder decoder(*model, 1);
  const int32_t tokens[] = {2, kSoftToken, 5};
  const SequenceStep step{&cache, tokens, 3, nullptr, false, nullptr};
  try {
    decoder.Forward(std::span<const SequenceStep>(&step, 1));
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("soft token without embeddings"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, MultimodalPromptTest,
                         ::testing::Values(Case{"img_64x64", "numpy", false}, Case{"img_300x200", "numpy", false},
                                           Case{"img_517x1023", "numpy", false}, Case{"img_768x768", "numpy", false},
                                           Case{"aud_noise_1s_16k_mono", "numpy-hfmel", true},
                                           Case{"aud_sweep_1s_16k_mono", "numpy-hfmel", true},
                                           Case{"aud_sweepnoise_3.7s_16k_mono", "numpy-hfmel", true},
                                           Case{"aud_sweepnoise_3.7s_44k1_stereo", "numpy-hfmel", true}),
                         [](const auto& info) {
                           std::string name = info.param.input;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace g4
