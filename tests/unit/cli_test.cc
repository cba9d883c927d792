// The g4 command line: `g4 info` and `g4 logits` on every golden model, and their errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/glg.h"
#include "unit/cli_test_util.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;
const std::string kData = G4_TEST_DATA_DIR;

TEST(Cli, InfoDescribesEveryGoldenModel) {
  for (const char* preset : {"tiny-dense", "tiny-moe", "tiny-e2b", "tiny-e4b", "tiny-all"}) {
    for (const char* type : {".f32.gguf", ".q8_0.gguf", ".q4_0.gguf", "-hf"}) {
      const std::string path = kData + "/models/" + preset + type;
      CliRun r = RunG4("info -m " + path);
      EXPECT_EQ(r.exit_code, 0) << path << "\n" << r.output;
      EXPECT_NE(r.output.find("architecture:   gemma4"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("layer pattern:"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("memory at context"), std::string::npos) << r.output;
    }
  }
}

TEST(Cli, InfoJsonCountsParametersAndMemory) {
  CliRun r = RunG4("info --json -c 100 -m " + kData + "/models/tiny-e2b.q4_0.gguf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["n_layers"], 10);
  EXPECT_EQ(j["layer_pattern"], "SSSSFSSSSF");
  EXPECT_EQ(j["first_kv_shared_layer"], 5);
  // KV cache at context 100, float16 (the default): owning layers 0-4 only; sliding ones hold
  // their window (16). tiny-e2b: 1 KV head, head dims 32 (sliding) / 64 (full).
  const int64_t expected_kv = 2 * 2 * (4 * 16 * 32 + 1 * 100 * 64);
  EXPECT_EQ(j["memory"]["kv_cache_bytes"], expected_kv);
  int64_t elements = 0;
  for (auto& [type, tc] : j["tensor_types"].items()) elements += tc["elements"].get<int64_t>();
  EXPECT_EQ(j["parameters"], elements);
}

TEST(Cli, LogitsWritesAllPositions) {
  const std::string out = TempPath("logits.glg");
  CliRun r = RunG4("logits -m " + kData + "/models/tiny-moe-hf --tokens 2,17,300,4 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  LogitsFile f = ReadGlg(out);
  EXPECT_EQ(f.tokens, (std::vector<int32_t>{2, 17, 300, 4}));
  EXPECT_EQ(f.n_vocab, 512);
  EXPECT_EQ(f.logits.size(), 4u * 512u);
  // --incremental agrees with the batch.
  const std::string out2 = TempPath("logits2.glg");
  r = RunG4("logits --incremental -t 1 -m " + kData + "/models/tiny-moe-hf --tokens 2,17,300,4 -o " + out2);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  LogitsFile g = ReadGlg(out2);
  ASSERT_EQ(g.logits.size(), f.logits.size());
  for (size_t i = 0; i < f.logits.size(); ++i) ASSERT_NEAR(f.logits[i], g.logits[i], 1e-4) << i;
  fs::remove(out);
  fs::remove(out2);
}

TEST(Cli, LogitsErrorsAreClearAndLeaveNoFile) {
  const std::string out = TempPath("bad.glg");
  CliRun r = RunG4("logits -m " + kData + "/models/tiny-dense.q8_0.gguf --tokens 2,x,5 -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("item 1 ('x')"), std::string::npos) << r.output;
  r = RunG4("logits -m " + kData + "/models/tiny-dense.q8_0.gguf --tokens 2,99999 -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("token id 99999"), std::string::npos) << r.output;
  r = RunG4("logits -m /nonexistent/model.gguf --tokens 2 -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

// g4 bench --mmproj times the encoders on inputs whose sizes the spec fixes: a 4:3 picture at the
// 70 budget becomes 432x336 and 63 soft tokens (§4.2 table), 1 s of audio 25 tokens (§5.5).
TEST(Cli, BenchTimesTheEncoders) {
  const std::string model = kData + "/models/tiny-e2b.f32.gguf";
  const std::string mmproj = kData + "/multimodal/models/tiny.mmproj.f32.gguf";
  const CliRun run = RunG4("bench -m " + model + " --mmproj " + mmproj +
                           " -p 0 -n 0 -r 1 -t 2 --image-tokens 70 --audio-seconds 1 --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json j = nlohmann::json::parse(run.output.substr(run.output.find('{')));
  ASSERT_EQ(j["encoders"].size(), 2u) << run.output;
  EXPECT_EQ(j["encoders"][0]["test"], "image 70");
  EXPECT_EQ(j["encoders"][0]["detail"], "432x336 -> 63 tokens");
  EXPECT_GT(j["encoders"][0]["median"].get<double>(), 0.0);
  EXPECT_EQ(j["encoders"][1]["unit"], "RTF");
  EXPECT_EQ(j["encoders"][1]["detail"], "log-mel + encoder, 25 tokens");

  const CliRun nothing = RunG4("bench -m " + model + " --mmproj " + mmproj + " -p 0 -n 0 --image-tokens 0 --audio-seconds 0");
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.output.find("nothing to time"), std::string::npos) << nothing.output;
  EXPECT_NE(RunG4("bench -m " + model + " --mmproj " + mmproj + " -p 0 -n 0 --audio-seconds 601").exit_code, 0);
}

TEST(Cli, UnknownCommandFails) {
  CliRun r = RunG4("frobnicate");
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace g4
